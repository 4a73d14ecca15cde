/**
 * Dictionary encode/decode as one ONNX graph per call, for every layer at once:
 *   x [L, T, dModel] → pre [L, T, dTc], acts [L, T, dTc], recon [L, T, dModel]
 * Weights are graph constants, so the graph is compiled once per dictionary and cached by the Runtime.
 * The reconstruction needs the whole W_dec in memory; with a lazy decoder build the encode-only graph and
 * decode the active features' rows instead.
 */
import { GraphBuilder, type Tensor } from '../tensor/graph.ts';
import { type F32, f32 } from '../tensor/host.ts';
import { objectId } from '../tensor/object-id.ts';
import { outputF32, outputI64, type Runtime } from '../tensor/runtime.ts';
import type { AttributionComponents, ZeroPositions } from './reference.ts';
import { type Dictionary, decoderOutputs } from './types.ts';

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

/**
 * The dictionary's activation of pre-activations pre [nL, T, dTc] (nL stacked layers, 1 for a single layer).
 * `threshold` gives JumpReLU's thresholds, broadcastable to pre ([nL, 1, dTc] or [dTc]); other activations
 * never call it.
 */
export function dictionaryActivation(
  g: GraphBuilder,
  dict: Dictionary,
  pre: Tensor,
  nL: number,
  threshold: () => F32,
): Tensor {
  const a = dict.activation;
  if (a.kind === 'relu') return g.relu(pre);
  if (a.kind === 'jumprelu') {
    let keep = g.greater(pre, g.constant(threshold()));
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

interface Encoded {
  x: Tensor; // [L, T, d]
  bDec: Tensor; // [L, 1, d]
  pre: Tensor; // [L, T, dTc]
  acts: Tensor; // [L, T, dTc]
}

function encodeOps(g: GraphBuilder, dict: Dictionary): Encoded {
  const nL = dict.layers.length;
  const { dTc, dModel: d } = dict;
  const x = g.input('x', 'float32', [nL, 'T', d]);
  const bDec = g.constant(
    stack(
      dict.layers.map((l) => l.bDec),
      [1, d],
    ),
  );
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
  const pre = g.add(g.matmul(input, g.mT(wEnc)), bEnc);
  return {
    x,
    bDec,
    pre,
    acts: dictionaryActivation(g, dict, pre, nL, () =>
      stack(
        dict.layers.map((l) => l.threshold!),
        [1, dict.dTc],
      ),
    ), // thresholds [L, 1, dTc]
  };
}

/** b_dec + skip(x): the part of the reconstruction that does not depend on the features. [L, T, d] */
function baseOps(g: GraphBuilder, dict: Dictionary, e: Encoded): Tensor {
  const d = dict.dModel;
  if (!dict.layers[0].wSkip) return g.add(g.mul(e.x, 0), e.bDec);
  const wSkip = g.constant(
    stack(
      dict.layers.map((l) => l.wSkip!),
      [d, d],
    ),
  ); // [L, dOut, dIn]
  return g.add(g.matmul(e.x, g.mT(wSkip)), e.bDec);
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
  const e = encodeOps(g, dict);
  const outputs: Record<string, Tensor> = { pre: e.pre, acts: e.acts };
  if (recon) {
    let y: Tensor;
    if (dict.kind === 'clt') {
      const w = g.constant(paddedCltDecoder(dict)); // [L, dTc, L·d]
      const summed = g.reduceSum(g.matmul(e.acts, w), [0], false); // [T, L·d]
      y = g.transpose(g.reshape(summed, ['T', nL, d]), [1, 0, 2]); // [L, T, d]
    } else {
      const w = g.constant(
        stack(
          dict.layers.map((l) => l.wDec!),
          [dTc, d],
        ),
      ); // [L, dTc, d]
      y = g.matmul(e.acts, w);
    }
    outputs.recon = g.add(y, baseOps(g, dict, e));
  }
  return g.compile(outputs);
}

/**
 * Encode graph for attribution: input `x` [L, T, d] and `keep` [1, T, 1] (0 at zero positions), outputs the
 * nonzero activations as `indices` [3, N] (layer, pos, feature; row-major, hence canonical order) and
 * `values` [N], plus `base` = b_dec + skip(x) [L, T, d].
 */
export function buildSparseEncodeGraph(dict: Dictionary): Uint8Array {
  const g = new GraphBuilder();
  const e = encodeOps(g, dict);
  const keep = g.input('keep', 'float32', [1, 'T', 1]);
  const acts = g.mul(e.acts, keep);
  const indices = g.node('NonZero', [acts], [[3, 'N']], ['int64'])[0];
  const values = g.node('GatherND', [acts, g.transpose(indices, [1, 0])], [['N']], ['float32'])[0];
  return g.compile({ indices, values, base: baseOps(g, dict, e) });
}

/** Scales decoder rows by their activations and scatter-adds them onto the base reconstruction. */
function buildScatterGraph(d: number): Uint8Array {
  const g = new GraphBuilder();
  const rows = g.input('rows', 'float32', ['N', d]);
  const vals = g.input('vals', 'float32', ['N', 1]);
  const loc = g.input('loc', 'int64', ['N']);
  const base = g.input('base', 'float32', ['LT', d]);
  const vecs = g.mul(rows, vals);
  return g.compile({ vecs, recon: g.add(base, g.scatterAddRows(base, loc, vecs)) });
}

function checkX(dict: Dictionary, x: F32, what: string): void {
  const nL = dict.layers.length;
  if (x.shape.length !== 3 || x.shape[0] !== nL || x.shape[2] !== dict.dModel) {
    throw new Error(`${what}: expected x [${nL}, T, ${dict.dModel}], got [${x.shape.join(', ')}]`);
  }
}

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
  checkX(dict, x, 'runDictionary');
  const recon = opts.reconstruction ?? true;
  const graph = await runtime.graph(`dictionary:${objectId(dict)}:${recon}`, () =>
    buildDictionaryGraph(dict, { reconstruction: recon }),
  );
  const out = await graph.run({ x });
  return {
    pre: outputF32(out, 'pre'),
    acts: outputF32(out, 'acts'),
    ...(recon ? { recon: outputF32(out, 'recon') } : {}),
  };
}

/**
 * circuit-tracer's `compute_attribution_components` with the math in onnxruntime: encoding and sparsifying
 * in one graph, decoder rows of active features only (lazy decoders read just those rows), then scaling and
 * scatter-adding in a second graph. Matches `referenceAttributionComponents`.
 */
export async function computeAttributionComponents(
  runtime: Runtime,
  dict: Dictionary,
  inputs: F32,
  zeroPositions: ZeroPositions = { start: 0, end: 1 },
): Promise<AttributionComponents> {
  checkX(dict, inputs, 'attribution components');
  const nL = dict.layers.length;
  const t = inputs.shape[1];
  const d = dict.dModel;
  const keep = f32([1, t, 1]).data.fill(1);
  for (let p = Math.max(0, zeroPositions.start); p < Math.min(t, zeroPositions.end); p++) keep[p] = 0;
  // Both graphs run once per prompt on buffers that scale with the active features (the scatter's int64
  // indices alone are [N, d]); without the arena that memory is returned after the run, not kept.
  const noArena = { cpuMemArena: false };
  const enc = await runtime.graph(
    `dictionary-sparse:${objectId(dict)}`,
    () => buildSparseEncodeGraph(dict),
    noArena,
  );
  const out = await enc.run({ x: inputs, keep: f32([1, t, 1], keep) });
  const idx = outputI64(out, 'indices').data; // [3, N]
  const value = Float32Array.from(outputF32(out, 'values').data);
  const n = value.length;
  const layer = Int32Array.from(idx.subarray(0, n), Number);
  const pos = Int32Array.from(idx.subarray(n, 2 * n), Number);
  const feature = Int32Array.from(idx.subarray(2 * n, 3 * n), Number);

  const encoderVecs = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const w = dict.layers[layer[i]].wEnc.data;
    encoderVecs.set(w.subarray(feature[i] * d, (feature[i] + 1) * d), i * d);
  }
  let nDec = 0;
  for (let i = 0; i < n; i++) nDec += decoderOutputs(dict, layer[i]);
  const rows = new Float32Array(nDec * d);
  const vals = new Float32Array(nDec);
  const loc = new BigInt64Array(nDec);
  const map = new Int32Array(nDec);
  const locations = new Int32Array(2 * nDec);
  let j = 0;
  let start = 0;
  while (start < n) {
    let end = start;
    while (end < n && layer[end] === layer[start]) end++;
    const l = layer[start];
    const nOut = decoderOutputs(dict, l);
    const r = await dict.decoder.rows(l, feature.subarray(start, end)); // [end − start, nOut, d]
    rows.set(r.data, j * d);
    for (let i = start; i < end; i++) {
      for (let o = 0; o < nOut; o++, j++) {
        vals[j] = value[i];
        loc[j] = BigInt((l + o) * t + pos[i]);
        map[j] = i;
        locations[j] = l + o;
        locations[nDec + j] = pos[i];
      }
    }
    start = end;
  }
  const base = outputF32(out, 'base');
  let decoderVecs: Float32Array = new Float32Array(0);
  let recon: Float32Array = base.data;
  if (nDec > 0) {
    const scatter = await runtime.graph(`dictionary-scatter:${d}`, () => buildScatterGraph(d), noArena);
    const s = await scatter.run({
      rows: f32([nDec, d], rows),
      vals: f32([nDec, 1], vals),
      loc: { dtype: 'int64', shape: [nDec], data: loc },
      base: f32([nL * t, d], base.data),
    });
    decoderVecs = outputF32(s, 'vecs').data;
    recon = outputF32(s, 'recon').data;
  }
  return {
    activations: { nLayers: nL, nPos: t, dTc: dict.dTc, layer, pos, feature, value },
    reconstruction: f32([nL, t, d], recon),
    encoderVecs: f32([n, d], encoderVecs),
    decoderVecs: f32([nDec, d], decoderVecs),
    encoderToDecoderMap: map,
    decoderLocations: locations,
  };
}

