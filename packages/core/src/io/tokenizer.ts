/**
 * A small tokenizer interface over @huggingface/tokenizers (pure JS, offline: it takes tokenizer.json and
 * tokenizer_config.json as objects). encode() never adds special tokens; prepareTokens applies the BOS rule.
 */
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { z } from 'zod';
import type { ModelConfig } from '../model/config.ts';

export interface Tokenizer {
  readonly vocabSize: number;
  readonly specialIds: ReadonlySet<number>;
  /** The id prepended by the BOS rule: the first truthy of bos, pad, eos, then the smallest special id. */
  readonly bosId: number | undefined;
  encode(text: string): Int32Array;
  decode(ids: ArrayLike<number>): string;
  idToToken(id: number): string | undefined;
  tokenToId(token: string): number | undefined;
}

const tokenizerJsonSchema = z.object({
  model: z.looseObject({ type: z.string().optional(), vocab: z.unknown(), unk_token: z.string().nullish() }),
  added_tokens: z
    .array(
      z.looseObject({
        id: z.number().int().nonnegative(),
        content: z.string(),
        special: z.boolean().optional(),
      }),
    )
    .default([]),
});

const addedTokenContent = z.union([z.string(), z.looseObject({ content: z.string() })]).nullish();
const tokenizerConfigSchema = z.looseObject({
  bos_token: addedTokenContent,
  eos_token: addedTokenContent,
  pad_token: addedTokenContent,
  unk_token: addedTokenContent,
});

/** Longest regex a tokenizer.json may carry; real pre-tokenizer patterns are a few hundred characters. */
const maxRegexChars = 10_000;

/** Unbounded quantifiers one alternative may chain: more make a failing match polynomial of that degree. */
const maxUnboundedInSequence = 3;

interface Group {
  /** Holds a quantifier, directly or in a nested group. */
  quantified: boolean;
  /** Holds an alternation `|`, directly or in a nested group. */
  alternation: boolean;
  /** Unbounded quantifiers (`*`, `+`, `{n,}`) in the alternative being read, nested groups' included. */
  inSequence: number;
  /** The most of any alternative of the group so far. */
  most: number;
}

const atom = (): Group => ({ quantified: false, alternation: false, inSequence: 0, most: 0 });

/** The quantifier starting at `p[i]`: how many repeats it allows at most, and where it ends; null if none. */
function quantifierAt(p: string, i: number): { max: number; end: number } | null {
  const c = p[i];
  if (c === '*' || c === '+') return { max: Number.POSITIVE_INFINITY, end: i + 1 };
  if (c === '?') return { max: 1, end: i + 1 };
  if (c !== '{') return null;
  const m = /^\{(\d+)(,(\d*))?\}/.exec(p.slice(i));
  if (!m) return null;
  const max = m[2] === undefined ? Number(m[1]) : m[3] === '' ? Number.POSITIVE_INFINITY : Number(m[3]);
  return { max, end: i + m[0].length };
}

/**
 * Why `pattern` may backtrack catastrophically, or null. Refused: a group repeated more than once that itself
 * holds a quantifier or an alternation — `(a+)+`, `(a?){30}`, `(a|aa)*` — which can take exponential time on a
 * near-miss input, and more than three unbounded quantifiers chained in one alternative (`a*a*a*a*b` is
 * polynomial of degree four). No released tokenizer's pattern has either, and JavaScript regexes cannot be
 * interrupted, so such a pattern is refused before it ever runs.
 */
/** A tokenizer.json `added_tokens` entry for a special token, with the flags Hugging Face writes for one. */
export function specialAddedToken(id: number, content: string) {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
}

