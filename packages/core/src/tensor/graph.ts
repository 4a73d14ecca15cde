/**
 * A small symbolic tensor-program builder that compiles to ONNX (opset 17).
 *
 * Each op call appends one ONNX node and returns a symbolic `Tensor` whose static shape is tracked
 * (dims are numbers or symbolic names such as 'B', 'T'). Shapes matter for two things only: checking
 * user input early, and knowing which axes were broadcast when differentiating (see grad.ts).
 * Runtime sizes of symbolic dims are read with `Shape` from the input that declared them.
 *
 * One file over 450 lines on purpose: GraphBuilder is one class, one short method per ONNX op plus its
 * serialiser, and its op methods are the vocabulary every graph in the core is written in.
 */
import onnxProto from 'onnx-proto';
import { grad } from './grad.ts';
import type { HostTensor } from './host.ts';

const { onnx } = onnxProto;

export type DType = 'float32' | 'int32' | 'int64' | 'bool';
export type Dim = number | string;
export type Shape = readonly Dim[];

const ONNX_DTYPE: Record<DType, number> = { float32: 1, int32: 6, int64: 7, bool: 9 };

export type AttrValue = number | string | number[] | { float: number } | { floats: number[] };

/**
 * What a gradient rule needs to know about a node that its ONNX attributes do not say (opset 17 passes
 * these as input tensors, whose values the builder knows only at build time), and the stop-gradient mark.
 */
export type GradInfo =
  | { readonly kind: 'pow'; readonly p: number }
  | { readonly kind: 'slice'; readonly axis: number; readonly start: number; readonly end: number }
  | { readonly kind: 'reduceSum'; readonly axes: readonly number[] }
  | { readonly kind: 'detach' };

export interface Node {
  readonly op: string;
  readonly inputs: readonly Tensor[];
  readonly outputs: readonly Tensor[];
  readonly attrs: Readonly<Record<string, AttrValue>>;
  /** Set by the builder methods whose gradient needs it; a node made with `node()` directly has none. */
  readonly gradInfo?: GradInfo;
}

export class Tensor {
  /** The node that produced this tensor; undefined for graph inputs and constants. */
  producer?: Node;
  constructor(
    readonly graph: GraphBuilder,
    readonly name: string,
    readonly dtype: DType,
    readonly shape: Shape,
  ) {}
  get rank(): number {
    return this.shape.length;
  }
}

/** Broadcasts two static shapes the numpy way; a symbolic dim against a number > 1 takes the number. */
export function broadcastShapes(a: Shape, b: Shape): Dim[] {
  const n = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da === db || db === 1) out.push(da);
    else if (da === 1) out.push(db);
    else if (typeof da === 'number' && typeof db === 'number') {
      throw new Error(`cannot broadcast shapes [${a.join(', ')}] and [${b.join(', ')}]`);
    } else out.push(typeof da === 'number' ? da : db);
  }
  return out;
}

function normAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new Error(`axis ${axis} is out of range for rank ${rank}`);
  return a;
}

/** The shape left by reducing the (normalised) `axes`: each kept as 1, or dropped. */
function reducedShape(shape: Shape, axes: readonly number[], keepdims: boolean): Dim[] {
  return keepdims
    ? shape.map((d, i) => (axes.includes(i) ? 1 : d))
    : shape.filter((_, i) => !axes.includes(i));
}

/** An in-memory file of ONNX external data, as onnxruntime's `externalData` session option takes it. */
export interface ExternalFile {
  path: string;
  data: Uint8Array;
}

/** ONNX model bytes plus the external initializer data they reference. */
export interface CompiledModel {
  model: Uint8Array;
  externalData: ExternalFile[];
}

interface Initializer {
  name: string;
  dtype: DType;
  dims: number[];
  data: ArrayBufferView;
}

export class GraphBuilder {
  readonly nodes: Node[] = [];
  readonly inputs: Tensor[] = [];
  private readonly initializers = new Map<string, Initializer>();
  private readonly constOf = new WeakMap<object, Tensor>();
  /** symbolic dim → [tensor declaring it, axis] */
  private readonly dimSources = new Map<string, [Tensor, number]>();
  private readonly dimTensors = new Map<string, Tensor>();
  private readonly shapeTensors = new Map<string, Tensor>();
  private counter = 0;

