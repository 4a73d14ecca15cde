import { Tokenizer } from '@huggingface/tokenizers';
import { specialAddedToken } from '@loupe/core';
import { evalSets } from './curriculum/eval-sets.ts';
import { type CurriculumOptions, sampleDocuments } from './curriculum/index.ts';
import { LATIN_CLASS, PRE_TOKENIZER_PATTERN, preTokenize } from './curriculum/pieces.ts';

export { preTokenize };

/**
 * The organism's word-level tokenizer, written as a Hugging Face tokenizer.json so it loads through the
 * same code as any external checkpoint. One token per Latin word (apostrophes inside a word included),
 * per number, per punctuation mark, per Chinese character, and per newline.
 */

export const SPECIAL_TOKENS = ['<pad>', '<bos>', '<eos>', '<unk>'] as const;
export const NEWLINE = '\n';
/** Every integer 0..MAX_NUMBER_TOKEN is one token: operands 0–99 and sums up to 99+99. */
export const MAX_NUMBER_TOKEN = 198;

export interface TokenizerFiles {
  /** tokenizer.json content. */
  tokenizer: Record<string, unknown>;
  /** tokenizer_config.json content. */
  config: Record<string, unknown>;
}

/**
 * The vocabulary: special tokens, newline, the numbers, then every other piece seen in a large sample of
 * the curriculum and in its eval sets, in code-point order so the ids do not depend on sampling order. An
 * opt-in curriculum adds the pieces of a sample of its own stream to the default curriculum's, so a form that
 * writes no new word keeps the default vocabulary.
 */
export function buildVocab(seed: number, sampleSize = 20_000, curriculum?: CurriculumOptions): string[] {
  const words = new Set<string>();
  for (const doc of sampleDocuments(sampleSize, seed)) for (const w of preTokenize(doc.text)) words.add(w);
  if (curriculum)
    for (const doc of sampleDocuments(sampleSize, seed, seed, curriculum))
      for (const w of preTokenize(doc.text)) words.add(w);
  for (const items of Object.values(evalSets(seed))) {
    for (const item of items) {
      for (const text of [item.prompt, ...item.expected]) for (const w of preTokenize(text)) words.add(w);
    }
  }
  const numbers = Array.from({ length: MAX_NUMBER_TOKEN + 1 }, (_, i) => String(i));
  const fixed = new Set<string>([...SPECIAL_TOKENS, NEWLINE, ...numbers]);
  const rest = [...words].filter((w) => !fixed.has(w)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return [...fixed, ...rest];
}

export function buildTokenizerFiles(vocab: readonly string[]): TokenizerFiles {
  const ids = Object.fromEntries(vocab.map((w, i) => [w, i]));
  for (const t of [...SPECIAL_TOKENS, NEWLINE]) {
    if (!(t in ids)) throw new Error(`buildTokenizerFiles: vocabulary lacks ${JSON.stringify(t)}`);
  }
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL_TOKENS.map((content) => specialAddedToken(ids[content], content)),
    normalizer: null,
    pre_tokenizer: {
      type: 'Split',
      pattern: { Regex: PRE_TOKENIZER_PATTERN },
      behavior: 'Removed',
      invert: true,
    },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<bos>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: '<bos>', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
      ],
      special_tokens: { '<bos>': { id: '<bos>', ids: [ids['<bos>']], tokens: ['<bos>'] } },
    },
    // Words get their space back, then it is taken off again at the start of the text and of each line.
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { Regex: `^(?=[${LATIN_CLASS}])` }, content: ' ' },
        { type: 'Fuse' },
        { type: 'Replace', pattern: { String: '\n ' }, content: '\n' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: { type: 'WordLevel', vocab: ids, unk_token: '<unk>' },
  };
  const config = {
    tokenizer_class: 'PreTrainedTokenizerFast',
    bos_token: '<bos>',
    eos_token: '<eos>',
    pad_token: '<pad>',
    unk_token: '<unk>',
    clean_up_tokenization_spaces: false,
    model_max_length: 64,
  };
  return { tokenizer, config };
}

/** A loaded tokenizer with the ids the organism needs, over @huggingface/tokenizers. */
export interface OrganismTokenizer {
  vocab: readonly string[];
  bosId: number;
  eosId: number;
  padId: number;
  unkId: number;
  newlineId: number;
  /** Token ids of `text`, with <bos> first when `bos` (default true). */
  encode(text: string, bos?: boolean): number[];
  decode(ids: readonly number[], skipSpecial?: boolean): string;
}

export function loadTokenizer(files: TokenizerFiles): OrganismTokenizer {
  const hf = new Tokenizer(files.tokenizer, files.config);
  const idOf = (t: string): number => {
    const id = hf.token_to_id(t);
    if (id === undefined) throw new Error(`tokenizer: no id for ${JSON.stringify(t)}`);
    return id;
  };
  const vocabMap = hf.get_vocab(true);
  const vocab: string[] = [];
  for (const [token, id] of vocabMap) vocab[id] = token;
  return {
    vocab,
    bosId: idOf('<bos>'),
    eosId: idOf('<eos>'),
    padId: idOf('<pad>'),
    unkId: idOf('<unk>'),
    newlineId: idOf(NEWLINE),
    encode: (text, bos = true) => hf.encode(text, { add_special_tokens: bos }).ids,
    decode: (ids, skipSpecial = false) =>
      ids.length === 0 ? '' : hf.decode([...ids], { skip_special_tokens: skipSpecial }),
  };
}
