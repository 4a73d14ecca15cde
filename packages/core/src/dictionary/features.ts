/**
 * The feature index: what a user sees about one dictionary feature, in circuit-tracer's feature JSON layout
 * (frontend/feature_models.py) so its graph viewer and external tools read Loupe's files unchanged.
 * This module is the model-free bookkeeping: streaming statistics over sparse activation records,
 * logit-effect ranking, the automatic label. Running the model over a corpus lives elsewhere.
 */
import { z } from 'zod';
import { seededRandom } from '../model/init.ts';
import { positiveInt } from '../tensor/checks.ts';

export const featureExampleSchema = z.object({
  tokens_acts_list: z.array(z.number()),
  train_token_ind: z.number().int().nonnegative(),
  is_repeated_datapoint: z.boolean(),
  tokens: z.array(z.string()),
});

export const featureQuantileSchema = z.object({
  quantile_name: z.string(),
  examples: z.array(featureExampleSchema),
});

export const featureJsonSchema = z
  .object({
    transcoder_id: z.string(),
    index: z.number().int().nonnegative(),
    examples_quantiles: z.array(featureQuantileSchema),
    top_logits: z.array(z.string()),
    bottom_logits: z.array(z.string()),
    /**
     * Loupe's addition: the logit effect of each top_logits / bottom_logits token, in the same order (most
     * promoted first, most suppressed first). Optional, so circuit-tracer's records and indexes built
     * before the values were kept still load; readers fall back to ranks without them.
     */
    top_logit_values: z.array(z.number()).optional(),
    bottom_logit_values: z.array(z.number()).optional(),
    act_min: z.number(),
    act_max: z.number(),
    quantile_values: z.array(z.number()),
    histogram: z.array(z.number()),
    activation_frequency: z.number().min(0).max(1),
  })
  .superRefine((f, ctx) => {
    for (const side of ['top', 'bottom'] as const) {
      const values = f[`${side}_logit_values`];
      const tokens = f[`${side}_logits`];
      if (values && values.length !== tokens.length) {
        ctx.addIssue({
          code: 'custom',
          path: [`${side}_logit_values`],
          message: `has ${values.length} values for ${tokens.length} ${side}_logits tokens`,
        });
      }
    }
  });

export type FeatureExample = z.infer<typeof featureExampleSchema>;
export type FeatureQuantile = z.infer<typeof featureQuantileSchema>;
export type FeatureJson = z.infer<typeof featureJsonSchema>;

/** Cantor pairing, circuit-tracer's feature id: (l + f)(l + f + 1)/2 + f. */
export function cantorPair(layer: number, feature: number): number {
  if (!Number.isInteger(layer) || !Number.isInteger(feature) || layer < 0 || feature < 0) {
    throw new Error(`cantorPair: layer and feature must be non-negative integers, got ${layer}, ${feature}`);
  }
  const s = layer + feature;
  const z = (s * (s + 1)) / 2 + feature;
  if (!Number.isSafeInteger(z))
    throw new Error(`cantorPair: (${layer}, ${feature}) overflows a safe integer`);
  return z;
}

export function cantorUnpair(z: number): { layer: number; feature: number } {
  if (!Number.isSafeInteger(z) || z < 0)
    throw new Error(`cantorUnpair: expected a non-negative safe integer, got ${z}`);
  let w = Math.floor((Math.sqrt(8 * z + 1) - 1) / 2);
  // Float sqrt can be off by one near perfect squares; settle it in integers.
  while ((w * (w + 1)) / 2 > z) w--;
  while (((w + 1) * (w + 2)) / 2 <= z) w++;
  const feature = z - (w * (w + 1)) / 2;
  return { layer: w - feature, feature };
}

/** Indices of the k largest and k smallest values (ties: lower index first). */
export function topBottomIndices(values: Float32Array, k: number): { top: number[]; bottom: number[] } {
  const idx = Array.from({ length: values.length }, (_, i) => i);
  const n = Math.min(k, values.length);
  const top = [...idx].sort((a, b) => values[b] - values[a] || a - b).slice(0, n);
  const bottom = idx.sort((a, b) => values[a] - values[b] || a - b).slice(0, n);
  return { top, bottom };
}

function quoteToken(t: string): string {
  return `'${t.replace(/\n/g, '\\n').replace(/\t/g, '\\t')}'`;
}

/**
 * The tokens a feature fires on most, from its examples: each example votes for its peak token with the
 * peak activation, so a token that is the peak in many strong contexts ranks first.
 */