/** MatMul then TopK both ways; k and the vocabulary size are baked into the graph. */
function buildLogitEffectsGraph(d: number, vocab: number, k: number): Uint8Array {
  const g = new GraphBuilder();
  const rows = g.input('rows', 'float32', ['N', d]);
  const unembed = g.input('unembed', 'float32', [d, vocab]);
  const effects = g.matmul(rows, unembed); // [N, V]
  const topk = (largest: number) =>
    g.node(
      'TopK',
      [effects, g.ints([k])],
      [
        ['N', k],
        ['N', k],
      ],
      ['float32', 'int64'],
      { axis: -1, largest, sorted: 1 },
    );
  const [topValues, top] = topk(1);
  const [bottomValues, bottom] = topk(0);
  return g.compile({ top, topValues, bottom, bottomValues });
}

export interface LogitEffects {
  top: Int32Array; // [N, k] token ids, most promoted first
  topValues: Float32Array; // [N, k]
  bottom: Int32Array; // [N, k] token ids, most suppressed first
  bottomValues: Float32Array; // [N, k]
}

/**
 * Direct logit effects of decoder rows through the unembedding, rows [N, dModel] @ unembed [dModel, V], and
 * the k most promoted and suppressed tokens of each row (the feature index's top_logits / bottom_logits).
 */
