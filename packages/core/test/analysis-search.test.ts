import { describe, expect, it } from 'vitest';
import {
  matchContext,
  peakActivations,
  type PositionActivations,
  resolveToken,
  searchIndexByContext,
  searchIndexByToken,
  searchActivations,
  searchIndex,
  tokenSpans,
} from '../src/analysis/index.ts';
import { memoryFiles } from '../src/browser/files.ts';
import { FeatureIndexReader, FeatureLayerStats, writeFeatureIndex } from '../src/dictionary/index.ts';
import { loadTokenizer } from '../src/io/tokenizer.ts';
import { f32 } from '../src/tensor/host.ts';
import { makeRandomCheckpoint } from './fixtures/checkpoints.ts';

/**
 * A layer-2 index of 40 word contexts. Feature 0 fires on "Texas" (1 + 0.1·context), feature 1 on every even
 * position (0.5), feature 2 on "is" only after "Texas" (2), feature 3 never. Logits: feature 0 promotes
 * Austin then Texas, feature 1 promotes Texas first, feature 3 promotes Texas second.
 */
const words = ['the', 'capital', 'of', 'Texas', 'is', 'Austin', 'and', 'Texas', 'is', 'big'];
const ctxs = Array.from({ length: 40 }, (_, c) =>
  Array.from({ length: 6 }, (_, i) => words[(c + i) % words.length]),
);
const texasAct = (c: number) => 1 + 0.1 * c;

async function buildIndex(): Promise<FeatureIndexReader> {
  const stats = new FeatureLayerStats(2, 4, {
    topK: 40,
    reservoirSize: 50,
    nQuantiles: 2,
    examplesPerQuantile: 3,
  });
  ctxs.forEach((toks, c) => {
    const pos: number[] = [];
    const feat: number[] = [];
    const val: number[] = [];
    toks.forEach((t, p) => {
      const rec = (f: number, v: number) => {
        pos.push(p);
        feat.push(f);
        val.push(v);
      };
      if (t === 'Texas') rec(0, texasAct(c));
      if (p % 2 === 0) rec(1, 0.5);
      if (t === 'is' && toks[p - 1] === 'Texas') rec(2, 2);
    });
    stats.addContext(c, toks.length, Int32Array.from(pos), Int32Array.from(feat), Float32Array.from(val));
  });
  const logits = [
    { top: ['Austin', 'Texas', 'big'], bottom: [], topValues: [3, 2, 1] },
    { top: ['Texas', 'the', 'of'], bottom: [], topValues: [0.5, 0.4, 0.3] },
    { top: ['big', 'and', 'the'], bottom: [] },
    { top: ['of', 'Texas', 'the'], bottom: [], topValues: [1.5, 1.2, 1] },
  ];
  const files = memoryFiles();
  const records = logits.map((l, f) => stats.finalize(f, (c) => ctxs[c], l));
  await writeFeatureIndex(files, '/idx', new Map([[2, records]]));
  return FeatureIndexReader.open(files, '/idx');
}