export function firingTokens(quantiles: readonly FeatureQuantile[], n = 3): string[] {
  const score = new Map<string, number>();
  for (const q of quantiles) {
    for (const ex of q.examples) {
      if (ex.is_repeated_datapoint) continue;
      const tok = ex.tokens[ex.train_token_ind];
      const act = ex.tokens_acts_list[ex.train_token_ind];
      if (tok === undefined || !(act > 0)) continue;
      score.set(tok, (score.get(tok) ?? 0) + act);
    }
  }
  return [...score.entries()]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, n)
    .map(([t]) => t);
}

/**
 * The strongest example's text up to and including its peak token, at most `before` tokens of left context:
 * where the feature fires, not only on what. Empty when the feature has no examples.
 */
export function topContext(quantiles: readonly FeatureQuantile[], before = 4): string {
  let best: FeatureExample | undefined;
  for (const q of quantiles) {
    for (const ex of q.examples) {
      const act = ex.tokens_acts_list[ex.train_token_ind];
      if (act > 0 && (!best || act > best.tokens_acts_list[best.train_token_ind])) best = ex;
    }
  }
  if (!best) return '';
  const from = Math.max(0, best.train_token_ind - before);
  return joinTokens(best.tokens.slice(from, best.train_token_ind + 1));
}

/**
 * Token strings as text: byte-level BPE and SentencePiece pieces carry their own spaces (' ', 'Ġ', '▁') and
 * are concatenated; a word-level vocabulary's tokens (the organisms') are joined with spaces.
 */
export function joinTokens(tokens: readonly string[]): string {
  const pieces = tokens.some((t) => /^[ Ġ▁]/.test(t));
  return pieces ? tokens.join('').replace(/[Ġ▁]/g, ' ').trim() : tokens.join(' ');
}

/** e.g. "fires on 'Texas', 'Dallas' (as in 'capital of Texas'); promotes 'Austin'; suppresses 'the'". */
export function autoLabel(parts: {
  firing: readonly string[];
  context?: string;
  promotes: readonly string[];
  suppresses?: readonly string[];
}): string {
  const out: string[] = [];
  const fmt = (ts: readonly string[]) => ts.map(quoteToken).join(', ');
  const context = parts.context ? ` (as in ${quoteToken(parts.context)})` : '';
  if (parts.firing.length > 0) out.push(`fires on ${fmt(parts.firing)}${context}`);
  if (parts.promotes.length > 0) out.push(`promotes ${fmt(parts.promotes)}`);
  if (parts.suppresses && parts.suppresses.length > 0) out.push(`suppresses ${fmt(parts.suppresses)}`);
  return out.length > 0 ? out.join('; ') : 'no activations';
}

/**
 * The automatic label of a finished feature record: the tokens it fires on, its strongest context, and the
 * logits it promotes (bias-corrected when the record came from buildFeatureIndex).
 */
export function labelFeature(f: FeatureJson, nFiring = 2, nLogits = 2): string {
  if (f.activation_frequency === 0) return 'no activations';
  return autoLabel({
    firing: firingTokens(f.examples_quantiles, nFiring),
    context: topContext(f.examples_quantiles),
    promotes: f.top_logits.slice(0, nLogits),
  });
}

/** A feature's most promoted and most suppressed tokens, optionally with their logit effects (same order). */
export interface FeatureLogits {
  top: readonly string[];
  bottom: readonly string[];
  topValues?: ArrayLike<number>;
  bottomValues?: ArrayLike<number>;
}

export interface FeatureStatsOptions {
  /** Examples in the "Top activations" group. */
  topK?: number;
  /** Bands of activating contexts below the top group, split by their peak activation. */
  nQuantiles?: number;
  examplesPerQuantile?: number;
  /** Uniform sample of activating contexts per feature from which the bands are drawn. */
  reservoirSize?: number;
  histogramBins?: number;
  seed?: number;
}

interface ExampleRef {
  context: number;
  acts: Float32Array; // [nTokens] this feature's activation at every token of the context
  peak: number;
  argmax: number;
}

const INTERNAL_BINS = 256;

/**
 * Streaming per-feature statistics for one dictionary layer. Memory is O(dTc · (INTERNAL_BINS + examples)),
 * independent of the corpus size:
 * - density: tokens with a nonzero activation / all tokens seen;
 * - act_min/act_max: exact, over nonzero activations;
 * - histogram: a doubling fixed-bin histogram of positive activations (values ≤ 0 fall in bin 0), rebinned
 *   at the end to `histogramBins` equal bins over [0, act_max]; accurate to one internal bin;
 * - examples: an exact top-K of contexts by peak activation, plus a seeded reservoir sample of activating
 *   contexts whose peaks define the quantile bands.
 */