export async function topLogitEffects(
  runtime: Runtime,
  rows: F32,
  unembed: F32,
  k: number,
): Promise<LogitEffects> {
  if (rows.shape.length !== 2 || unembed.shape.length !== 2 || rows.shape[1] !== unembed.shape[0]) {
    throw new Error(
      `topLogitEffects: expected rows [N, d] and unembed [d, V], got [${rows.shape.join(', ')}] and [${unembed.shape.join(', ')}]`,
    );
  }
  const [n, d] = rows.shape;
  const vocab = unembed.shape[1];
  if (!Number.isInteger(k) || k <= 0 || k > vocab)
    throw new Error(`topLogitEffects: k must be in [1, ${vocab}], got ${k}`);
  if (n === 0) {
    return {
      top: new Int32Array(0),
      topValues: new Float32Array(0),
      bottom: new Int32Array(0),
      bottomValues: new Float32Array(0),
    };
  }
  const graph = await runtime.graph(`logit-effects:${d}:${vocab}:${k}`, () =>
    buildLogitEffectsGraph(d, vocab, k),
  );
  const out = await graph.run({ rows, unembed });
  return {
    top: Int32Array.from(outputI64(out, 'top').data, Number),
    topValues: outputF32(out, 'topValues').data,
    bottom: Int32Array.from(outputI64(out, 'bottom').data, Number),
    bottomValues: outputF32(out, 'bottomValues').data,
  };
}
