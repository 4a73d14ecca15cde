/**
 * Logit targets: which output directions the graph explains, with their weights and the
 * residual-space vectors injected at the final-norm output of the last position.
 *
 * Vocabulary targets use the demeaned unembedding column u_i − ū, so the attributed quantity is
 * logit_i − mean(logits), which leaves the softmax unchanged. Custom directions are used as given. A logit
 * difference A − B is the difference of the two demeaned columns, (u_a − ū) − (u_b − ū) = u_a − u_b: the
 * attributed quantity is logit_a − logit_b itself (before any softcap and b_U).
 */
import type { F32 } from '../tensor/host.ts';
import type { LogitTarget } from './graph.ts';
import { positiveInt } from '../tensor/checks.ts';

/** Encodes WITHOUT adding special tokens (as `add_special_tokens=False`). */
export interface TargetTokenizer {
  encode(text: string): ArrayLike<number>;
  decode(ids: number[]): string;
}

export interface CustomTarget {
  tokenStr: string;
  /** Weight in influence ranking and pruning. */
  prob: number;
  vec: Float32Array; // [dModel]
}

export type TargetSpec =
  | { kind: 'salient'; maxNLogits?: number; desiredLogitProb?: number }
  | { kind: 'ids'; ids: readonly number[] }
  | { kind: 'strings'; tokens: readonly string[] }
  /** Token ids and single-token strings, mixed. */
  | { kind: 'tokens'; tokens: readonly (number | string)[] }
  | { kind: 'custom'; targets: readonly CustomTarget[] }
  /** logit(a) − logit(b); a and b are token ids or single-token strings; prob weights it (default 1). */
  | { kind: 'diff'; a: number | string; b: number | string; prob?: number };

export interface TargetContext {
  /** Real logits at the last position (after any softcap). */
  logits: Float32Array; // [dVocab]
  unembed: F32; // [dModel, dVocab]
  /** ū, if the caller already has it (e.g. from a ReduceMean graph); computed here otherwise. */
  unembedMean?: Float32Array; // [dModel]
  tokenizer: TargetTokenizer;
}

export interface ResolvedTargets {
  logitTargets: LogitTarget[]; // [K]
  logitProbabilities: Float32Array; // [K]
  logitVectors: Float32Array; // [K, dModel]
}

function unembedDims(u: F32, dVocab: number): { dModel: number; dVocab: number } {
  if (u.shape.length !== 2 || u.shape[1] !== dVocab || u.data.length !== u.shape[0] * u.shape[1]) {
    throw new Error(`targets: unembed must be [dModel, ${dVocab}], got [${u.shape.join(', ')}]`);
  }
  return { dModel: u.shape[0], dVocab };
}

/** ū[d] = mean over the vocabulary of U[d, :]; one contiguous pass per row of the [dModel, dVocab] matrix. */
export function unembedMean(unembed: F32): Float32Array {
  if (unembed.shape.length !== 2)
    throw new Error(`unembedMean: expected [dModel, dVocab], got [${unembed.shape.join(', ')}]`);
  const [dModel, dVocab] = unembed.shape;
  if (dVocab === 0) throw new Error('unembedMean: the vocabulary is empty');
  const out = new Float32Array(dModel);
  const u = unembed.data;
  for (let d = 0; d < dModel; d++) {
    let s = 0;
    const base = d * dVocab;
    for (let j = 0; j < dVocab; j++) s += u[base + j];
    out[d] = s / dVocab;
  }
  return out;
}

export function softmax(logits: Float32Array): Float64Array {
  if (logits.length === 0) throw new Error('softmax: no logits');
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  if (!Number.isFinite(max)) throw new Error(`softmax: logits have no finite maximum (${max})`);
  const p = new Float64Array(logits.length);
  let s = 0;
  for (let i = 0; i < logits.length; i++) s += p[i] = Math.exp(logits[i] - max);
  for (let i = 0; i < logits.length; i++) p[i] /= s;
  return p;
}