export class FeatureLayerStats {
  private totalTokens = 0;
  private readonly count: Float64Array; // [dTc] nonzero activations
  private readonly min: Float32Array; // [dTc]
  private readonly max: Float32Array; // [dTc]
  private readonly hist: Float64Array; // [dTc, INTERNAL_BINS]
  private readonly binWidth: Float64Array; // [dTc], 0 until the first positive value
  private readonly top = new Map<number, ExampleRef[]>(); // sorted by peak, descending
  private readonly reservoir = new Map<number, ExampleRef[]>();
  private readonly seen: Float64Array; // [dTc] activating contexts
  private readonly random: () => number;
  private readonly opts: Required<FeatureStatsOptions>;

  constructor(
    readonly layer: number,
    readonly dTc: number,
    opts: FeatureStatsOptions = {},
  ) {
    positiveInt(dTc, 'FeatureLayerStats: dTc');
    this.opts = {
      topK: opts.topK ?? 10,
      nQuantiles: opts.nQuantiles ?? 5,
      examplesPerQuantile: opts.examplesPerQuantile ?? 5,
      reservoirSize: opts.reservoirSize ?? 50,
      histogramBins: opts.histogramBins ?? 32,
      seed: opts.seed ?? 0,
    };
    this.count = new Float64Array(dTc);
    this.min = new Float32Array(dTc).fill(Number.POSITIVE_INFINITY);
    this.max = new Float32Array(dTc).fill(Number.NEGATIVE_INFINITY);
    this.hist = new Float64Array(dTc * INTERNAL_BINS);
    this.binWidth = new Float64Array(dTc);
    this.seen = new Float64Array(dTc);
    this.random = seededRandom(this.opts.seed);
  }

  /**
   * One context of `nTokens` tokens: this layer's nonzero activations as (pos, feature, value) records,
   * in any order. `context` identifies the context for `tokensOf` at the end. `countedTokens` (default
   * nTokens) is how many of its positions count towards the activation density (excluding BOS or padding).
   */
  addContext(
    context: number,
    nTokens: number,
    pos: Int32Array,
    feature: Int32Array,
    value: Float32Array,
    countedTokens = nTokens,
  ): void {
    if (pos.length !== feature.length || pos.length !== value.length) {
      throw new Error('FeatureLayerStats.addContext: pos, feature and value must have the same length');
    }
    if (!(countedTokens >= 0 && countedTokens <= nTokens)) {
      throw new Error(
        `FeatureLayerStats.addContext: countedTokens ${countedTokens} is outside [0, ${nTokens}]`,
      );
    }
    this.totalTokens += countedTokens;
    const perFeature = new Map<number, Float32Array>();
    for (let i = 0; i < value.length; i++) {
      const v = value[i];
      if (v === 0) continue;
      const f = feature[i];
      const p = pos[i];
      if (f < 0 || f >= this.dTc)
        throw new Error(`FeatureLayerStats: feature ${f} is outside [0, ${this.dTc})`);
      if (p < 0 || p >= nTokens)
        throw new Error(`FeatureLayerStats: position ${p} is outside [0, ${nTokens})`);
      let acts = perFeature.get(f);
      if (!acts) perFeature.set(f, (acts = new Float32Array(nTokens)));
      acts[p] = v;
      this.count[f]++;
      if (v < this.min[f]) this.min[f] = v;
      if (v > this.max[f]) this.max[f] = v;
      this.addToHistogram(f, v);
    }
    for (const [f, acts] of perFeature) {
      let argmax = 0;
      for (let p = 1; p < nTokens; p++) if (acts[p] > acts[argmax]) argmax = p;
      this.addExample(f, { context, acts, peak: acts[argmax], argmax });
    }
  }

  private addToHistogram(f: number, v: number): void {
    const base = f * INTERNAL_BINS;
    if (v <= 0) {
      this.hist[base]++;
      return;
    }
    if (this.binWidth[f] === 0) this.binWidth[f] = (2 * v) / INTERNAL_BINS;
    while (v >= this.binWidth[f] * INTERNAL_BINS) {
      for (let i = 0; i < INTERNAL_BINS / 2; i++)
        this.hist[base + i] = this.hist[base + 2 * i] + this.hist[base + 2 * i + 1];
      this.hist.fill(0, base + INTERNAL_BINS / 2, base + INTERNAL_BINS);
      this.binWidth[f] *= 2;
    }
    this.hist[base + Math.floor(v / this.binWidth[f])]++;
  }