  fresh(prefix: string): string {
    return `${prefix}_${this.counter++}`;
  }

  /** A graph input. Symbolic dims are bound to the first input that declares them. */
  input(name: string, dtype: DType, shape: Shape): Tensor {
    if (this.inputs.some((t) => t.name === name)) throw new Error(`duplicate graph input '${name}'`);
    const t = new Tensor(this, name, dtype, shape);
    shape.forEach((d, axis) => {
      if (typeof d === 'string' && !this.dimSources.has(d)) this.dimSources.set(d, [t, axis]);
    });
    this.inputs.push(t);
    return t;
  }

  /** A constant (ONNX initializer). The same data array with the same shape maps to one initializer. */
  constant(value: HostTensor, name?: string): Tensor {
    const cached = this.constOf.get(value.data);
    if (cached && cached.dtype === value.dtype && cached.shape.join() === value.shape.join()) return cached;
    if (
      value.dtype !== 'float32' &&
      value.dtype !== 'int32' &&
      value.dtype !== 'int64' &&
      value.dtype !== 'bool'
    ) {
      throw new Error(`constant: unsupported dtype ${value.dtype}`);
    }
    const n = name ?? this.fresh('const');
    if (this.initializers.has(n)) throw new Error(`duplicate constant '${n}'`);
    const t = new Tensor(this, n, value.dtype, value.shape);
    this.initializers.set(n, { name: n, dtype: value.dtype, dims: [...value.shape], data: value.data });
    this.constOf.set(value.data, t);
    return t;
  }

  scalar(v: number): Tensor {
    return this.constant({ dtype: 'float32', shape: [], data: Float32Array.of(v) });
  }

  ints(v: readonly number[]): Tensor {
    return this.constant({ dtype: 'int64', shape: [v.length], data: BigInt64Array.from(v.map(BigInt)) });
  }

  /** Appends a node; `outShapes`/`outTypes` give each output's static shape and dtype. */
  node(
    op: string,
    inputs: Tensor[],
    outShapes: Shape[],
    outTypes: DType[],
    attrs: Record<string, AttrValue> = {},
    gradInfo?: GradInfo,
  ): Tensor[] {
    const outputs = outShapes.map((s, i) => new Tensor(this, this.fresh(op.toLowerCase()), outTypes[i], s));
    const node: Node = gradInfo ? { op, inputs, outputs, attrs, gradInfo } : { op, inputs, outputs, attrs };
    for (const o of outputs) o.producer = node;
    this.nodes.push(node);
    return outputs;
  }

  private unary(op: string, x: Tensor, attrs: Record<string, AttrValue> = {}): Tensor {
    return this.node(op, [x], [x.shape], [x.dtype], attrs)[0];
  }

  /** An operand given as a tensor or a float constant. */
  private operand(v: Tensor | number): Tensor {
    return typeof v === 'number' ? this.scalar(v) : v;
  }

  private binary(op: string, a: Tensor | number, b: Tensor | number, outType?: DType): Tensor {
    const ta = this.operand(a);
    const tb = this.operand(b);
    return this.node(op, [ta, tb], [broadcastShapes(ta.shape, tb.shape)], [outType ?? ta.dtype])[0];
  }

