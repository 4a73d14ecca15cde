import { describe, expect, it } from 'vitest';
import { nodeRuntime } from '../src/node/runtime.ts';
import { GraphBuilder, type Tensor } from '../src/tensor/graph.ts';
import { f32, type HostTensor, i32 } from '../src/tensor/host.ts';

const rt = nodeRuntime();

function rand(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s / 2 ** 32) * 2 - 1) * scale;
  }
  return out;
}

async function evaluate(g: GraphBuilder, outs: Record<string, Tensor>, feeds: Record<string, HostTensor>) {
  const session = await rt.load(g.compile(outs));
  return session.run(feeds);
}

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number) {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  expect(worst).toBeLessThan(tol);
}

describe('GraphBuilder ops match plain JS', () => {
  it('broadcast matmul, softmax, reductions, symbolic reshape', async () => {
    const g = new GraphBuilder();
    const a = g.input('a', 'float32', ['B', 2, 3]);
    const w = g.constant(f32([3, 4], rand(12, 1)));
    const y = g.matmul(a, w); // [B, 2, 4]
    const sm = g.softmax(y, -1);
    const rs = g.reduceSum(y, [1], false); // [B, 4]
    const rm = g.reduceMean(y, [-1], true); // [B, 2, 1]
    const flat = g.reshape(y, ['B', 8]);
    const av = rand(2 * 2 * 3, 2);
    const r = await evaluate(g, { y, sm, rs, rm, flat }, { a: f32([2, 2, 3], av) });
    const wv = rand(12, 1);
    const yj = new Float32Array(16);
    for (let r0 = 0; r0 < 4; r0++)
      for (let j = 0; j < 4; j++)
        for (let k = 0; k < 3; k++) yj[r0 * 4 + j] += av[r0 * 3 + k] * wv[k * 4 + j];
    close(r.y.data as Float32Array, yj, 1e-6);
    expect(r.flat.shape).toEqual([2, 8]);
    const smj = new Float32Array(16);
    for (let r0 = 0; r0 < 4; r0++) {
      const row = yj.subarray(r0 * 4, r0 * 4 + 4);
      const m = Math.max(...row);
      const e = row.map((v) => Math.exp(v - m));
      const s = e.reduce((p, q) => p + q, 0);
      for (let j = 0; j < 4; j++) smj[r0 * 4 + j] = e[j] / s;
    }
    close(r.sm.data as Float32Array, smj, 1e-6);
    const rsj = new Float32Array(8);
    for (let b = 0; b < 2; b++)
      for (let j = 0; j < 4; j++) rsj[b * 4 + j] = yj[b * 8 + j] + yj[b * 8 + 4 + j];
    close(r.rs.data as Float32Array, rsj, 1e-6);
    expect(r.rm.shape).toEqual([2, 2, 1]);
    close(
      r.rm.data as Float32Array,
      [0, 1, 2, 3].map((q) => (yj[q * 4] + yj[q * 4 + 1] + yj[q * 4 + 2] + yj[q * 4 + 3]) / 4),
      1e-6,
    );
  });

  it('gather, slice/concat, causal mask from a symbolic range', async () => {
    const g = new GraphBuilder();
    const tok = g.input('tok', 'int32', ['T']);
    const table = g.constant(f32([5, 2], [0, 1, 10, 11, 20, 21, 30, 31, 40, 41]));
    const e = g.gather(table, tok);
    const swapped = g.concat([g.slice(e, 1, 1, 2), g.slice(e, 1, 0, 1)], 1);
    const pos = g.range('T');
    const mask = g.greater(g.unsqueeze(pos, [0]), g.unsqueeze(pos, [1])); // [T, T] true above the diagonal
    const masked = g.where(mask, -1, g.scalar(1));
    const r = await evaluate(g, { e, swapped, masked }, { tok: i32([3], [4, 0, 2]) });
    expect([...(r.e.data as Float32Array)]).toEqual([40, 41, 0, 1, 20, 21]);
    expect([...(r.swapped.data as Float32Array)]).toEqual([41, 40, 1, 0, 21, 20]);
    expect([...(r.masked.data as Float32Array)]).toEqual([1, -1, -1, 1, 1, -1, 1, 1, 1]);
  });

  it('one initializer per data array and shape, even for reshaped views of the same data', async () => {
    const g = new GraphBuilder();
    const data = Float32Array.from([1, 2, 3, 4, 5, 6]);
    const a = g.constant(f32([2, 3], data));
    expect(g.constant(f32([2, 3], data))).toBe(a);
    const b = g.constant(f32([3, 2], data));
    expect(b).not.toBe(a);
    const r = await evaluate(g, { y: g.matmul(a, b) }, {});
    expect([...(r.y.data as Float32Array)]).toEqual([22, 28, 49, 64]);
  });

  it('rejects bad shapes and missing inputs with clear errors', async () => {
    const g = new GraphBuilder();
    const a = g.input('a', 'float32', [2, 3]);
    expect(() => g.matmul(a, g.constant(f32([4, 2])))).toThrow(/inner dims/);
    expect(() => g.add(a, g.constant(f32([4])))).toThrow(/broadcast/);
    const s = await rt.load(g.compile({ y: g.exp(a) }));
    await expect(s.run({})).rejects.toThrow(/missing graph input 'a'/);
  });
});

