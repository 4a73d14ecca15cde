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
      for (let i = 0; i < ids.length; i++) {
        if (!Number.isInteger(ids[i]) || ids[i] < 0 || ids[i] >= vocabSize) {
          throw new Error(`tokenizer: token id ${ids[i]} is outside the vocabulary [0, ${vocabSize})`);
        }
      }
      return hf.decode(Array.from(ids), { skip_special_tokens: false });
    },
    idToToken: (id) => hf.id_to_token(id),
    tokenToId: (token) => hf.token_to_id(token),
  };
}

export type PromptInput = { text: string } | { tokens: ArrayLike<number> };

/**
 * Turns a prompt into model input. Text: encoded without special tokens, then the BOS rule of circuit-tracer
 * (prepend `bosId` unless the first token is already special). Token ids: used exactly as given, only checked.
 */
export function prepareTokens(input: PromptInput, dVocab: number, tokenizer?: Tokenizer): Int32Array {
  let ids: Int32Array;
  if ('tokens' in input) {
    ids = Int32Array.from(input.tokens);
    for (let i = 0; i < input.tokens.length; i++) {
      const t = input.tokens[i];
      if (!Number.isInteger(t) || t < 0 || t >= dVocab)
        throw new Error(`token id ${t} at position ${i} is outside [0, ${dVocab})`);
    }
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