  private addExample(f: number, ex: ExampleRef): void {
    const { topK, reservoirSize } = this.opts;
    let top = this.top.get(f);
    if (!top) this.top.set(f, (top = []));
    if (top.length < topK || ex.peak > top[top.length - 1].peak) {
      let i = top.length;
      while (i > 0 && top[i - 1].peak < ex.peak) i--;
      top.splice(i, 0, ex);
      if (top.length > topK) top.pop();
    }
    this.seen[f]++;
    let res = this.reservoir.get(f);
    if (!res) this.reservoir.set(f, (res = []));
    if (res.length < reservoirSize) res.push(ex);
    else {
      const j = Math.floor(this.random() * this.seen[f]);
      if (j < reservoirSize) res[j] = ex;
    }
  }

  activationFrequency(f: number): number {
    return this.totalTokens === 0 ? 0 : this.count[f] / this.totalTokens;
  }

  /** Histogram of nonzero activations in `histogramBins` equal bins over [0, act_max]. */
  histogram(f: number): number[] {
    const nOut = this.opts.histogramBins;
    const out = new Array<number>(nOut).fill(0);
    const max = this.max[f];
    if (!(this.count[f] > 0)) return out;
    const w = this.binWidth[f];
    for (let i = 0; i < INTERNAL_BINS; i++) {
      const c = this.hist[f * INTERNAL_BINS + i];
      if (c === 0) continue;
      const center = w === 0 || max <= 0 ? 0 : Math.min((i + 0.5) * w, max);
      const b = max <= 0 ? 0 : Math.min(nOut - 1, Math.floor((center / max) * nOut));
      out[b] += c;
    }
    return out;
  }

  /**
   * The feature's JSON record; `tokensOf` returns the token strings of a context passed to addContext.
   * `logits` are the ranked tokens and, when given, their logit effects (top_logit_values/bottom_logit_values).
   */
  finalize(
    f: number,
    tokensOf: (context: number) => readonly string[],
    logits: FeatureLogits = { top: [], bottom: [] },
    transcoderId = String(this.layer),
  ): FeatureJson {
    const { nQuantiles, examplesPerQuantile } = this.opts;
    const used = new Set<number>();
    const toJson = (ex: ExampleRef): FeatureExample => {
      const tokens = [...tokensOf(ex.context)];
      if (tokens.length !== ex.acts.length) {
        throw new Error(
          `feature ${f}: context ${ex.context} has ${tokens.length} tokens but ${ex.acts.length} activations`,
        );
      }
      const repeated = used.has(ex.context);
      used.add(ex.context);
      return {
        tokens_acts_list: Array.from(ex.acts),
        train_token_ind: ex.argmax,
        is_repeated_datapoint: repeated,
        tokens,
      };
    };
    const quantiles: FeatureQuantile[] = [];
    const quantileValues: number[] = [];
    const top = this.top.get(f) ?? [];
    if (top.length > 0) quantiles.push({ quantile_name: 'Top activations', examples: top.map(toJson) });
    const sample = [...(this.reservoir.get(f) ?? [])].sort(
      (a, b) => b.peak - a.peak || a.context - b.context,
    );
    for (let q = 0; q < nQuantiles && sample.length > 0; q++) {
      const lo = Math.floor((q * sample.length) / nQuantiles);
      const hi = Math.floor(((q + 1) * sample.length) / nQuantiles);
      if (hi <= lo) continue;
      const band = sample.slice(lo, hi);
      const step = band.length / Math.min(examplesPerQuantile, band.length);
      const picked = Array.from(
        { length: Math.min(examplesPerQuantile, band.length) },
        (_, i) => band[Math.floor(i * step)],
      );
      quantileValues.push(band[band.length - 1].peak);
      quantiles.push({ quantile_name: `Subsample Interval ${q}`, examples: picked.map(toJson) });
    }
    const active = this.count[f] > 0;
    return {
      transcoder_id: transcoderId,
      index: cantorPair(this.layer, f),
      examples_quantiles: quantiles,
      top_logits: [...logits.top],
      bottom_logits: [...logits.bottom],
      ...(logits.topValues ? { top_logit_values: Array.from(logits.topValues) } : {}),
      ...(logits.bottomValues ? { bottom_logit_values: Array.from(logits.bottomValues) } : {}),
      act_min: active ? this.min[f] : 0,
      act_max: active ? this.max[f] : 0,
      quantile_values: quantileValues,
      histogram: this.histogram(f),
      activation_frequency: this.activationFrequency(f),
    };
  }
}
