/**
 * Reverse-mode differentiation on a GraphBuilder: the backward ops are appended to the same graph, so a
 * single session.run computes the forward pass and every requested vector-Jacobian product.
 */
import type { GradInfo, GraphBuilder, Node, Tensor } from './graph.ts';

/** Sums `dy` over the axes along which `x` was broadcast, so the result has x's shape. */
export function sumToShape(g: GraphBuilder, dy: Tensor, x: Tensor): Tensor {
  let out = dy;
  const lead = dy.rank - x.rank;
  if (lead > 0) out = g.reduceSum(out, [...Array(lead).keys()], false);
  const axes = x.shape.flatMap((d, i) => (d === 1 && out.shape[i] !== 1 ? [i] : []));
  if (axes.length) out = g.reduceSum(out, axes, true);
  return out;
}

function elementCount(g: GraphBuilder, x: Tensor, axes: readonly number[]): Tensor | number {
  let n = 1;
  let sym: Tensor | undefined;
  for (const a of axes) {
    const d = x.shape[a];
    if (typeof d === 'number') n *= d;
    else {
      const s = g.cast(g.dimSize(d), 'float32');
      sym = sym ? g.mul(sym, s) : s;
    }
  }
  return sym ? g.mul(sym, n) : n;
}

type Rule = (g: GraphBuilder, node: Node, dy: Tensor, i: number) => Tensor;

const at = (n: Node, i: number) => n.inputs[i];
/** The builder's gradient info of kind K; nodes made with g.node() directly lack it, and get no silent wrong gradient. */
function info<K extends GradInfo['kind']>(n: Node, kind: K): Extract<GradInfo, { kind: K }> {
  const v = n.gradInfo;
  if (v?.kind !== kind)
    throw new Error(`no gradient for a ${n.op} node built without GraphBuilder.${n.op.toLowerCase()}()`);
  return v as Extract<GradInfo, { kind: K }>;
}
const out = (n: Node) => n.outputs[0];