  // ── elementwise ──────────────────────────────────────────────────────────────────────────────────────
  add(a: Tensor | number, b: Tensor | number): Tensor {
    return this.binary('Add', a, b);
  }
  sub(a: Tensor | number, b: Tensor | number): Tensor {
    return this.binary('Sub', a, b);
  }
  mul(a: Tensor | number, b: Tensor | number): Tensor {
    return this.binary('Mul', a, b);
  }
  div(a: Tensor | number, b: Tensor | number): Tensor {
    return this.binary('Div', a, b);
  }
  neg(x: Tensor): Tensor {
    return this.unary('Neg', x);
  }
  exp(x: Tensor): Tensor {
    return this.unary('Exp', x);
  }
  log(x: Tensor): Tensor {
    return this.unary('Log', x);
  }
  sqrt(x: Tensor): Tensor {
    return this.unary('Sqrt', x);
  }
  tanh(x: Tensor): Tensor {
    return this.unary('Tanh', x);
  }
  erf(x: Tensor): Tensor {
    return this.unary('Erf', x);
  }
  sigmoid(x: Tensor): Tensor {
    return this.unary('Sigmoid', x);
  }
  relu(x: Tensor): Tensor {
    return this.unary('Relu', x);
  }
  cos(x: Tensor): Tensor {
    return this.unary('Cos', x);
  }
  sin(x: Tensor): Tensor {
    return this.unary('Sin', x);
  }
  /** x ** p for a constant exponent (Pow; written so ORT's LayerNorm / FastGelu fusions recognise it). */
  pow(x: Tensor, p: number): Tensor {
    return this.node('Pow', [x, this.scalar(p)], [x.shape], [x.dtype], {}, { kind: 'pow', p })[0];
  }
  min(a: Tensor | number, b: Tensor | number): Tensor {
    return this.binary('Min', a, b);
  }
  max(a: Tensor | number, b: Tensor | number): Tensor {
    return this.binary('Max', a, b);
  }
  /** Stops gradients: forward identity, zero derivative. */
  detach(x: Tensor): Tensor {
    return this.node('Identity', [x], [x.shape], [x.dtype], {}, { kind: 'detach' })[0];
  }
  identity(x: Tensor): Tensor {
    return this.unary('Identity', x);
  }
  cast(x: Tensor, to: DType): Tensor {
    return this.node('Cast', [x], [x.shape], [to], { to: ONNX_DTYPE[to] })[0];
  }

  // comparisons (no gradient)
  less(a: Tensor, b: Tensor): Tensor {
    return this.binary('Less', a, b, 'bool');
  }
  greater(a: Tensor, b: Tensor): Tensor {
    return this.binary('Greater', a, b, 'bool');
  }
  greaterOrEqual(a: Tensor, b: Tensor): Tensor {
    return this.binary('GreaterOrEqual', a, b, 'bool');
  }
  and(a: Tensor, b: Tensor): Tensor {
    return this.binary('And', a, b, 'bool');
  }
  where(cond: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
    const ta = this.operand(a);
    const tb = this.operand(b);
    const shape = broadcastShapes(cond.shape, broadcastShapes(ta.shape, tb.shape));
    return this.node('Where', [cond, ta, tb], [shape], [ta.dtype])[0];
  }