export function regexHazard(pattern: string): string | null {
  if (pattern.length > maxRegexChars)
    return `it is ${pattern.length} characters long (limit ${maxRegexChars})`;
  const stack: Group[] = [atom()];
  let last: Group | null = null;
  let i = 0;
  while (i < pattern.length) {
    const c = pattern[i];
    const top = stack[stack.length - 1];
    const q = quantifierAt(pattern, i);
    if (q) {
      if (last && q.max > 1 && (last.quantified || last.alternation)) {
        const what = last.quantified ? 'a quantifier' : 'an alternation';
        return `a repeated group holds ${what} (near character ${i})`;
      }
      top.quantified = true;
      if (q.max === Number.POSITIVE_INFINITY) {
        top.inSequence += 1;
        if (top.inSequence > maxUnboundedInSequence)
          return `more than ${maxUnboundedInSequence} unbounded quantifiers in one alternative (near character ${i})`;
      }
      i = pattern[q.end] === '?' || pattern[q.end] === '+' ? q.end + 1 : q.end;
      last = null;
      continue;
    }
    last = null;
    if (c === '\\') {
      // \p{L}, \u{...}, \k<name>: the braces belong to the escape, not a quantifier.
      const next = pattern[i + 1];
      i += 2;
      if ((next === 'p' || next === 'P' || next === 'u' || next === 'x') && pattern[i] === '{') {
        const close = pattern.indexOf('}', i);
        i = close < 0 ? pattern.length : close + 1;
      } else if (next === 'k' && pattern[i] === '<') {
        const close = pattern.indexOf('>', i);
        i = close < 0 ? pattern.length : close + 1;
      }
      last = atom();
    } else if (c === '[') {
      i += 1;
      if (pattern[i] === '^') i += 1;
      if (pattern[i] === ']') i += 1;
      while (i < pattern.length && pattern[i] !== ']') i += pattern[i] === '\\' ? 2 : 1;
      i += 1;
      last = atom();
    } else if (c === '(') {
      stack.push(atom());
      i += 1;
      if (pattern[i] === '?') {
        // (?:  (?=  (?!  (?<=  (?<!  (?<name>  (?i:  — the prefix is not a quantifier.
        const m = /^\?(<[=!]|<[^>]*>|[=!:]|[a-zA-Z-]+:|[a-zA-Z-]+\))/.exec(pattern.slice(i));
        i += m ? m[0].length : 1;
        // (?i) sets flags and closes at once: no group remains open.
        if (m?.[0].endsWith(')')) stack.pop();
      }
    } else if (c === ')') {
      const closed = stack.length > 1 ? (stack.pop() as Group) : top;
      closed.most = Math.max(closed.most, closed.inSequence);
      const parent = stack[stack.length - 1];
      parent.quantified ||= closed.quantified;
      parent.alternation ||= closed.alternation;
      parent.inSequence += closed.most;
      if (parent.inSequence > maxUnboundedInSequence)
        return `more than ${maxUnboundedInSequence} unbounded quantifiers in one alternative (near character ${i})`;
      last = closed;
      i += 1;
    } else {
      if (c === '|') {
        top.alternation = true;
        top.most = Math.max(top.most, top.inSequence);
        top.inSequence = 0;
      } else last = atom();
      i += 1;
    }
  }
  return null;
}

/** Every `Regex` pattern of a tokenizer.json's normalizer, pre-tokenizer, post-processor and decoder. */
function regexesOf(json: unknown, depth = 0): string[] {
  if (depth > 64 || json === null || typeof json !== 'object') return [];
  if (Array.isArray(json)) return json.flatMap((v) => regexesOf(v, depth + 1));
  return Object.entries(json).flatMap(([k, v]) => {
    if (k === 'Regex' && typeof v === 'string') return [v];
    // The vocabulary and merges hold no patterns and are by far the largest part.
    if (depth === 0 && (k === 'model' || k === 'added_tokens')) return [];
    return regexesOf(v, depth + 1);
  });
}

function contentOf(v: z.infer<typeof addedTokenContent>): string | undefined {
  if (v === null || v === undefined) return undefined;
  return typeof v === 'string' ? v : v.content;
}

/**
 * @param modelIds bos/eos/pad ids from config.json, used when tokenizer_config.json does not name the tokens.
 */
