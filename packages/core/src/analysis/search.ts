/**
 * Feature search: which dictionary features concern a token, a phrase, or a set of prompts.
 * - By token, from a feature index: features that promote it (its rank among a record's top_logits, with the
 *   logit effect when the index kept it) and features that fire on it (the share of a record's example peaks
 *   that fall on it, weighted by their activation, the vote that firingTokens and the labels use).
 * - By context, from a feature index: features whose example contexts contain a substring, ranked by their
 *   activation on the tokens of the matching occurrence.
 * - By activation on prompts: features active on a prompt set at a position (or at any position), ranked by
 *   the fraction of prompts that activate them, then their mean activation.
 * Index searches stream the records one at a time and keep only the best `top`, so an index never loads whole.
 */
import type { FeatureIndexReader } from '../dictionary/feature-index.ts';
import { type FeatureExample, type FeatureJson, joinTokens } from '../dictionary/features.ts';
import type { Intervener } from '../intervention/intervener.ts';
import type { Tokenizer } from '../io/tokenizer.ts';
import type { F32 } from '../tensor/host.ts';
import type { PositionActivations } from './activations.ts';
import { positiveInt } from '../tensor/checks.ts';

/** A feature that matched a search; `score` orders the results, the largest first. */
export interface SearchHit {
  layer: number;
  feature: number;
  score: number;
}

export type TokenSearchBy = 'promotes' | 'fires' | 'both';

export interface TokenHit extends SearchHit {
  /**
   * Fires: `share` of the record's example peak activation that falls on the token, in [0, 1]; `examples`
   * whose peak is the token; `activation`, the largest activation at any occurrence of the token in them.
   */
  fires?: { share: number; examples: number; activation: number };
  /**
   * Promotes: the token's rank among the record's top_logits (0 = most promoted), `score` 1 − rank / length,
   * and its logit `effect` when the index kept the values.
   */
  promotes?: { rank: number; score: number; effect?: number };
}

/**
 * `token` (an index token string, as the index's tokenString wrote it) in one record, or undefined when the
 * record neither fires on nor promotes it as `by` asks. The score is the fires share, the promotes score, or
 * their sum for 'both'.
 */
export function matchToken(
  layer: number,
  feature: number,
  record: FeatureJson,
  token: string,
  by: TokenSearchBy,
): TokenHit | undefined {
  let fires: TokenHit['fires'];
  if (by !== 'promotes') {
    let total = 0;
    let onToken = 0;
    let examples = 0;
    let activation = 0;
    for (const ex of uniqueExamples(record)) {
      const peak = ex.tokens_acts_list[ex.train_token_ind];
      if (!(peak > 0)) continue;
      total += peak;
      if (ex.tokens[ex.train_token_ind] === token) {
        onToken += peak;
        examples++;
      }
      ex.tokens.forEach((t, i) => {
        if (t === token && ex.tokens_acts_list[i] > activation) activation = ex.tokens_acts_list[i];
      });
    }
    if (onToken > 0) fires = { share: onToken / total, examples, activation };
  }
  let promotes: TokenHit['promotes'];
  if (by !== 'fires') {
    const rank = record.top_logits.indexOf(token);
    if (rank >= 0) {
      const effect = record.top_logit_values?.[rank];
      promotes = {
        rank,
        score: 1 - rank / record.top_logits.length,
        ...(effect === undefined ? {} : { effect }),
      };
    }
  }
  if (!fires && !promotes) return undefined;
  const score = (fires?.share ?? 0) + (promotes?.score ?? 0);
  return { layer, feature, score, ...(fires ? { fires } : {}), ...(promotes ? { promotes } : {}) };
}

export interface ContextHit extends SearchHit {
  /** Largest activation on a token of a matching occurrence (the score). */
  activation: number;
  /** The token that carries it. */
  token: string;
  /** The example's text around that token (joinTokens), at most `SNIPPET_TOKENS` tokens either side. */
  snippet: string;
  /** Examples of the record whose text contains the substring. */
  examples: number;
}

const SNIPPET_TOKENS = 8;

/**
 * The text of `tokens` without whitespace, with each token's [start, end) character span in it. Contexts are
 * matched without whitespace because a word-level vocabulary's tokens are joined with spaces the text never
 * had ('36 + 59 =' for "36+59="), and subword pieces carry their spaces as marks (Ġ, ▁).
 */
export function tokenSpans(tokens: readonly string[]): { text: string; start: number[]; end: number[] } {
  const start: number[] = [];
  const end: number[] = [];
  let text = '';
  for (const t of tokens) {
    start.push(text.length);
    text += compact(t);
    end.push(text.length);
  }
  return { text, start, end };
}

const compact = (s: string) => s.replace(/[\sĠ▁]+/g, '');

/**
 * The occurrence of `substring` in one record's example contexts (whitespace ignored on both sides, see
 * tokenSpans) on which the feature is most active, or undefined when no example contains it or the feature
 * is inactive on every occurrence.
 */