describe('scatterAddRows (the gradient of gather)', () => {
  // Embedding gradients add many updates into the same row (a token repeated in a batch). onnxruntime's
  // ScatterND races on such rows once it has two intra-op threads; this is the case that exposed it.
  it('adds every update exactly, and identically with 1 and 2 intra-op threads', async () => {
    const [V, n, d] = [50, 4096, 256];
    const g = new GraphBuilder();
    const table = g.input('table', 'float32', [V, d]);
    const idx = g.input('idx', 'int32', [8, n / 8]);
    const up = g.input('up', 'float32', [8, n / 8, d]);
    const bytes = g.compile({ out: g.scatterAddRows(table, idx, up) });
    const rows = Int32Array.from({ length: n }, (_, i) => (i * 7919) % 37);
    const upv = rand(n * d, 11);
    const expected = new Float64Array(V * d);
    for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) expected[rows[i] * d + j] += upv[i * d + j];
    const feeds = { table: f32([V, d]), idx: i32([8, n / 8], rows), up: f32([8, n / 8, d], upv) };
    const run = async (threads: number, times: number) => {
      const runtime = nodeRuntime({ intraOpNumThreads: threads });
      const session = await runtime.load(bytes);
      const outs: Float32Array[] = [];
      for (let t = 0; t < times; t++) outs.push((await session.run(feeds)).out.data as Float32Array);
      await runtime.release();
      return outs;
    };
    const [one] = await run(1, 1);
    close(one, expected, 1e-4);
    // A race shows as lost updates on an idle machine and as run-to-run differences on a busy one.
    for (const two of await run(2, 8)) expect(two).toEqual(one);
  });
});

describe('Runtime', () => {
  it('evicts least recently used sessions beyond maxSessions and refuses to run a released one', async () => {
    const small = nodeRuntime({ maxSessions: 1 });
    const build = () => {
      const g = new GraphBuilder();
      return g.compile({ y: g.neg(g.input('x', 'float32', [1])) });
    };
    const a = await small.graph('a', build);
    expect((await a.run({ x: f32([1], [2]) })).y.data[0]).toBe(-2);
    await small.graph('b', build);
    await new Promise((r) => setTimeout(r, 10));
    await expect(a.run({ x: f32([1], [2]) })).rejects.toThrow(/released/);
    await small.release();
  });

  it('also evicts by the constant bytes the cached sessions hold', async () => {
    const byBytes = nodeRuntime({ maxSessionBytes: 6000 });
    const build = () => {
      const g = new GraphBuilder();
      const w = g.constant(f32([1000], new Float32Array(1000).fill(1))); // 4000 bytes
      return g.compileModel({ y: g.add(g.input('x', 'float32', [1000]), w) });
    };
    const a = await byBytes.graph('a', build);
    const b = await byBytes.graph('b', build);
    await new Promise((r) => setTimeout(r, 10));
    await expect(a.run({ x: f32([1000]) })).rejects.toThrow(/released/);
    expect((await b.run({ x: f32([1000]) })).y.data[0]).toBe(1);
    await byBytes.release();
  });
});

