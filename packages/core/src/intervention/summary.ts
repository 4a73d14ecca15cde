/** Plain-JSON summaries of logits (top-k tokens, probabilities, differences against the clean run). */
import type { Tokenizer } from '../io/tokenizer.ts';

export interface TopToken {
  id: number;
  token?: string;
  logit: number;
  prob: number;
}

export interface LogitDiff {
  id: number;
  token?: string;
  clean: number;
  intervened: number;
  diff: number; // intervened − clean
}

/** One token's logit (clean, intervened, diff) and probability on both runs. */
export interface TokenBeforeAfter extends LogitDiff {
  cleanProb: number;
  intervenedProb: number;
}

/** log Σ exp(row), stable. */
function logSumExp(row: Float32Array): number {
  let max = Number.NEGATIVE_INFINITY;
  for (const v of row) if (v > max) max = v;
  let s = 0;
  for (const v of row) s += Math.exp(v - max);
  return max + Math.log(s);
}

/** Indices of the k largest scores (ties: lower index first). */
function topIndices(n: number, k: number, score: (i: number) => number): number[] {
  const idx = Array.from({ length: n }, (_, i) => i);
  idx.sort((a, b) => score(b) - score(a) || a - b);
  return idx.slice(0, Math.min(k, n));
}

const tokenOf = (tok: Tokenizer | undefined, id: number) => {
  const t = tok?.idToToken(id);
  return t === undefined ? {} : { token: t };
};

export function topTokens(row: Float32Array, k: number, tok?: Tokenizer): TopToken[] {
  const lse = logSumExp(row);
  return topIndices(row.length, k, (i) => row[i]).map((id) => ({
    id,
    ...tokenOf(tok, id),
    logit: row[id],
    prob: Math.exp(row[id] - lse),
  }));
}

/** The k tokens whose logit changed most (by |diff|). */
export function largestDiffs(
  clean: Float32Array,
  after: Float32Array,
  k: number,
  tok?: Tokenizer,
): LogitDiff[] {
  return topIndices(clean.length, k, (i) => Math.abs(after[i] - clean[i])).map((id) => ({
    id,
    ...tokenOf(tok, id),
    clean: clean[id],
    intervened: after[id],
    diff: after[id] - clean[id],
  }));
}

/**
 * Every token of the clean or the intervened top-k list (`top`, as `topTokens` made them), with its logit and
 * probability on both runs, so a token that leaves the top k (or enters it) still has its other side. Clean
 * top-k order first, then the tokens that entered, in intervened order. Takes the lists rather than k so the
 * vocabulary is ranked once per run.
 */
export function topUnion(
  clean: Float32Array,
  after: Float32Array,
  top: { clean: readonly { id: number }[]; intervened: readonly { id: number }[] },
  tok?: Tokenizer,
): TokenBeforeAfter[] {
  if (clean.length !== after.length)
    throw new Error(`topUnion: logit rows differ in length (${clean.length} vs ${after.length})`);
  const lc = logSumExp(clean);
  const la = logSumExp(after);
  const ids = new Set([...top.clean, ...top.intervened].map((t) => t.id));
  return [...ids].map((id) => ({
    id,
    ...tokenOf(tok, id),
    clean: clean[id],
    intervened: after[id],
    diff: after[id] - clean[id],
    cleanProb: Math.exp(clean[id] - lc),
    intervenedProb: Math.exp(after[id] - la),
  }));
}

/** KL(p ‖ q) of the softmax distributions of two logit rows, in nats. */
export function klDivergence(p: Float32Array, q: Float32Array): number {
  const lp = logSumExp(p);
  const lq = logSumExp(q);
  let kl = 0;
  for (let i = 0; i < p.length; i++) {
    const a = p[i] - lp;
    kl += Math.exp(a) * (a - (q[i] - lq));
  }
  return Math.max(0, kl);
}