const RULES: Record<string, Rule> = {
  Add: (g, n, dy, i) => sumToShape(g, dy, at(n, i)),
  Sub: (g, n, dy, i) => sumToShape(g, i === 0 ? dy : g.neg(dy), at(n, i)),
  Mul: (g, n, dy, i) => sumToShape(g, g.mul(dy, at(n, 1 - i)), at(n, i)),
  Div: (g, n, dy, i) =>
    i === 0
      ? sumToShape(g, g.div(dy, at(n, 1)), at(n, 0))
      : sumToShape(g, g.neg(g.div(g.mul(dy, out(n)), at(n, 1))), at(n, 1)),
  Pow: (g, n, dy) => {
    const { p } = info(n, 'pow');
    const x = at(n, 0);
    return g.mul(dy, g.mul(p === 2 ? x : g.pow(x, p - 1), p));
  },
  Neg: (g, _n, dy) => g.neg(dy),
  Exp: (g, n, dy) => g.mul(dy, out(n)),
  Log: (g, n, dy) => g.div(dy, at(n, 0)),
  Sqrt: (g, n, dy) => g.div(g.mul(dy, 0.5), out(n)),
  Tanh: (g, n, dy) => g.mul(dy, g.sub(1, g.mul(out(n), out(n)))),
  Erf: (g, n, dy) => {
    const x = at(n, 0);
    return g.mul(dy, g.mul(g.exp(g.neg(g.mul(x, x))), 2 / Math.sqrt(Math.PI)));
  },
  Sigmoid: (g, n, dy) => g.mul(dy, g.mul(out(n), g.sub(1, out(n)))),
  Relu: (g, n, dy) => g.where(g.greater(at(n, 0), g.scalar(0)), dy, 0),
  Sin: (g, n, dy) => g.mul(dy, g.cos(at(n, 0))),
  Cos: (g, n, dy) => g.neg(g.mul(dy, g.sin(at(n, 0)))),
  Max: (g, n, dy, i) => {
    const pick = g.greaterOrEqual(at(n, 0), at(n, 1));
    return sumToShape(g, i === 0 ? g.where(pick, dy, 0) : g.where(pick, 0, dy), at(n, i));
  },
  Min: (g, n, dy, i) => {
    const pick = g.greaterOrEqual(at(n, 1), at(n, 0));
    return sumToShape(g, i === 0 ? g.where(pick, dy, 0) : g.where(pick, 0, dy), at(n, i));
  },
  Identity: (_g, _n, dy) => dy,
  Cast: (_g, _n, dy) => dy,
  Where: (g, n, dy, i) =>
    sumToShape(g, i === 1 ? g.where(at(n, 0), dy, 0) : g.where(at(n, 0), 0, dy), at(n, i)),
  MatMul: (g, n, dy, i) => {
    const a = at(n, 0);
    const b = at(n, 1);
    if (i === 0) return sumToShape(g, g.matmul(dy, g.mT(b)), a);
    if (b.rank === 2 && a.rank > 2) {
      // A weight applied to a batch of rows: one [K, rows] @ [rows, N] product instead of a batched one.
      const a2 = g.reshape(a, [-1, a.shape[a.rank - 1]]);
      const dy2 = g.reshape(dy, [-1, dy.shape[dy.rank - 1]]);
      return g.matmul(g.mT(a2), dy2);
    }
    return sumToShape(g, g.matmul(g.mT(a), dy), b);
  },
  Transpose: (g, n, dy) => {
    const perm = n.attrs.perm as number[];
    const inv = perm.map((_, j) => perm.indexOf(j));
    return g.transpose(dy, inv);
  },
  Reshape: (g, n, dy) => g.reshapeLike(dy, at(n, 0)),
  Unsqueeze: (g, n, dy) => g.reshapeLike(dy, at(n, 0)),
  Squeeze: (g, n, dy) => g.reshapeLike(dy, at(n, 0)),
  Expand: (g, n, dy) => sumToShape(g, dy, at(n, 0)),
  Concat: (g, n, dy, i) => {
    const axis = n.attrs.axis as number;
    let start = 0;
    for (let j = 0; j < i; j++) {
      const s = at(n, j).shape[axis];
      if (typeof s !== 'number') throw new Error('gradient of concat along a symbolic axis is not supported');
      start += s;
    }
    const size = at(n, i).shape[axis];
    if (typeof size !== 'number')
      throw new Error('gradient of concat along a symbolic axis is not supported');
    return g.slice(dy, axis, start, start + size);
  },
  Slice: (g, n, dy) => {
    const { axis, start, end } = info(n, 'slice');
    const size = at(n, 0).shape[axis] as number;
    return g.padAxis(dy, axis, start, size - end);
  },
  ReduceSum: (g, n, dy) => {
    const x = at(n, 0);
    const { axes } = info(n, 'reduceSum');
    const d = n.attrs.keepdims === 1 ? dy : g.unsqueeze(dy, axes);
    return g.expandLike(d, x);
  },
  ReduceMean: (g, n, dy) => {
    const x = at(n, 0);
    const axes = n.attrs.axes as number[];
    const d = n.attrs.keepdims === 1 ? dy : g.unsqueeze(dy, axes);
    return g.expandLike(g.div(d, elementCount(g, x, axes)), x);
  },
  Softmax: (g, n, dy) => {
    const y = out(n);
    const axis = n.attrs.axis as number;
    return g.mul(y, g.sub(dy, g.reduceSum(g.mul(dy, y), [axis], true)));
  },
  LogSoftmax: (g, n, dy) => {
    const axis = n.attrs.axis as number;
    return g.sub(dy, g.mul(g.exp(out(n)), g.reduceSum(dy, [axis], true)));
  },
  Gather: (g, n, dy, i) => {
    if (i !== 0) throw new Error('no gradient for gather indices');
    if ((n.attrs.axis ?? 0) !== 0) throw new Error('gradient of Gather is implemented for axis 0 only');
    return g.scatterAddRows(at(n, 0), at(n, 1), dy);
  },
};

function differentiable(n: Node): boolean {
  return n.gradInfo?.kind !== 'detach' && n.outputs[0].dtype === 'float32';
}

/**
 * Appends the VJP of `ys` with cotangents `cts` and returns d(Σ <ct_i, y_i>)/d(wrt_j) for each j.
 * `wrt` may be graph inputs, constants or any intermediate tensor (the total derivative through every
 * later use). A wrt that the outputs do not depend on gets zeros.
 */
export function grad(
  g: GraphBuilder,
  ys: readonly Tensor[],
  cts: readonly Tensor[],
  wrt: readonly Tensor[],
): Tensor[] {
  if (ys.length !== cts.length) throw new Error(`grad: ${ys.length} outputs but ${cts.length} cotangents`);
  const dep = new Set<Tensor>(wrt);
  const forwardNodes = g.nodes.slice();
  for (const n of forwardNodes) {
    if (differentiable(n) && n.inputs.some((t) => dep.has(t))) for (const o of n.outputs) dep.add(o);
  }
  const adj = new Map<Tensor, Tensor>();
  const accumulate = (t: Tensor, d: Tensor) => {
    const prev = adj.get(t);
    adj.set(t, prev ? g.add(prev, d) : d);
  };
  ys.forEach((y, i) => {
    if (dep.has(y)) accumulate(y, cts[i]);
  });
  for (let k = forwardNodes.length - 1; k >= 0; k--) {
    const n = forwardNodes[k];
    const dy = adj.get(n.outputs[0]);
    if (!dy || !differentiable(n)) continue;
    const rule = RULES[n.op];
    n.inputs.forEach((x, i) => {
      if (!dep.has(x) || x.dtype !== 'float32') return;
      if (!rule) throw new Error(`no gradient rule for ONNX op ${n.op}`);
      accumulate(x, rule(g, n, dy, i));
    });
  }
  return wrt.map((w) => adj.get(w) ?? g.mul(w, 0));
}
