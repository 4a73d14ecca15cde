/**
 * Property-based fuzzing of the parsers a user's files reach: safetensors headers, config.json, tokenizer.json,
 * .npz archives and text prompts. Every case must end in a result or an Error whose message names the file kind;
 * anything else (another exception type, a crash) fails the property, and a case slower than `caseLimitMs` fails
 * it as a hang. Prints, per parser, the cases run, how many were accepted or rejected and the slowest case.
 */
import fc from 'fast-check';
import { zipSync } from 'fflate';
import { afterAll, describe, expect, it } from 'vitest';
import { parseHfConfig } from '../src/io/config.ts';
import { readNpz, writeNpy } from '../src/io/npz.ts';
import { parseSafetensorsHeader } from '../src/io/safetensors.ts';
import { loadTokenizer, prepareTokens, specialAddedToken } from '../src/io/tokenizer.ts';
import { f32 } from '../src/tensor/host.ts';

const numRuns = Number(process.env.LOUPE_FUZZ_RUNS ?? 10_000);
/** Far above any case's real cost (milliseconds): only a runaway parse comes near it. */
const caseLimitMs = 2_000;

interface Tally {
  cases: number;
  accepted: number;
  rejected: number;
  slowestMs: number;
}
const tallies = new Map<string, Tally>();

/** Runs one case; true when it returned or threw an Error whose message matches `clear`, within `limitMs`. */
function attempt(parser: string, clear: RegExp, run: () => unknown, limitMs = caseLimitMs): boolean {
  const t = tallies.get(parser) ?? { cases: 0, accepted: 0, rejected: 0, slowestMs: 0 };
  tallies.set(parser, t);
  t.cases += 1;
  const start = performance.now();
  let ok: boolean;
  try {
    run();
    t.accepted += 1;
    ok = true;
  } catch (e) {
    t.rejected += 1;
    ok = e instanceof Error && clear.test(e.message) && e.message.length < 4_000;
    if (!ok) console.error(`${parser}: unclear rejection`, e);
  }
  const ms = performance.now() - start;
  t.slowestMs = Math.max(t.slowestMs, ms);
  if (ms > limitMs) console.error(`${parser}: a case took ${ms.toFixed(0)} ms`);
  return ok && ms <= limitMs;
}

afterAll(() => {
  const rows = [...tallies].map(([parser, t]) => ({
    parser,
    ...t,
    slowestMs: Number(t.slowestMs.toFixed(1)),
  }));
  console.log(`[reliability] parser fuzzing (${numRuns} runs per property)`);
  console.table(rows);
});

/** A JSON value with `key` of a copy of `base` set to `value`, or `base` with `value` at a random new key. */
function mutated(base: Record<string, unknown>) {
  return fc
    .tuple(fc.constantFrom(...Object.keys(base), 'extra'), fc.jsonValue(), fc.boolean())
    .map(([key, value, drop]) => {
      const copy: Record<string, unknown> = { ...base };
      if (drop) delete copy[key];
      else copy[key] = value;
      return copy;
    });
}

const gpt2 = {
  architectures: ['GPT2LMHeadModel'],
  vocab_size: 50257,
  n_embd: 768,
  n_head: 12,
  n_layer: 12,
  n_positions: 1024,
  activation_function: 'gelu_new',
};
const llama = {
  architectures: ['LlamaForCausalLM'],
  vocab_size: 128256,
  hidden_size: 2048,
  intermediate_size: 8192,
  num_hidden_layers: 16,
  num_attention_heads: 32,
  num_key_value_heads: 8,
  max_position_embeddings: 131072,
  rope_scaling: {
    factor: 32,
    high_freq_factor: 4,
    low_freq_factor: 1,
    original_max_position_embeddings: 8192,
    rope_type: 'llama3',
  },
};

const byteLevel = {
  version: '1.0',
  added_tokens: [specialAddedToken(6, '<|endoftext|>')],
  normalizer: null,
  pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
  post_processor: null,
  decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
  model: {
    type: 'BPE',
    dropout: null,
    unk_token: null,
    continuing_subword_prefix: '',
    end_of_word_suffix: '',
    fuse_unk: false,
    byte_fallback: false,
    vocab: { h: 0, i: 1, Ġ: 2, hi: 3, Ġhi: 4, '!': 5, '<|endoftext|>': 6, a: 7, b: 8 },
    merges: ['h i', 'Ġ hi'],
  },
};

