import { describe, expect, it } from 'vitest';
import {
  loadTokenizer,
  prepareTokens,
  regexHazard,
  specialAddedToken as added,
} from '../src/io/tokenizer.ts';
import { makeRandomCheckpoint } from './fixtures/checkpoints.ts';

/** GPT-2 / Llama-3 / Qwen style: byte-level pre-tokenizer and decoder, BPE merges. */
const byteLevel = {
  version: '1.0',
  added_tokens: [added(6, '<|endoftext|>')],
  normalizer: null,
  pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
  post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
  decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
  model: {
    type: 'BPE',
    dropout: null,
    unk_token: null,
    continuing_subword_prefix: '',
    end_of_word_suffix: '',
    fuse_unk: false,
    byte_fallback: false,
    vocab: { h: 0, i: 1, Ġ: 2, hi: 3, Ġhi: 4, '!': 5, '<|endoftext|>': 6 },
    merges: ['h i', 'Ġ hi'],
  },
};

/** Gemma style: spaces become ▁, byte fallback, and a post-processor that would add <bos>. */
const sentencePiece = {
  version: '1.0',
  added_tokens: [added(0, '<pad>'), added(1, '<eos>'), added(2, '<bos>'), added(3, '<unk>')],
  normalizer: { type: 'Replace', pattern: { String: ' ' }, content: '▁' },
  pre_tokenizer: null,
  post_processor: {
    type: 'TemplateProcessing',
    single: [{ SpecialToken: { id: '<bos>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
    pair: [],
    special_tokens: { '<bos>': { id: '<bos>', ids: [2], tokens: ['<bos>'] } },
  },
  decoder: {
    type: 'Sequence',
    decoders: [
      { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
      { type: 'ByteFallback' },
      { type: 'Fuse' },
    ],
  },
  model: {
    type: 'BPE',
    dropout: null,
    unk_token: '<unk>',
    continuing_subword_prefix: null,
    end_of_word_suffix: null,
    fuse_unk: true,
    byte_fallback: true,
    vocab: {
      '<pad>': 0,
      '<eos>': 1,
      '<bos>': 2,
      '<unk>': 3,
      h: 4,
      i: 5,
      '▁': 6,
      hi: 7,
      '▁hi': 8,
      '▁h': 9,
      '<0x21>': 10,
    },
    merges: ['▁ h', 'h i', '▁h i'],
  },
};

/** Llama-3 / Qwen style: a regex Split then ByteLevel without its own regex, merges as pairs, ignore_merges. */
const llama3 = {
  version: '1.0',
  added_tokens: [added(15, '<|begin_of_text|>')],
  normalizer: null,
  pre_tokenizer: {
    type: 'Sequence',
    pretokenizers: [
      {
        type: 'Split',
        pattern: {
          Regex:
            "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        },
        behavior: 'Isolated',
        invert: false,
      },
      { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
    ],
  },
  post_processor: null,
  decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
  model: {
    type: 'BPE',
    dropout: null,
    unk_token: null,
    continuing_subword_prefix: null,
    end_of_word_suffix: null,
    fuse_unk: false,
    byte_fallback: false,
    ignore_merges: true,
    vocab: {
      h: 0,
      i: 1,
      Ġ: 2,
      '!': 3,
      e: 4,
      l: 5,
      o: 6,
      hi: 7,
      Ġhi: 8,
      Ġhello: 13,
      Ġh: 14,
      '<|begin_of_text|>': 15,
    },
    merges: [
      ['h', 'i'],
      ['Ġ', 'h'],
      ['Ġh', 'i'],
    ],
  },
};

describe('tokenizer', () => {
  it('byte-level BPE (GPT-2 style) encodes, decodes and uses the eos token as BOS', () => {
    const tok = loadTokenizer(byteLevel, {}, { bosTokenId: 6, eosTokenId: 6 });
    expect([...tok.encode('hi hi!')]).toEqual([3, 4, 5]);
    expect(tok.decode([3, 4, 5])).toBe('hi hi!');
    expect(tok.vocabSize).toBe(7);
    expect(tok.bosId).toBe(6);
    expect([...prepareTokens({ text: 'hi hi!' }, 7, tok)]).toEqual([6, 3, 4, 5]);
    expect(tok.idToToken(4)).toBe('Ġhi');
    expect(tok.tokenToId('hi')).toBe(3);
  });

  it('Llama-3 style (regex Split + ByteLevel, whole-word vocab hits) round-trips', () => {
    const tok = loadTokenizer(llama3, { bos_token: '<|begin_of_text|>' });
    expect([...tok.encode('hi hello hi!')]).toEqual([7, 13, 8, 3]);
    expect(tok.decode([7, 13, 8, 3])).toBe('hi hello hi!');
    expect(tok.bosId).toBe(15);
    expect(tok.vocabSize).toBe(16);
  });

  it('SentencePiece-style (Gemma) never adds special tokens in encode; BOS comes from the rule', () => {
    const tok = loadTokenizer(sentencePiece, { bos_token: '<bos>', eos_token: '<eos>', pad_token: '<pad>' });
    expect([...tok.encode('hi hi!')]).toEqual([7, 8, 10]);
    expect(tok.decode([7, 8, 10])).toBe('hi hi!');
    expect(tok.bosId).toBe(2);
    expect([...tok.specialIds].sort()).toEqual([0, 1, 2, 3]);
    expect([...prepareTokens({ text: 'hi hi!' }, 11, tok)]).toEqual([2, 7, 8, 10]);
    // Already starting with a special token: nothing is prepended.
    expect([...prepareTokens({ text: '<eos>hi' }, 11, tok)]).toEqual([1, 7]);
  });

  it('skips a falsy id 0 when choosing the BOS token, as circuit-tracer does', () => {
    const tok = loadTokenizer(sentencePiece, { bos_token: '<pad>', pad_token: '<pad>', eos_token: '<eos>' });
    expect(tok.bosId).toBe(1);
  });

  it('WordLevel fixture maps unknown words to <unk>', () => {
    const { tokenizerJson, tokenizerConfig } = makeRandomCheckpoint('llama');
    const tok = loadTokenizer(tokenizerJson, tokenizerConfig);
    expect([...tok.encode('w5 w9 banana')]).toEqual([5, 9, 3]);
    expect(tok.decode([5, 9])).toBe('w5 w9');
    expect(tok.bosId).toBe(1);
  });

  it('errors clearly on out-of-vocabulary words without unk, bad ids and malformed files', () => {
    const { tokenizerJson } = makeRandomCheckpoint('llama');
    const model = (tokenizerJson as { model: Record<string, unknown> }).model;
    const noUnk = loadTokenizer({ ...tokenizerJson, model: { ...model, unk_token: null } }, {});
    expect(() => noUnk.encode('w5 banana')).toThrow(/'banana' is not in the vocabulary/);
    expect(() => noUnk.decode([999])).toThrow(/tokenizer: token id 999 at position 0 is outside \[0, /);
    expect(() => loadTokenizer({ added_tokens: [] }, {})).toThrow(/tokenizer.json: field 'model'/);
    expect(() => loadTokenizer({ model: { type: 'Unigram2', vocab: {} } }, {})).toThrow(/tokenizer.json/);
    expect(() => loadTokenizer(byteLevel, { bos_token: 5 })).toThrow(
      /tokenizer_config.json: field 'bos_token'/,
    );
  });

  it('token ids are used exactly as given, and checked', () => {
    expect([...prepareTokens({ tokens: [5, 0, 7] }, 8)]).toEqual([5, 0, 7]);
    expect(() => prepareTokens({ tokens: [5, 8] }, 8)).toThrow(
      /token id 8 at position 1 is outside \[0, 8\)/,
    );
    expect(() => prepareTokens({ tokens: [1.5] }, 8)).toThrow(/token id 1.5/);
    expect(() => prepareTokens({ tokens: [] }, 8)).toThrow(/empty/);
    expect(() => prepareTokens({ text: 'hi' }, 8)).toThrow(/needs a tokenizer/);
  });

  it('refuses tokenizer.json regexes that could backtrack catastrophically, before running them', () => {
    const withSplit = (regex: string) => ({
      ...llama3,
      pre_tokenizer: {
        type: 'Sequence',
        pretokenizers: [
          { type: 'Split', pattern: { Regex: regex }, behavior: 'Isolated', invert: false },
          { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
        ],
      },
    });
    // Each of these takes exponential time on a near-miss such as 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!'.
    for (const evil of [
      '(a+)+$',
      '(?:\\s*x?)*y',
      '(a|aa)*$',
      '((ab)*c)+',
      '(\\w+\\s?){2,}$',
      '(.*a){12}',
      '(a?){30}a{30}',
      'a*a*a*a*b',
      '(a*)(a*)(a*)(a*)b',
    ]) {
      expect(regexHazard(evil), evil).not.toBeNull();
      expect(() => loadTokenizer(withSplit(evil)), evil).toThrow(/could backtrack catastrophically/);
    }
    const normalizer = {
      ...llama3,
      normalizer: { type: 'Replace', pattern: { Regex: '( +)+x' }, content: ' ' },
    };
    expect(() => loadTokenizer(normalizer)).toThrow(/a repeated group holds a quantifier/);
    // Released tokenizers' patterns pass: GPT-2, Llama-3 (above), Qwen2, and quantified escapes and classes.
    const released = [
      "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
      "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
      '(?:ab)?c+[(+)]*\\(\\)x{2,}',
    ];
    for (const ok of released) expect(regexHazard(ok), ok).toBeNull();
    expect(loadTokenizer(withSplit(released[0])).vocabSize).toBeGreaterThan(0);
    expect(regexHazard('a'.repeat(10_001))).toMatch(/10001 characters long/);
  });
});