describe('search by token', () => {
  it('ranks the feature that fires on the token first, with its share of the example peaks', async () => {
    const reader = await buildIndex();
    const hits = await searchIndexByToken(reader, 'Texas', 'fires');
    expect(hits.map((h) => h.feature)).toEqual([0, 1]);
    expect(hits[0].fires?.share).toBe(1);
    expect(hits[0].fires?.activation).toBeCloseTo(texasAct(39), 5);
    // Feature 1 peaks at position 0 (its first 0.5): on "Texas" only in the contexts that start with it.
    const startsWithTexas = ctxs.filter((c) => c[0] === 'Texas').length;
    expect(hits[1].fires?.examples).toBe(startsWithTexas);
    expect(hits[1].fires?.share).toBeCloseTo(startsWithTexas / ctxs.length, 6);
    expect(hits.every((h) => h.promotes === undefined)).toBe(true);
  });

  it('ranks promoters by rank, then logit effect; "both" adds the two scores', async () => {
    const reader = await buildIndex();
    const promotes = await searchIndexByToken(reader, 'Texas', 'promotes');
    expect(promotes.map((h) => [h.feature, h.promotes?.rank])).toEqual([
      [1, 0],
      [0, 1],
      [3, 1],
    ]);
    // Features 0 and 3 both rank Texas second: the larger effect (2 against 1.2) comes first.
    expect(promotes[1].promotes?.effect).toBe(2);
    expect(promotes[2].promotes?.effect).toBe(1.2);
    expect(promotes[0].score).toBe(1);
    expect(promotes[1].score).toBeCloseTo(2 / 3, 12);
    const both = await searchIndexByToken(reader, 'Texas', 'both', { top: 2 });
    expect(both.map((h) => h.feature)).toEqual([0, 1]);
    expect(both[0].score).toBeCloseTo(1 + 2 / 3, 12);
    expect(both[1].score).toBeCloseTo(1 + both[1].fires!.share, 12);
  });

  it('finds nothing for a token no feature touches, and rejects a missing layer', async () => {
    const reader = await buildIndex();
    expect(await searchIndexByToken(reader, 'Houston', 'both')).toEqual([]);
    await expect(searchIndex(reader, () => undefined, { layers: [5] })).rejects.toThrow(
      /the index has no layer 5 \(layers: 2\)/,
    );
    await expect(searchIndex(reader, () => undefined, { top: 0 })).rejects.toThrow(/top must be a positive/);
  });
});

describe('search by context', () => {
  it('matches text without whitespace, with each token’s character span', () => {
    expect(tokenSpans(['36', '+', '59', '='])).toEqual({
      text: '36+59=',
      start: [0, 2, 3, 5],
      end: [2, 3, 5, 6],
    });
    expect(tokenSpans(['Ġthe', 'cap', 'Ġof', '\n'])).toEqual({
      text: 'thecapof',
      start: [0, 3, 6, 8],
      end: [3, 6, 8, 8],
    });
  });

  it('ranks by the activation on the matching occurrence and shows where it matched', async () => {
    const reader = await buildIndex();
    const hits = await searchIndexByContext(reader, 'Texas is');
    // Spacing does not matter: the word tokens are joined with spaces the text never had.
    expect(await searchIndexByContext(reader, 'Texasis')).toEqual(hits);
    // Expected from the contexts themselves: feature 2 gives 2 on "is" after "Texas", feature 0 its largest
    // "Texas" of a context where "is" follows it, feature 1 0.5.
    let bestTexas = 0;
    ctxs.forEach((c, i) => {
      if (c.join(' ').includes('Texas is')) bestTexas = Math.max(bestTexas, texasAct(i));
    });
    expect(bestTexas).toBeGreaterThan(2);
    expect(hits.map((h) => h.feature)).toEqual([0, 2, 1]);
    expect(hits[0].activation).toBeCloseTo(bestTexas, 5);
    expect(hits[0].token).toBe('Texas');
    expect(hits[0].snippet).toContain('Texas is');
    expect(hits[1]).toMatchObject({ activation: 2, token: 'is' });
    expect(hits[2].activation).toBe(0.5);
    expect(hits[0].examples).toBeGreaterThan(0);
    expect(await searchIndexByContext(reader, 'Dallas is')).toEqual([]);
  });

  it('a feature inactive on every matching occurrence is not a hit', async () => {
    const reader = await buildIndex();
    // Features 0 and 2 have examples that contain "Austin" but never fire on it; feature 1 fires on it at even
    // positions.
    const record = await reader.read(2, 0);
    expect(record.examples_quantiles[0].examples.some((e) => e.tokens.includes('Austin'))).toBe(true);
    const hits = await searchIndexByContext(reader, 'Austin');
    expect(hits.map((h) => [h.feature, h.token, h.activation])).toEqual([[1, 'Austin', 0.5]]);
    expect(() => matchContext(2, 0, record, ' \n')).toThrow(/substring is empty/);
  });
});