/** Indices of the k largest values, descending; equal values keep ascending index order. */
export function topK(values: ArrayLike<number>, k: number): Int32Array {
  const n = values.length;
  const m = Math.min(k, n);
  const idx = new Int32Array(m);
  let len = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (len === m && !(v > values[idx[m - 1]])) continue;
    let j = len < m ? len++ : m - 1;
    while (j > 0 && v > values[idx[j - 1]]) {
      idx[j] = idx[j - 1];
      j--;
    }
    idx[j] = i;
  }
  return idx;
}

/** Salient mode: the top max_n_logits, cut at the first k whose cumulative probability reaches desired_logit_prob. */
export function salientTargetIds(
  probs: Float64Array,
  maxNLogits: number,
  desiredLogitProb: number,
): Int32Array {
  positiveInt(maxNLogits, 'max_n_logits');
  if (!(desiredLogitProb >= 0 && desiredLogitProb <= 1)) {
    throw new Error(`desired_logit_prob must be between 0 and 1, got ${desiredLogitProb}`);
  }
  const top = topK(probs, maxNLogits);
  let cum = 0;
  let cutoff = top.length;
  for (let i = 0; i < top.length; i++) {
    cum += probs[top[i]];
    if (cum >= desiredLogitProb) {
      cutoff = i + 1;
      break;
    }
  }
  return top.slice(0, cutoff);
}

function vocabTargets(ids: ArrayLike<number>, ctx: TargetContext, probs: Float64Array): ResolvedTargets {
  const { dModel, dVocab } = unembedDims(ctx.unembed, ctx.logits.length);
  const mean = ctx.unembedMean ?? unembedMean(ctx.unembed);
  if (mean.length !== dModel)
    throw new Error(`targets: unembedMean has ${mean.length} entries, expected ${dModel}`);
  const k = ids.length;
  const u = ctx.unembed.data;
  const logitTargets: LogitTarget[] = [];
  const logitProbabilities = new Float32Array(k);
  const logitVectors = new Float32Array(k * dModel);
  for (let i = 0; i < k; i++) {
    const id = ids[i];
    logitTargets.push({ tokenStr: ctx.tokenizer.decode([id]), vocabIdx: id });
    logitProbabilities[i] = probs[id];
    for (let d = 0; d < dModel; d++) logitVectors[i * dModel + d] = u[d * dVocab + id] - mean[d];
  }
  return { logitTargets, logitProbabilities, logitVectors };
}

function checkIds(ids: readonly number[], dVocab: number): void {
  const bad = ids.filter((id) => !Number.isInteger(id) || id < 0 || id >= dVocab);
  if (bad.length > 0) throw new Error(`token ids must be integers in [0, ${dVocab}), got ${bad.join(', ')}`);
}

/** Two targets on one token would be two logit nodes with one id. */
function checkDistinct(ids: readonly number[]): void {
  const seen = new Set<number>();
  for (const id of ids) {
    if (seen.has(id)) throw new Error(`attribution targets: token ${id} is listed twice`);
    seen.add(id);
  }
}

function singleToken(s: string, tokenizer: TargetTokenizer): number {
  const enc = Array.from(tokenizer.encode(s));
  if (enc.length === 0) throw new Error(`target string ${JSON.stringify(s)} encodes to no tokens`);
  if (enc.length > 1) {
    throw new Error(
      `target string ${JSON.stringify(s)} encodes to ${enc.length} tokens (${enc.join(', ')}); each must be exactly one token`,
    );
  }
  return enc[0];
}

const tokenId = (t: number | string, tokenizer: TargetTokenizer) =>
  typeof t === 'string' ? singleToken(t, tokenizer) : t;