export function matchContext(
  layer: number,
  feature: number,
  record: FeatureJson,
  substring: string,
): ContextHit | undefined {
  const query = compact(substring);
  if (query.length === 0) throw new Error('context search: the substring is empty');
  let best: { activation: number; ex: FeatureExample; at: number } | undefined;
  let examples = 0;
  for (const ex of uniqueExamples(record)) {
    const { text, start, end } = tokenSpans(ex.tokens);
    let from = text.indexOf(query);
    if (from >= 0) examples++;
    while (from >= 0) {
      const to = from + query.length;
      for (let i = 0; i < ex.tokens.length; i++) {
        const a = ex.tokens_acts_list[i];
        if (start[i] < to && end[i] > from && a > 0 && (!best || a > best.activation))
          best = { activation: a, ex, at: i };
      }
      from = text.indexOf(query, from + 1);
    }
  }
  if (!best) return undefined;
  const { ex, at } = best;
  const window = ex.tokens.slice(Math.max(0, at - SNIPPET_TOKENS), at + SNIPPET_TOKENS + 1);
  return {
    layer,
    feature,
    score: best.activation,
    activation: best.activation,
    token: ex.tokens[at],
    snippet: joinTokens(window),
    examples,
  };
}

/** A record's examples (top group and quantile bands), each context once. */
function uniqueExamples(record: FeatureJson): FeatureExample[] {
  return record.examples_quantiles.flatMap((q) => q.examples.filter((ex) => !ex.is_repeated_datapoint));
}

/** Larger score first. */
export const byScore = (a: SearchHit, b: SearchHit): number => b.score - a.score;

/**
 * Token hits by score; among equal scores (many features share a top logit, rank 0) the larger logit
 * effect, then the larger activation on the token.
 */
export const byTokenScore = (a: TokenHit, b: TokenHit): number =>
  byScore(a, b) ||
  (b.promotes?.effect ?? 0) - (a.promotes?.effect ?? 0) ||
  (b.fires?.activation ?? 0) - (a.fires?.activation ?? 0);

/** Inserts `hit` into `best` (sorted by `order`; ties keep the earlier) and keeps at most `top`. */
function keepBest<H>(best: H[], hit: H, top: number, order: (a: H, b: H) => number): void {
  if (best.length >= top && order(hit, best[best.length - 1]) >= 0) return;
  let i = best.length;
  while (i > 0 && order(hit, best[i - 1]) < 0) i--;
  best.splice(i, 0, hit);
  if (best.length > top) best.pop();
}

export interface IndexSearchOptions {
  /** Model layers to search (default every layer of the index). */
  layers?: readonly number[];
  /** Results kept (default 20). */
  top?: number;
  /** Called after each layer with the features read so far and the total. */
  onProgress?: (done: number, total: number) => void;
}

/** Every record of `reader` (or of `layers`) through `match`, the best `top` hits in `order`. */
export async function searchIndex<H extends SearchHit>(
  reader: FeatureIndexReader,
  match: (layer: number, feature: number, record: FeatureJson) => H | undefined,
  { layers = reader.layers(), top = 20, onProgress }: IndexSearchOptions = {},
  order: (a: H, b: H) => number = byScore,
): Promise<H[]> {
  positiveInt(top, 'search: top');
  for (const l of layers) {
    if (reader.featureCount(l) === 0)
      throw new Error(`search: the index has no layer ${l} (layers: ${reader.layers().join(', ')})`);
  }
  const total = layers.reduce((n, l) => n + reader.featureCount(l), 0);
  const best: H[] = [];
  let done = 0;
  for (const l of layers) {
    for (let f = 0; f < reader.featureCount(l); f++) {
      const hit = match(l, f, await reader.read(l, f));
      if (hit) keepBest(best, hit, top, order);
    }
    done += reader.featureCount(l);
    onProgress?.(done, total);
  }
  return best;
}

/** Features of an index that fire on and/or promote `token` (an index token string), best first. */
export function searchIndexByToken(
  reader: FeatureIndexReader,
  token: string,
  by: TokenSearchBy,
  options: IndexSearchOptions = {},
): Promise<TokenHit[]> {
  return searchIndex(reader, (l, f, r) => matchToken(l, f, r, token, by), options, byTokenScore);
}

/** Features of an index whose example contexts contain `substring`, most active on it first. */
export function searchIndexByContext(
  reader: FeatureIndexReader,
  substring: string,
  options: IndexSearchOptions = {},
): Promise<ContextHit[]> {
  if (compact(substring).length === 0) throw new Error('context search: the substring is empty');
  return searchIndex(reader, (l, f, r) => matchContext(l, f, r, substring), options);
}

/**
 * The vocabulary id and token string of a token query: `#ID`, a token string of the vocabulary, or text that
 * encodes as exactly one token.
 */