describe('search by activation on prompts', () => {
  /** Layers 1 and 3 of three features, three prompts. */
  const acts: PositionActivations = {
    layers: [1, 3],
    dTc: 3,
    rows: [
      Float32Array.of(1, 0, 0, 0, 2, 0),
      Float32Array.of(3, 0, 0, 0, 0, 0),
      Float32Array.of(2, 0, 4, 0, 1, 0),
    ],
  };

  it('gives the fraction of prompts, mean and max, most widely active first', () => {
    const hits = searchActivations(acts);
    expect(hits.map((h) => [h.layer, h.feature])).toEqual([
      [1, 0],
      [3, 1],
      [1, 2],
    ]);
    expect(hits[0]).toMatchObject({ fraction: 1, active: 3, mean: 2, max: 3 });
    expect(hits[1]).toMatchObject({ active: 2, mean: 1, max: 2 });
    expect(hits[1].fraction).toBeCloseTo(2 / 3, 12);
    expect(searchActivations(acts, { minFraction: 0.5 }).map((h) => h.feature)).toEqual([0, 1]);
    expect(searchActivations(acts, { layers: [3] }).map((h) => [h.layer, h.feature])).toEqual([[3, 1]]);
    expect(searchActivations(acts, { top: 1 })).toHaveLength(1);
  });

  it('rejects an empty set, a missing layer and a fraction outside [0, 1]', () => {
    expect(() => searchActivations({ ...acts, rows: [] })).toThrow(/prompt set is empty/);
    expect(() => searchActivations(acts, { layers: [2] })).toThrow(/no layer 2 \(layers: 1, 3\)/);
    expect(() => searchActivations(acts, { minFraction: 1.5 })).toThrow(/in \[0, 1\]/);
  });

  it('peak activations take each feature’s largest value over the kept positions', () => {
    // [2 layers, 3 positions, 2 features]
    const a = f32([2, 3, 2], Float32Array.of(9, 0, 1, 2, 0, 5, 7, 7, 0, 1, 3, 0));
    expect(Array.from(peakActivations(a))).toEqual([9, 5, 7, 7]);
    expect(Array.from(peakActivations(a, Uint8Array.of(0, 1, 1)))).toEqual([1, 5, 3, 1]);
    expect(() => peakActivations(a, Uint8Array.of(1))).toThrow(/keep has 1 entries for 3 positions/);
  });
});

describe('resolveToken', () => {
  const { tokenizerJson, tokenizerConfig } = makeRandomCheckpoint('llama');
  const tok = loadTokenizer(tokenizerJson, tokenizerConfig);

  it('takes #ID, a vocabulary token, or text of one token', () => {
    expect(resolveToken(tok, '#5', tok.vocabSize)).toEqual({ id: 5, token: 'w5' });
    expect(resolveToken(tok, 'w9', tok.vocabSize)).toEqual({ id: 9, token: 'w9' });
    expect(resolveToken(tok, ' w9 ', tok.vocabSize)).toEqual({ id: 9, token: 'w9' });
  });

  it('rejects several tokens, unknown words, ids outside the vocabulary and empty text', () => {
    expect(() => resolveToken(tok, 'w5 w9', tok.vocabSize)).toThrow(
      /not one token .* encodes as 2: 'w5' 'w9'/,
    );
    expect(() => resolveToken(tok, 'banana', tok.vocabSize)).toThrow(/'banana' is not in the vocabulary/);
    expect(() => resolveToken(tok, `#${tok.vocabSize}`, tok.vocabSize)).toThrow(/outside the vocabulary/);
    expect(() => resolveToken(tok, '', tok.vocabSize)).toThrow(/empty/);
  });
});