/** Checks g.grad against central differences of f(x) = Σ ct · y(x) along random directions. */
async function checkGrad(build: (g: GraphBuilder, x: Tensor) => Tensor, shape: number[], seed: number) {
  const g = new GraphBuilder();
  const x = g.input('x', 'float32', shape);
  const y = build(g, x);
  const ct = g.input('ct', 'float32', y.shape);
  const f = g.reduceSum(g.mul(y, ct), [...y.shape.keys()], false);
  const [dx] = g.grad([y], [ct], [x]);
  const s = await rt.load(g.compile({ f, dx }));
  const n = shape.reduce((p, q) => p * q, 1);
  const xv = rand(n, seed);
  const ctv = f32(
    y.shape as number[],
    rand(
      (y.shape as number[]).reduce((p, q) => p * q, 1),
      seed + 1,
    ),
  );
  const base = await s.run({ x: f32(shape, xv), ct: ctv });
  const gx = base.dx.data as Float32Array;
  const eps = 1e-2;
  for (let trial = 0; trial < 3; trial++) {
    const v = rand(n, seed + 10 + trial);
    const plus = xv.map((xi, i) => xi + eps * v[i]);
    const minus = xv.map((xi, i) => xi - eps * v[i]);
    const fp = (await s.run({ x: f32(shape, plus), ct: ctv })).f.data[0] as number;
    const fm = (await s.run({ x: f32(shape, minus), ct: ctv })).f.data[0] as number;
    const fd = (fp - fm) / (2 * eps);
    let an = 0;
    for (let i = 0; i < n; i++) an += gx[i] * v[i];
    expect(Math.abs(fd - an)).toBeLessThan(2e-3 * (1 + Math.abs(an)));
  }
}

describe('autodiff agrees with central finite differences', () => {
  it('elementwise and transcendental ops', async () => {
    await checkGrad((g, x) => g.tanh(g.mul(g.exp(g.mul(x, 0.5)), g.sigmoid(x))), [3, 4], 1);
    await checkGrad((g, x) => g.div(g.erf(x), g.sqrt(g.add(g.mul(x, x), 1))), [3, 4], 2);
    await checkGrad((g, x) => g.log(g.add(g.relu(x), 1.5)), [3, 4], 3);
    await checkGrad((g, x) => g.mul(g.sin(x), g.cos(g.max(x, 0.1))), [3, 4], 4);
    await checkGrad((g, x) => g.add(g.pow(x, 2), g.pow(x, 3)), [3, 4], 14);
  });

  it('matmul with broadcasting, softmax, log-softmax, reductions, reshapes', async () => {
    const w = f32([4, 5], rand(20, 9));
    await checkGrad((g, x) => g.softmax(g.matmul(x, g.constant(w)), -1), [2, 3, 4], 5);
    await checkGrad((g, x) => g.logSoftmax(g.reshape(x, [3, 8]), -1), [2, 3, 4], 6);
    await checkGrad((g, x) => g.matmul(x, g.transpose(x, [0, 2, 1])), [2, 3, 4], 7);
    await checkGrad((g, x) => g.sub(x, g.reduceMean(x, [-1], true)), [2, 3, 4], 8);
    await checkGrad((g, x) => g.mul(g.reduceSum(g.mul(x, x), [0, 2], false), 0.3), [2, 3, 4], 9);
    await checkGrad((g, x) => g.matmul(g.unsqueeze(x, [1]), g.unsqueeze(g.mT(x), [0])), [2, 3, 4], 10);
  });

  it('slice, concat, pad, gather, where', async () => {
    await checkGrad((g, x) => g.concat([g.neg(g.slice(x, -1, 2, 4)), g.slice(x, -1, 0, 2)], -1), [3, 4], 11);
    await checkGrad((g, x) => g.gather(x, g.constant(i32([4], [2, 0, 2, 1]))), [3, 4], 12);
    await checkGrad(
      (g, x) => {
        const mask = g.constant({ dtype: 'bool', shape: [4], data: Uint8Array.of(1, 0, 0, 1) });
        return g.where(mask, g.mul(x, x), g.exp(x));
      },
      [3, 4],
      13,
    );
  });

  it('detach stops the gradient', async () => {
    const g = new GraphBuilder();
    const x = g.input('x', 'float32', [2]);
    const y = g.add(g.mul(x, 3), g.detach(g.mul(x, x)));
    const [dx] = g.grad([y], [g.constant(f32([2], [1, 1]))], [x]);
    const r = await (await rt.load(g.compile({ dx }))).run({ x: f32([2], [5, 7]) });
    expect([...(r.dx.data as Float32Array)]).toEqual([3, 3]);
  });
});