export function resolveToken(
  tokenizer: Tokenizer,
  query: string,
  dVocab: number,
): { id: number; token: string } {
  if (query.length === 0) throw new Error('the token is empty');
  let id: number | undefined;
  if (/^#\d+$/.test(query)) {
    id = Number(query.slice(1));
    if (id >= dVocab) throw new Error(`token id ${id} is outside the vocabulary [0, ${dVocab})`);
  } else {
    id = tokenizer.tokenToId(query);
    if (id === undefined) {
      const ids = tokenizer.encode(query);
      if (ids.length !== 1) {
        const parts = Array.from(ids, (i) => `'${tokenizer.idToToken(i) ?? `#${i}`}'`).join(' ');
        throw new Error(
          `'${query}' is not one token of the vocabulary (it encodes as ${ids.length}: ${parts}); give one token or #ID`,
        );
      }
      // A word-level vocabulary encodes an unknown word as its unknown token, which is not what was asked.
      if (tokenizer.decode(ids).trim() !== query.trim())
        throw new Error(
          `'${query}' is not in the vocabulary (it encodes as '${tokenizer.idToToken(ids[0])}')`,
        );
      id = ids[0];
    }
  }
  const token = tokenizer.idToToken(id);
  if (token === undefined) throw new Error(`token id ${id} has no string in the tokenizer`);
  return { id, token };
}

export interface PromptFeatureHit extends SearchHit {
  /** Fraction of the prompts on which the feature is active (the score). */
  fraction: number;
  /** Prompts on which it is active. */
  active: number;
  /** Mean activation over all the prompts (inactive ones count as 0), and the largest. */
  mean: number;
  max: number;
}

/**
 * acts [nLayers, T, dTc] → [nLayers · dTc]: each feature's largest activation over the positions whose
 * `keep` entry is 1 ([T]; all positions when absent).
 */
export function peakActivations(acts: F32, keep?: Uint8Array): Float32Array {
  if (acts.shape.length !== 3)
    throw new Error(`peakActivations: expected [layers, T, dTc], got [${acts.shape}]`);
  const [L, T, dTc] = acts.shape;
  if (keep && keep.length !== T)
    throw new Error(`peakActivations: keep has ${keep.length} entries for ${T} positions`);
  const out = new Float32Array(L * dTc);
  for (let l = 0; l < L; l++) {
    for (let t = 0; t < T; t++) {
      if (keep && !keep[t]) continue;
      const row = acts.data.subarray((l * T + t) * dTc, (l * T + t + 1) * dTc);
      for (let f = 0; f < dTc; f++) if (row[f] > out[l * dTc + f]) out[l * dTc + f] = row[f];
    }
  }
  return out;
}

/**
 * Every dictionary layer's peak activations of each prompt over its positions, skipping positions whose token
 * is in `exclude` (BOS and other special tokens, which the feature index excludes too).
 */
export async function promptPeakActivations(
  iv: Intervener,
  prompts: readonly Int32Array[],
  exclude: ReadonlySet<number> = new Set(),
  signal?: AbortSignal,
): Promise<PositionActivations> {
  const layers = iv.dict.layers.map((l) => l.layer);
  const rows: Float32Array[] = [];
  for (const p of prompts) {
    const keep = Uint8Array.from(p, (id) => (exclude.has(id) ? 0 : 1));
    rows.push(peakActivations(await iv.activations(p, { layers, signal }), keep));
  }
  return { layers, dTc: iv.dict.dTc, rows };
}

export interface PromptSearchOptions {
  /** Model layers to list (default every layer of the activations). */
  layers?: readonly number[];
  /** Smallest fraction of the prompts a listed feature is active on (default 0: at least one prompt). */
  minFraction?: number;
  /** Results kept (default 20). */
  top?: number;
}

/** Features active on the prompts of `acts`, by the fraction of prompts they are active on, then mean. */
export function searchActivations(
  acts: PositionActivations,
  { layers = acts.layers, minFraction = 0, top = 20 }: PromptSearchOptions = {},
): PromptFeatureHit[] {
  if (acts.rows.length === 0) throw new Error('search: the prompt set is empty');
  if (!(minFraction >= 0 && minFraction <= 1))
    throw new Error(`search: the minimum fraction must be in [0, 1], got ${minFraction}`);
  positiveInt(top, 'search: top');
  const n = acts.rows.length;
  const out: PromptFeatureHit[] = [];
  for (const layer of layers) {
    const l = acts.layers.indexOf(layer);
    if (l < 0)
      throw new Error(`search: the dictionary has no layer ${layer} (layers: ${acts.layers.join(', ')})`);
    for (let f = 0; f < acts.dTc; f++) {
      let active = 0;
      let sum = 0;
      let max = 0;
      for (const r of acts.rows) {
        const a = r[l * acts.dTc + f];
        if (a !== 0) active++;
        sum += a;
        if (a > max) max = a;
      }
      const fraction = active / n;
      if (active === 0 || fraction < minFraction) continue;
      out.push({ layer, feature: f, score: fraction, fraction, active, mean: sum / n, max });
    }
  }
  out.sort((a, b) => b.score - a.score || b.mean - a.mean);
  return out.slice(0, top);
}
