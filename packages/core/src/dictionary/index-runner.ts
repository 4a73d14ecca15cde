/**
 * The corpus runner: every feature of a dictionary over a held-out corpus, in circuit-tracer's feature JSON /
 * index.json.gz layout. Per token batch: one forward graph up to the input hooks, one sparse-encode graph over
 * all B·T positions of every layer (only nonzero activations leave onnxruntime), then the streaming
 * FeatureLayerStats bookkeeping. Logit effects are one MatMul+TopK graph per layer over all decoder rows.
 */
import { type FileAccess, readJsonFile } from '../io/files.ts';
import type { Model } from '../model/model.ts';
import { f32, type F32 } from '../tensor/host.ts';
import { objectId } from '../tensor/object-id.ts';
import type { Runtime } from '../tensor/runtime.ts';
import { z } from 'zod';
import { FeatureIndexReader, writeFeatureIndex } from './feature-index.ts';
import { type HeldOutPassOptions, heldOutBatches } from './held-out.ts';
import { validateAgainstModel } from './load.ts';
import {
  type FeatureJson,
  FeatureLayerStats,
  type FeatureLogits,
  type FeatureStatsOptions,
  labelFeature,
} from './features.ts';
import { buildSparseEncodeGraph, topLogitEffects } from './onnx.ts';
import { hookRunner, type TokenBatches } from './train.ts';
import { type Dictionary, decoderOutputs, inputHookName } from './types.ts';

export interface FeatureIndexOptions extends HeldOutPassOptions {
  /** Display string of a token id (e.g. tokenizer.idToToken). */
  tokenString: (id: number) => string;
  /** Positions whose token is one of these record no activation (BOS, padding), as circuit-tracer zeroes BOS. */
  excludeTokens?: readonly number[];
  /** Stop after this many batches (default 64); a finite source may end earlier. */
  maxBatches?: number;
  stats?: FeatureStatsOptions;
  /** Tokens in top_logits / bottom_logits and values in top_logit_values / bottom_logit_values (default 10). */
  logitTokens?: number;
}

export interface FeatureIndexResult {
  /** Feature records by model layer, feature order. */
  features: Map<number, FeatureJson[]>;
  /** Automatic labels (labelFeature), same layout. */
  labels: Map<number, string[]>;
  contexts: number;
  tokens: number;
}

/**
 * A decoder row without its component along the decoder bias b of the layer it writes: r − (r·b / b·b) b.
 * A feature whose row mostly points against b cancels the bias rather than writing a direction of its own,
 * and the unembedding of −b (tokens such as padding) would otherwise be what its label says it promotes.
 */
export function withoutBiasDirection(row: Float32Array, bias: Float32Array): Float32Array {
  let rb = 0;
  let bb = 0;
  for (let j = 0; j < bias.length; j++) {
    rb += row[j] * bias[j];
    bb += bias[j] * bias[j];
  }
  if (bb === 0) return Float32Array.from(row);
  const c = rb / bb;
  return Float32Array.from(row, (x, j) => x - c * bias[j]);
}

/**
 * Direct effect of each feature on the logits, bias-corrected (the values kept as top_logit_values /
 * bottom_logit_values beside the ranked tokens): its decoder rows, each without its component
 * along the decoder bias of the layer it writes (withoutBiasDirection), through the unembedding (without the
 * final norm, as circuit-tracer's feature pages do). A CLT feature's rows at every output layer all reach the
 * unembedding, so they are summed.
 */
async function featureLogits(
  runtime: Runtime,
  model: Model,
  dict: Dictionary,
  li: number,
  k: number,
  name: (id: number) => string,
) {
  const all = Int32Array.from({ length: dict.dTc }, (_, f) => f);
  const rows = await dict.decoder.rows(li, all);
  const nOut = decoderOutputs(dict, li);
  const d = dict.dModel;
  const out = new Float32Array(dict.dTc * d); // [dTc, d]
  for (let f = 0; f < dict.dTc; f++) {
    for (let o = 0; o < nOut; o++) {
      const at = (f * nOut + o) * d;
      const row = withoutBiasDirection(rows.data.subarray(at, at + d), dict.layers[li + o].bDec.data);
      for (let j = 0; j < d; j++) out[f * d + j] += row[j];
    }
  }
  const summed = f32([dict.dTc, d], out);
  const eff = await topLogitEffects(runtime, summed, model.weights.unembed, Math.min(k, model.config.dVocab));
  const kk = eff.top.length / dict.dTc;
  return (f: number): FeatureLogits => ({
    top: Array.from(eff.top.subarray(f * kk, (f + 1) * kk), name),
    bottom: Array.from(eff.bottom.subarray(f * kk, (f + 1) * kk), name),
    topValues: eff.topValues.subarray(f * kk, (f + 1) * kk),
    bottomValues: eff.bottomValues.subarray(f * kk, (f + 1) * kk),
  });
}