  // ── linear algebra and shape ops ─────────────────────────────────────────────────────────────────────
  /** Batched matmul with numpy broadcasting of the leading dims. */
  matmul(a: Tensor, b: Tensor): Tensor {
    if (a.rank < 2 || b.rank < 2) throw new Error('matmul: both operands need rank ≥ 2');
    const k1 = a.shape[a.rank - 1];
    const k2 = b.shape[b.rank - 2];
    if (typeof k1 === 'number' && typeof k2 === 'number' && k1 !== k2) {
      throw new Error(`matmul: inner dims differ ([${a.shape.join(', ')}] @ [${b.shape.join(', ')}])`);
    }
    const batch = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2));
    return this.node('MatMul', [a, b], [[...batch, a.shape[a.rank - 2], b.shape[b.rank - 1]]], [a.dtype])[0];
  }

  transpose(x: Tensor, perm: readonly number[]): Tensor {
    if (perm.length !== x.rank)
      throw new Error(`transpose: perm of length ${perm.length} for rank ${x.rank}`);
    return this.node('Transpose', [x], [perm.map((p) => x.shape[p])], [x.dtype], { perm: [...perm] })[0];
  }

  /** Swaps the last two axes. */
  mT(x: Tensor): Tensor {
    const perm = x.shape.map((_, i) => i);
    perm[x.rank - 1] = x.rank - 2;
    perm[x.rank - 2] = x.rank - 1;
    return this.transpose(x, perm);
  }

  /** The runtime size of a symbolic dim as an int64 [1] tensor. */
  dimSize(d: Dim): Tensor {
    if (typeof d === 'number') return this.ints([d]);
    const cached = this.dimTensors.get(d);
    if (cached) return cached;
    const src = this.dimSources.get(d);
    if (!src) throw new Error(`symbolic dim '${d}' is not declared by any graph input`);
    const t = this.node('Shape', [src[0]], [[1]], ['int64'], { start: src[1], end: src[1] + 1 })[0];
    this.dimTensors.set(d, t);
    return t;
  }

  /** A shape as a runtime int64 tensor; symbolic dims are read from the inputs that declared them. */
  shapeTensor(shape: Shape): Tensor {
    const key = shape.join(',');
    const cached = this.shapeTensors.get(key);
    if (cached) return cached;
    const t = shape.every((d) => typeof d === 'number')
      ? this.ints(shape as number[])
      : this.concat(
          shape.map((d) => this.dimSize(d)),
          0,
        );
    this.shapeTensors.set(key, t);
    return t;
  }

  /**
   * Runtime shape of x. Built from static and input-declared dims when possible, so that gradients
   * needing only a shape do not keep x's forward computation alive.
   */
  shapeOf(x: Tensor): Tensor {
    const known = x.shape.every((d) => (typeof d === 'number' ? d >= 0 : this.dimSources.has(d)));
    if (known) return this.shapeTensor(x.shape);
    return this.node('Shape', [x], [[x.rank]], ['int64'])[0];
  }

  /**
   * Reshape to a shape of static and symbolic dims. At most one dim may be inferred: -1, or a symbolic
   * name no graph input declares (it keeps that name in the static shape).
   */
  reshape(x: Tensor, shape: Shape): Tensor {
    const runtime = shape.map((d) => (typeof d === 'string' && !this.dimSources.has(d) ? -1 : d));
    if (runtime.filter((d) => d === -1).length > 1)
      throw new Error(`reshape: more than one inferred dim in [${shape.join(', ')}]`);
    return this.node('Reshape', [x, this.shapeTensor(runtime)], [shape], [x.dtype])[0];
  }

  /** Reshape to the runtime shape of `like` (used by gradients). */
  reshapeLike(x: Tensor, like: Tensor): Tensor {
    return this.node('Reshape', [x, this.shapeOf(like)], [like.shape], [x.dtype])[0];
  }

  expandLike(x: Tensor, like: Tensor): Tensor {
    return this.node('Expand', [x, this.shapeOf(like)], [like.shape], [x.dtype])[0];
  }

  unsqueeze(x: Tensor, axes: readonly number[]): Tensor {
    const rank = x.rank + axes.length;
    const norm = axes.map((a) => normAxis(a, rank)).sort((p, q) => p - q);
    const shape: Dim[] = [];
    let j = 0;
    for (let i = 0; i < rank; i++) shape.push(norm.includes(i) ? 1 : x.shape[j++]);
    return this.node('Unsqueeze', [x, this.ints(norm)], [shape], [x.dtype])[0];
  }

  squeeze(x: Tensor, axes: readonly number[]): Tensor {
    const norm = axes.map((a) => normAxis(a, x.rank));
    for (const a of norm)
      if (x.shape[a] !== 1) throw new Error(`squeeze: axis ${a} has size ${x.shape[a]}, not 1`);
    return this.node(
      'Squeeze',
      [x, this.ints(norm)],
      [x.shape.filter((_, i) => !norm.includes(i))],
      [x.dtype],
    )[0];
  }

  concat(xs: readonly Tensor[], axis: number): Tensor {
    if (xs.length === 0) throw new Error('concat of nothing');
    const a = normAxis(axis, xs[0].rank);
    const sizes = xs.map((x) => x.shape[a]);
    const total: Dim = sizes.every((s) => typeof s === 'number')
      ? (sizes as number[]).reduce((p, q) => p + q, 0)
      : this.fresh('cat');
    const shape = xs[0].shape.map((d, i) => (i === a ? total : d));
    return this.node('Concat', [...xs], [shape], [xs[0].dtype], { axis: a })[0];
  }

  /** Static slice [start, end) along one axis whose size must be known. */
  slice(x: Tensor, axis: number, start: number, end: number): Tensor {
    const a = normAxis(axis, x.rank);
    const size = x.shape[a];
    if (typeof size !== 'number') throw new Error(`slice: axis ${a} must have a static size`);
    if (start < 0 || end > size || start >= end)
      throw new Error(`slice [${start}, ${end}) out of range 0..${size}`);
    const shape = x.shape.map((d, i) => (i === a ? end - start : d));
    return this.node(
      'Slice',
      [x, this.ints([start]), this.ints([end]), this.ints([a])],
      [shape],
      [x.dtype],
      {},
      { kind: 'slice', axis: a, start, end },
    )[0];
  }

  /** Zero-pads a static axis: `before` zeros in front, `after` behind. */
  padAxis(x: Tensor, axis: number, before: number, after: number): Tensor {
    const a = normAxis(axis, x.rank);
    const pads = new Array<number>(2 * x.rank).fill(0);
    pads[a] = before;
    pads[x.rank + a] = after;
    const size = x.shape[a];
    const shape = x.shape.map((d, i) => (i === a && typeof size === 'number' ? size + before + after : d));
    return this.node('Pad', [x, this.ints(pads)], [shape], [x.dtype])[0];
  }

  reduceSum(x: Tensor, axes: readonly number[], keepdims = true): Tensor {
    const norm = axes.map((a) => normAxis(a, x.rank));
    const shape = reducedShape(x.shape, norm, keepdims);
    return this.node(
      'ReduceSum',
      [x, this.ints(norm)],
      [shape],
      [x.dtype],
      { keepdims: keepdims ? 1 : 0 },
      { kind: 'reduceSum', axes: norm },
    )[0];
  }

  reduceMean(x: Tensor, axes: readonly number[], keepdims = true): Tensor {
    const norm = axes.map((a) => normAxis(a, x.rank));
    const shape = reducedShape(x.shape, norm, keepdims);
    return this.node('ReduceMean', [x], [shape], [x.dtype], { axes: norm, keepdims: keepdims ? 1 : 0 })[0];
  }

  softmax(x: Tensor, axis = -1): Tensor {
    return this.unary('Softmax', x, { axis: normAxis(axis, x.rank) });
  }

  logSoftmax(x: Tensor, axis = -1): Tensor {
    return this.unary('LogSoftmax', x, { axis: normAxis(axis, x.rank) });
  }

  /** Rows of `table` ([V, ...]) picked by integer `indices` (any shape). */
  gather(table: Tensor, indices: Tensor): Tensor {
    return this.node(
      'Gather',
      [table, indices],
      [[...indices.shape, ...table.shape.slice(1)]],
      [table.dtype],
      { axis: 0 },
    )[0];
  }

  /** Float one-hot of integer indices (no gradient): [..., depth]. */
  oneHot(indices: Tensor, depth: number): Tensor {
    const values = this.constant({ dtype: 'float32', shape: [2], data: Float32Array.of(0, 1) });
    const idx = indices.dtype === 'int64' ? indices : this.cast(indices, 'int64'); // ORT's CPU kernel wants int64
    return this.node('OneHot', [idx, this.ints([depth]), values], [[...indices.shape, depth]], ['float32'], {
      axis: -1,
    })[0];
  }

  /** int64 [n] = 0..n-1 for a static or symbolic n. */
  range(n: Dim): Tensor {
    return this.arange(this.ints([0]), this.dimSize(n), n);
  }

  /** int64 [dim] = start..end-1, from int64 [1] bounds computed at run time. */
  arange(start: Tensor, end: Tensor, dim: Dim): Tensor {
    const scalar = (t: Tensor) => this.node('Squeeze', [t, this.ints([0])], [[]], ['int64'])[0];
    const one = this.constant({ dtype: 'int64', shape: [], data: BigInt64Array.of(1n) });
    return this.node('Range', [scalar(start), scalar(end), one], [[dim]], ['int64'])[0];
  }

  /** The run-time size of one axis of x, as int64 [1]. */
  axisSize(x: Tensor, axis: number): Tensor {
    const a = normAxis(axis, x.rank);
    return this.node('Shape', [x], [[1]], ['int64'], { start: a, end: a + 1 })[0];
  }

  /**
   * Scatter-adds `updates` ([...indices.shape, ...rest]) into zeros shaped like `like` at rows `indices`.
   * ScatterElements, not ScatterND: onnxruntime's CPU ScatterND splits the updates across intra-op threads
   * with no guard on repeated indices, so with more than one thread it loses additions to a row that two
   * threads touch at once (a token appearing twice in a batch). ScatterElements adds in index order on one
   * thread: exact and the same on every run and at every thread count.
   */
  scatterAddRows(like: Tensor, indices: Tensor, updates: Tensor): Tensor {
    const zeros = this.mul(like, 0);
    const rowShape = like.shape.slice(1);
    const rows = this.reshape(updates, [-1, ...rowShape]); // [n, ...rest]
    const idx = this.reshape(this.cast(indices, 'int64'), [-1, ...rowShape.map(() => 1)]); // [n, 1, …]
    return this.node(
      'ScatterElements',
      [zeros, this.expandLike(idx, rows), rows],
      [like.shape],
      [like.dtype],
      {
        axis: 0,
        reduction: 'add',
      },
    )[0];
  }

  /** Reverse mode: d(Σ <cts_i, ys_i>)/d(wrt_j), appended to this graph (see grad.ts). */
  grad(ys: readonly Tensor[], cts: readonly Tensor[], wrt: readonly Tensor[]): Tensor[] {
    return grad(this, ys, cts, wrt);
  }

  // ── compilation ───────────────────────────────────────────────────────────────────────────────────────
  /**
   * Serialises the part of the graph needed for `outputs` into ONNX ModelProto bytes, every initializer
   * inline. Graph inputs that nothing depends on are still declared, so callers feed a fixed set of names.
   */
  compile(outputs: Record<string, Tensor>): Uint8Array {
    return this.serialise(outputs, Number.POSITIVE_INFINITY).model;
  }

  /**
   * Like compile, but initializers of at least `externalMinBytes` are left out of the protobuf and handed
   * to onnxruntime as in-memory external data (no copy on the JS side, and no 2 GB protobuf limit:
   * needed for real checkpoints).
   */
  compileModel(outputs: Record<string, Tensor>, externalMinBytes = 1024): CompiledModel {
    return this.serialise(outputs, externalMinBytes);
  }

  private serialise(outputs: Record<string, Tensor>, externalMinBytes: number): CompiledModel {
    const needed = new Set<Node>();
    const stack: Tensor[] = Object.values(outputs);
    const seenT = new Set<Tensor>();
    const usedInit = new Set<string>();
    while (stack.length) {
      const t = stack.pop() as Tensor;
      if (seenT.has(t)) continue;
      seenT.add(t);
      if (this.initializers.has(t.name)) usedInit.add(t.name);
      if (t.producer && !needed.has(t.producer)) {
        needed.add(t.producer);
        stack.push(...t.producer.inputs);
      }
    }
    const valueInfo = (name: string, t: Tensor) => ({
      name,
      type: {
        tensorType: {
          elemType: ONNX_DTYPE[t.dtype],
          shape: { dim: t.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
        },
      },
    });
    const nodes = this.nodes
      .filter((n) => needed.has(n))
      .map((n) => ({
        opType: n.op,
        input: n.inputs.map((t) => t.name),
        output: n.outputs.map((t) => t.name),
        attribute: Object.entries(n.attrs).map(([k, v]) => attrProto(k, v)),
      }));
    // Outputs are renamed through Identity so that one tensor may serve several output names.
    const outs = Object.entries(outputs).map(([name, t]) => {
      nodes.push({ opType: 'Identity', input: [t.name], output: [name], attribute: [] });
      return valueInfo(name, t);
    });
    const externalData: ExternalFile[] = [];
    const initializer = [...usedInit].map((n) => {
      const init = this.initializers.get(n) as Initializer;
      const d = init.data;
      const bytes = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
      const base = { name: init.name, dims: init.dims, dataType: ONNX_DTYPE[init.dtype] };
      if (bytes.byteLength < externalMinBytes) return { ...base, rawData: bytes };
      const path = `x${externalData.length}.bin`;
      externalData.push({ path, data: bytes });
      const location = [
        { key: 'location', value: path },
        { key: 'offset', value: '0' },
        { key: 'length', value: String(bytes.byteLength) },
      ];
      return { ...base, dataLocation: 1, externalData: location };
    });
    const model = onnx.ModelProto.fromObject({
      irVersion: 8,
      producerName: 'loupe',
      opsetImport: [{ domain: '', version: 17 }],
      graph: {
        name: 'loupe',
        node: nodes,
        input: this.inputs.map((t) => valueInfo(t.name, t)),
        output: outs,
        initializer,
      },
    });
    return { model: onnx.ModelProto.encode(model).finish(), externalData };
  }
}

function attrProto(name: string, v: AttrValue) {
  if (typeof v === 'number') return { name, type: 2, i: v };
  if (typeof v === 'string') return { name, type: 3, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: 7, ints: v };
  if ('float' in v) return { name, type: 1, f: v.float };
  return { name, type: 6, floats: v.floats };
}