export function loadTokenizer(
  tokenizerJson: unknown,
  tokenizerConfig: unknown = {},
  modelIds: Pick<ModelConfig, 'bosTokenId' | 'eosTokenId' | 'padTokenId'> = {},
): Tokenizer {
  const tj = tokenizerJsonSchema.safeParse(tokenizerJson);
  if (!tj.success) {
    const i = tj.error.issues[0];
    throw new Error(`tokenizer.json: field '${i.path.join('.')}' is missing or invalid (${i.message})`);
  }
  const tc = tokenizerConfigSchema.safeParse(tokenizerConfig ?? {});
  if (!tc.success) {
    const i = tc.error.issues[0];
    throw new Error(`tokenizer_config.json: field '${i.path.join('.')}' is invalid (${i.message})`);
  }
  for (const pattern of regexesOf(tokenizerJson)) {
    const hazard = regexHazard(pattern);
    if (hazard) {
      const shown = pattern.length > 80 ? `${pattern.slice(0, 80)}…` : pattern;
      throw new Error(`tokenizer.json: regex /${shown}/ could backtrack catastrophically: ${hazard}`);
    }
  }
  let hf: HfTokenizer;
  try {
    hf = new HfTokenizer(tokenizerJson as object, (tokenizerConfig ?? {}) as object);
  } catch (e) {
    throw new Error(`tokenizer.json: unsupported or malformed tokenizer (${(e as Error).message})`);
  }
  const vocab = hf.get_vocab(true);
  let vocabSize = 0;
  for (const id of vocab.values()) vocabSize = Math.max(vocabSize, id + 1);
  const specialIds = new Set(tj.data.added_tokens.filter((t) => t.special).map((t) => t.id));
  const idOf = (v: z.infer<typeof addedTokenContent>) => {
    const c = contentOf(v);
    return c === undefined ? undefined : vocab.get(c);
  };
  const bos = idOf(tc.data.bos_token) ?? modelIds.bosTokenId;
  const pad = idOf(tc.data.pad_token) ?? modelIds.padTokenId;
  const eos = idOf(tc.data.eos_token) ?? modelIds.eosTokenId;
  for (const id of [bos, pad, eos]) if (id !== undefined) specialIds.add(id);
  // circuit-tracer: next(filter(None, [bos, pad, eos, *all_special_ids])) skips a falsy id 0.
  const bosId = [bos, pad, eos, ...[...specialIds].sort((a, b) => a - b)].find((id) => !!id);
  const unkName = tj.data.model.unk_token ?? contentOf(tc.data.unk_token);
  const unkId = unkName === undefined ? undefined : vocab.get(unkName);

  return {
    vocabSize,
    specialIds,
    bosId,
    encode(text: string): Int32Array {
      const { ids, tokens } = hf.encode(text, { add_special_tokens: false });
      const out = new Int32Array(ids.length);
      for (let i = 0; i < ids.length; i++) {
        // The library leaves out-of-vocabulary words as undefined instead of mapping them to unk.
        const id = ids[i] ?? unkId;
        if (id === undefined)
          throw new Error(`tokenizer: '${tokens[i]}' is not in the vocabulary and there is no unk token`);
        out[i] = id;
      }
      return out;
    },
    decode(ids: ArrayLike<number>): string {
      checkTokenIds(ids, vocabSize, 'tokenizer: ');
      return hf.decode(Array.from(ids), { skip_special_tokens: false });
    },
    idToToken: (id) => hf.id_to_token(id),
    tokenToId: (token) => hf.token_to_id(token),
  };
}

export type PromptInput = { text: string } | { tokens: ArrayLike<number> };

/**
 * Throws unless every id is an integer in [0, dVocab), naming the first one that is not and its position;
 * `prefix` says who checked ("attribution: ").
 */
export function checkTokenIds(ids: ArrayLike<number>, dVocab: number, prefix = ''): void {
  for (let i = 0; i < ids.length; i++) {
    const t = ids[i];
    if (!Number.isInteger(t) || t < 0 || t >= dVocab)
      throw new Error(`${prefix}token id ${t} at position ${i} is outside [0, ${dVocab})`);
  }
}

/**
 * Turns a prompt into model input. Text: encoded without special tokens, then the BOS rule of circuit-tracer
 * (prepend `bosId` unless the first token is already special). Token ids: used exactly as given, only checked.
 */
export function prepareTokens(input: PromptInput, dVocab: number, tokenizer?: Tokenizer): Int32Array {
  let ids: Int32Array;
  if ('tokens' in input) {
    checkTokenIds(input.tokens, dVocab);
    ids = Int32Array.from(input.tokens);
  } else {
    if (!tokenizer)
      throw new Error(
        'a text prompt needs a tokenizer (tokenizer.json next to the model), or pass token ids',
      );
    const enc = tokenizer.encode(input.text);
    if (enc.length > 0 && tokenizer.specialIds.has(enc[0])) ids = enc;
    else {
      if (tokenizer.bosId === undefined)
        throw new Error('tokenizer has no bos, pad, eos or special token to prepend');
      ids = new Int32Array(enc.length + 1);
      ids[0] = tokenizer.bosId;
      ids.set(enc, 1);
    }
    for (const t of ids)
      if (t >= dVocab)
        throw new Error(`tokenizer produced id ${t}, outside the model's vocabulary of ${dVocab}`);
  }
  if (ids.length === 0) throw new Error('the prompt is empty: at least one token is needed');
  return ids;
}