/** Regex-like text from the characters that make backtracking: quantifiers, groups, alternations. */
const regexText = fc
  .array(
    fc.constantFrom(
      'a',
      'b',
      '.',
      '\\s',
      '\\w',
      '*',
      '+',
      '?',
      '(',
      ')',
      '(?:',
      '|',
      '{2}',
      '{1,}',
      '[ab]',
      '$',
    ),
    {
      maxLength: 24,
    },
  )
  .map((parts) => parts.join(''));
/** A near miss for such patterns: a run of a and b with one stray character at the end. */
const nearMiss = fc
  .tuple(fc.stringMatching(/^[ab ]{0,32}$/), fc.constantFrom('!', 'c', '\n', ''))
  .map(([s, e]) => s + e);

describe('parser fuzzing', () => {
  it('safetensors headers', () => {
    const header = fc.oneof(
      fc.string(),
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc
        .record({
          dtype: fc.oneof(fc.constantFrom('F32', 'F16', 'BF16', 'I64', 'U8', 'F8'), fc.string()),
          shape: fc.array(fc.oneof(fc.nat(1 << 20), fc.integer(), fc.double()), { maxLength: 6 }),
          data_offsets: fc.tuple(fc.oneof(fc.nat(), fc.integer()), fc.oneof(fc.nat(), fc.integer())),
        })
        .map((t) => JSON.stringify({ w: t, __metadata__: { format: 'pt' } })),
    );
    fc.assert(
      fc.property(header, fc.nat(1 << 30), (json, dataBytes) =>
        attempt('safetensors', /^safetensors: /, () => parseSafetensorsHeader(json, dataBytes)),
      ),
      { numRuns },
    );
  });

  it('config.json', () => {
    const config = fc.oneof(mutated(gpt2), mutated(llama), fc.jsonValue());
    fc.assert(
      fc.property(config, (json) => attempt('config.json', /^config\.json/, () => parseHfConfig(json))),
      { numRuns },
    );
  });

  it('tokenizer.json: regexes and near-miss inputs', () => {
    const tokenizer = fc.oneof(
      {
        weight: 3,
        arbitrary: regexText.map((Regex) => ({
          ...byteLevel,
          pre_tokenizer: {
            type: 'Sequence',
            pretokenizers: [
              { type: 'Split', pattern: { Regex }, behavior: 'Isolated', invert: false },
              { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
            ],
          },
        })),
      },
      { weight: 1, arbitrary: mutated(byteLevel) },
    );
    fc.assert(
      fc.property(tokenizer, nearMiss, (json, text) =>
        attempt('tokenizer.json', /^tokenizer/, () => loadTokenizer(json).encode(text)),
      ),
      { numRuns },
    );
  });

  it('npz archives', () => {
    const arr = writeNpy(f32([2, 3], [1, 2, 3, 4, 5, 6]));
    const valid = zipSync({ 'W_enc.npy': arr, 'b_enc.npy': arr }, { level: 6 });
    const archive = fc.oneof(
      fc.uint8Array({ maxLength: 512 }),
      fc
        .array(fc.tuple(fc.nat(valid.length - 1), fc.nat(255)), { minLength: 1, maxLength: 8 })
        .map((flips) => {
          const out = valid.slice();
          for (const [at, byte] of flips) out[at] = byte;
          return out;
        }),
    );
    fc.assert(
      fc.property(archive, (bytes) => attempt('npz', /^np[yz]/, () => readNpz(bytes))),
      { numRuns },
    );
  });

  it('text prompts: invalid UTF-16, control characters, long text', () => {
    const tok = loadTokenizer(byteLevel);
    const text = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc.string({
        unit: fc.constantFrom('\u0000', '\u0007', '\u001b', '\ud800', '\udfff', 'h', 'i', ' '),
        maxLength: 200,
      }),
    );
    fc.assert(
      fc.property(text, (t) =>
        attempt('prompt', /^(tokenizer|the prompt|token)/, () => prepareTokens({ text: t }, 9, tok)),
      ),
      { numRuns },
    );
    // One megabyte of text: linear work, so a generous bound of its own.
    const long = `${'hi '.repeat(333_333)}!`;
    expect(attempt('prompt (1 MB)', /^tokenizer/, () => prepareTokens({ text: long }, 9, tok), 60_000)).toBe(
      true,
    );
  });
});
