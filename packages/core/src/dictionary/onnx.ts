/**
 * Dictionary encode/decode as one ONNX graph per call, for every layer at once:
 *   x [L, T, dModel] → pre [L, T, dTc], acts [L, T, dTc], recon [L, T, dModel]
 * Weights are graph constants, so the graph is compiled once per dictionary and cached by the Runtime.
 * The reconstruction needs the whole W_dec in memory; with a lazy decoder build the encode-only graph and
 * decode the active features' rows instead.
 */
import { GraphBuilder, type Tensor } from '../tensor/graph.ts';
import { type F32, f32 } from '../tensor/host.ts';
import type { Runtime } from '../tensor/runtime.ts';
import type { Dictionary } from './types.ts';

export interface DictionaryGraphOptions {
  /** Also output `recon` (default true). Needs in-memory decoders. */
  reconstruction?: boolean;
}

/** Stacks one per-layer tensor into [L, ...shape]. */
function stack(parts: readonly F32[], shape: readonly number[]): F32 {
  const n = parts[0].data.length;
  const out = new Float32Array(parts.length * n);
  for (let i = 0; i < parts.length; i++) out.set(parts[i].data, i * n);
  return f32([parts.length, ...shape], out);
}

function activation(g: GraphBuilder, dict: Dictionary, pre: Tensor, nL: number): Tensor {
  const a = dict.activation;
  if (a.kind === 'relu') return g.relu(pre);
  if (a.kind === 'jumprelu') {
    const theta = g.constant(
      stack(
        dict.layers.map((l) => l.threshold!),
        [1, dict.dTc],
      ),
    ); // [L, 1, dTc]
    let keep = g.greater(pre, theta);
    if (a.rectify) keep = g.and(keep, g.greater(pre, g.scalar(0)));
    return g.where(keep, pre, 0);
  }
  const k = Math.min(a.k, dict.dTc);
  const [values, indices] = g.node(
    'TopK',
    [pre, g.ints([k])],
    [
      [nL, 'T', k],
      [nL, 'T', k],
    ],
    ['float32', 'int64'],
    { axis: -1, largest: 1, sorted: 1 },
  );
  const kept = a.rectify ? g.relu(values) : values;
  return g.node('ScatterElements', [g.mul(pre, 0), indices, kept], [pre.shape], ['float32'], { axis: -1 })[0];
}

/** CLT decoders padded to [L, dTc, L·dModel]: source layer l writes zeros into output layers k < l. */
function paddedCltDecoder(dict: Dictionary): F32 {
  const nL = dict.layers.length;
  const { dTc, dModel: d } = dict;
  const out = new Float32Array(nL * dTc * nL * d);
  dict.layers.forEach((layer, l) => {
    const w = layer.wDec!.data; // [dTc, nL − l, d]
    const nOut = nL - l;
    for (let f = 0; f < dTc; f++) {
      for (let o = 0; o < nOut; o++) {
        out.set(w.subarray((f * nOut + o) * d, (f * nOut + o + 1) * d), ((l * dTc + f) * nL + l + o) * d);
      }
    }
  });
  return f32([nL, dTc, nL * d], out);
}

/** ONNX bytes of the dictionary's forward graph (input `x`, outputs `pre`, `acts` and optionally `recon`). */
export function buildDictionaryGraph(dict: Dictionary, opts: DictionaryGraphOptions = {}): Uint8Array {
  const recon = opts.reconstruction ?? true;
  if (recon && dict.layers.some((l) => !l.wDec)) {
    throw new Error(
      'dictionary graph: the reconstruction needs in-memory W_dec; load without lazyDecoder or pass reconstruction: false',
    );
  }
  const nL = dict.layers.length;
  const { dTc, dModel: d } = dict;
  const g = new GraphBuilder();
  const x = g.input('x', 'float32', [nL, 'T', d]);
  const bDec = g.constant(
    stack(
      dict.layers.map((l) => l.bDec),
      [1, d],
    ),
  ); // [L, 1, d]
  const input = dict.applyBDecToInput ? g.sub(x, bDec) : x;
  const wEnc = g.constant(
    stack(
      dict.layers.map((l) => l.wEnc),
      [dTc, d],
    ),
  ); // [L, dTc, d]
  const bEnc = g.constant(
    stack(
      dict.layers.map((l) => l.bEnc),
      [1, dTc],
    ),
  ); // [L, 1, dTc]
  const pre = g.add(g.matmul(input, g.mT(wEnc)), bEnc); // [L, T, dTc]
  const acts = activation(g, dict, pre, nL);
  const outputs: Record<string, Tensor> = { pre, acts };
  if (recon) {
    let y: Tensor;
    if (dict.kind === 'clt') {
      const w = g.constant(paddedCltDecoder(dict)); // [L, dTc, L·d]
      const summed = g.reduceSum(g.matmul(acts, w), [0], false); // [T, L·d]
      y = g.transpose(g.reshape(summed, ['T', nL, d]), [1, 0, 2]); // [L, T, d]
    } else {
      const w = g.constant(
        stack(
          dict.layers.map((l) => l.wDec!),
          [dTc, d],
        ),
      ); // [L, dTc, d]
      y = g.matmul(acts, w);
    }
    y = g.add(y, bDec);
    if (dict.layers[0].wSkip) {
      const wSkip = g.constant(
        stack(
          dict.layers.map((l) => l.wSkip!),
          [d, d],
        ),
      ); // [L, dOut, dIn]
      y = g.add(y, g.matmul(x, g.mT(wSkip)));
    }
    outputs.recon = y;
  }
  return g.compile(outputs);
}

const graphIds = new WeakMap<Dictionary, number>();
let nextGraphId = 0;

export interface DictionaryForward {
  pre: F32; // [L, T, dTc]
  acts: F32; // [L, T, dTc]
  recon?: F32; // [L, T, dModel]
}

/** Runs the dictionary on inputs x [L, T, dModel] (the input hook of every dictionary layer). */
export async function runDictionary(
  runtime: Runtime,
  dict: Dictionary,
  x: F32,
  opts: DictionaryGraphOptions = {},
): Promise<DictionaryForward> {
  const nL = dict.layers.length;
  if (x.shape.length !== 3 || x.shape[0] !== nL || x.shape[2] !== dict.dModel) {
    throw new Error(`runDictionary: expected x [${nL}, T, ${dict.dModel}], got [${x.shape.join(', ')}]`);
  }
  const recon = opts.reconstruction ?? true;
  let id = graphIds.get(dict);
  if (id === undefined) graphIds.set(dict, (id = nextGraphId++));
  const graph = await runtime.graph(`dictionary:${id}:${recon}`, () =>
    buildDictionaryGraph(dict, { reconstruction: recon }),
  );
  const out = await graph.run({ x });
  return {
    pre: out.pre as F32,
    acts: out.acts as F32,
    ...(recon ? { recon: out.recon as F32 } : {}),
  };
}