export function resolveTargets(spec: TargetSpec, ctx: TargetContext): ResolvedTargets {
  const dVocab = ctx.logits.length;
  const { dModel } = unembedDims(ctx.unembed, dVocab);
  switch (spec.kind) {
    case 'salient': {
      const probs = softmax(ctx.logits);
      return vocabTargets(
        salientTargetIds(probs, spec.maxNLogits ?? 10, spec.desiredLogitProb ?? 0.95),
        ctx,
        probs,
      );
    }
    case 'ids': {
      if (spec.ids.length === 0) throw new Error('attribution targets: the list of token ids is empty');
      checkIds(spec.ids, dVocab);
      checkDistinct(spec.ids);
      return vocabTargets(spec.ids, ctx, softmax(ctx.logits));
    }
    case 'strings': {
      if (spec.tokens.length === 0)
        throw new Error('attribution targets: the list of token strings is empty');
      const ids = spec.tokens.map((s) => singleToken(s, ctx.tokenizer));
      checkIds(ids, dVocab);
      checkDistinct(ids);
      return vocabTargets(ids, ctx, softmax(ctx.logits));
    }
    case 'tokens': {
      if (spec.tokens.length === 0) throw new Error('attribution targets: the list of tokens is empty');
      const ids = spec.tokens.map((t) => tokenId(t, ctx.tokenizer));
      checkIds(ids, dVocab);
      checkDistinct(ids);
      return vocabTargets(ids, ctx, softmax(ctx.logits));
    }
    case 'diff': {
      const [a, b] = [spec.a, spec.b].map((t) => tokenId(t, ctx.tokenizer));
      checkIds([a, b], dVocab);
      if (a === b) throw new Error(`logit difference: both sides are token ${a}`);
      const prob = spec.prob ?? 1;
      if (!(Number.isFinite(prob) && prob > 0))
        throw new Error(`logit difference: prob must be a positive number, got ${prob}`);
      const both = vocabTargets([a, b], ctx, softmax(ctx.logits));
      const logitVectors = new Float32Array(dModel);
      for (let d = 0; d < dModel; d++) logitVectors[d] = both.logitVectors[d] - both.logitVectors[dModel + d];
      const [ta, tb] = both.logitTargets;
      return {
        logitTargets: [
          {
            tokenStr: `logit(${JSON.stringify(ta.tokenStr)})-logit(${JSON.stringify(tb.tokenStr)})`,
            vocabIdx: dVocab,
          },
        ],
        logitProbabilities: Float32Array.of(prob),
        logitVectors,
      };
    }
    case 'custom': {
      const k = spec.targets.length;
      if (k === 0) throw new Error('attribution targets: the list of custom targets is empty');
      const logitTargets: LogitTarget[] = [];
      const logitProbabilities = new Float32Array(k);
      const logitVectors = new Float32Array(k * dModel);
      spec.targets.forEach((t, i) => {
        if (typeof t.tokenStr !== 'string') throw new Error(`custom target ${i}: tokenStr must be a string`);
        if (!Number.isFinite(t.prob))
          throw new Error(`custom target ${i}: prob must be a finite number, got ${t.prob}`);
        if (!(t.vec instanceof Float32Array) || t.vec.length !== dModel) {
          throw new Error(`custom target ${i}: vec must be a Float32Array of length dModel=${dModel}`);
        }
        for (const v of t.vec)
          if (!Number.isFinite(v)) throw new Error(`custom target ${i}: vec has a non-finite entry`);
        logitTargets.push({ tokenStr: t.tokenStr, vocabIdx: dVocab + i });
        logitProbabilities[i] = t.prob;
        logitVectors.set(t.vec, i * dModel);
      });
      return { logitTargets, logitProbabilities, logitVectors };
    }
  }
}

/**
 * logit(a) − logit(b) as a custom direction u_a − u_b (the mean column cancels). Labelled like
 * 'logit(" Austin")-logit(" Dallas")' unless a label is given.
 */
export function logitDifferenceTarget(
  unembed: F32,
  a: number,
  b: number,
  { prob = 1, tokenizer, label }: { prob?: number; tokenizer?: TargetTokenizer; label?: string } = {},
): CustomTarget {
  if (unembed.shape.length !== 2) throw new Error(`logit difference: unembed must be [dModel, dVocab]`);
  const [dModel, dVocab] = unembed.shape;
  checkIds([a, b], dVocab);
  const vec = new Float32Array(dModel);
  for (let d = 0; d < dModel; d++) vec[d] = unembed.data[d * dVocab + a] - unembed.data[d * dVocab + b];
  const name = (id: number) => (tokenizer ? JSON.stringify(tokenizer.decode([id])) : String(id));
  return { tokenStr: label ?? `logit(${name(a)})-logit(${name(b)})`, prob, vec };
}