/** Runs the model and the dictionary over `batches` and builds every feature's record and label. */
export async function buildFeatureIndex(
  runtime: Runtime,
  model: Model,
  dict: Dictionary,
  batches: TokenBatches,
  options: FeatureIndexOptions,
): Promise<FeatureIndexResult> {
  validateAgainstModel(dict, model.config, { everyLayer: false });
  const held = heldOutBatches(batches, options, 64, 'buildFeatureIndex');
  const exclude = new Set(options.excludeTokens ?? []);
  const L = dict.layers.length;
  const d = dict.dModel;
  const hooks = dict.layers.map((_, i) => inputHookName(dict, i));
  const run = await hookRunner(runtime, model, hooks);
  const encode = await runtime.graph(`feature-index-encode:${objectId(dict)}`, () =>
    buildSparseEncodeGraph(dict),
  );
  const stats = dict.layers.map((l) => new FeatureLayerStats(l.layer, dict.dTc, options.stats));
  const contexts: Int32Array[] = [];
  let tokens = 0;
  for await (const seqs of held) {
    const B = seqs.length;
    const T = seqs[0].length;
    const cache = await run(seqs);
    const x = new Float32Array(L * B * T * d); // [L, B·T, d]: the batch as one long sequence
    hooks.forEach((h, l) => {
      x.set((cache.get(h) as F32).data, l * B * T * d);
    });
    const keep = new Float32Array(B * T);
    seqs.forEach((s, b) => {
      for (let t = 0; t < T; t++) keep[b * T + t] = exclude.has(s[t]) ? 0 : 1;
    });
    const out = await encode.run({ x: f32([L, B * T, d], x), keep: f32([1, B * T, 1], keep) });
    const idx = out.indices.data as BigInt64Array; // [3, N]: (layer, position, feature), canonical order
    const values = out.values.data as Float32Array;
    const n = values.length;
    // Records of one (layer, sequence) are contiguous because positions are b·T + t: bounds[l·B + b].
    const bounds = new Int32Array(L * B + 1).fill(n);
    for (let r = n - 1; r >= 0; r--) bounds[Number(idx[r]) * B + Math.floor(Number(idx[n + r]) / T)] = r;
    for (let g = L * B - 1; g >= 0; g--) bounds[g] = Math.min(bounds[g], bounds[g + 1]);
    for (let b = 0; b < B; b++) {
      let kept = 0;
      for (let t = 0; t < T; t++) kept += keep[b * T + t];
      for (let l = 0; l < L; l++) {
        const from = bounds[l * B + b];
        const to = bounds[l * B + b + 1];
        const pos = Int32Array.from(idx.subarray(n + from, n + to), (p) => Number(p) - b * T);
        const feature = Int32Array.from(idx.subarray(2 * n + from, 2 * n + to), Number);
        stats[l].addContext(contexts.length, T, pos, feature, values.subarray(from, to), kept);
      }
      contexts.push(seqs[b]);
      tokens += kept;
    }
  }
  if (contexts.length === 0) throw new Error('buildFeatureIndex: the corpus gave no batches');
  const tokenStrings = new Map<number, string[]>();
  const tokensOf = (c: number): string[] => {
    let s = tokenStrings.get(c);
    if (!s) tokenStrings.set(c, (s = Array.from(contexts[c], options.tokenString)));
    return s;
  };
  const features = new Map<number, FeatureJson[]>();
  const labels = new Map<number, string[]>();
  for (let li = 0; li < L; li++) {
    options.signal?.throwIfAborted();
    const logitsOf = await featureLogits(
      runtime,
      model,
      dict,
      li,
      options.logitTokens ?? 10,
      options.tokenString,
    );
    const layer = dict.layers[li].layer;
    const recs = Array.from({ length: dict.dTc }, (_, f) => stats[li].finalize(f, tokensOf, logitsOf(f)));
    features.set(layer, recs);
    labels.set(
      layer,
      recs.map((r) => labelFeature(r)),
    );
  }
  return { features, labels, contexts: contexts.length, tokens };
}

/** Writes `index.json.gz`, `layer_{l}.bin` and `labels.json` ({ "<layer>": string[] }) into `dir`. */
export async function writeFeatureIndexDir(
  files: FileAccess,
  dir: string,
  result: FeatureIndexResult,
): Promise<void> {
  await writeFeatureIndex(files, dir, result.features);
  const labels = Object.fromEntries([...result.labels.entries()].map(([l, xs]) => [String(l), xs]));
  await files.writeFile(files.join(dir, 'labels.json'), new TextEncoder().encode(JSON.stringify(labels)));
}

/**
 * Labels of an index directory by model layer: `labels.json` when the directory has one, otherwise the
 * automatic label of each record (a circuit-tracer index has records only).
 */
export async function readFeatureLabels(files: FileAccess, dir: string): Promise<Map<number, string[]>> {
  const labelsFile = files.join(dir, 'labels.json');
  const out = new Map<number, string[]>();
  if (await files.exists(labelsFile)) {
    const labels = await readJsonFile(files, labelsFile);
    const parsed = z.record(z.string().regex(/^\d+$/), z.array(z.string())).safeParse(labels);
    if (!parsed.success) throw new Error(`${labelsFile}: expected { "<layer>": string[] }`);
    for (const [l, xs] of Object.entries(parsed.data)) out.set(Number(l), xs);
    return out;
  }
  const reader = await FeatureIndexReader.open(files, dir);
  try {
    for (const l of reader.layers()) {
      const labels: string[] = [];
      for (let f = 0; f < reader.featureCount(l); f++) labels.push(labelFeature(await reader.read(l, f)));
      out.set(l, labels);
    }
  } finally {
    await reader.close();
  }
  return out;
}
