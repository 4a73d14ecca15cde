import { zlibSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { memoryFiles } from '../src/browser/files.ts';
import {
  autoLabel,
  cantorPair,
  cantorUnpair,
  decodeFeatureIndex,
  decodeFeatureRecord,
  encodeFeatureLayer,
  FeatureIndexReader,
  type FeatureJson,
  FeatureLayerStats,
  featureJsonSchema,
  joinTokens,
  labelFeature,
  topBottomIndices,
  topContext,
  withoutBiasDirection,
  writeFeatureIndex,
} from '../src/dictionary/index.ts';

/** Contexts of words; feature 0 fires on "Texas", feature 1 on every even position, feature 2 never. */
const words = ['the', 'capital', 'of', 'Texas', 'is', 'Austin', 'and', 'Texas', 'is', 'big'];
function contexts(n: number): string[][] {
  return Array.from({ length: n }, (_, c) =>
    Array.from({ length: 6 }, (_, i) => words[(c + i) % words.length]),
  );
}

function feed(stats: FeatureLayerStats, ctxs: string[][]): void {
  ctxs.forEach((toks, c) => {
    const pos: number[] = [];
    const feat: number[] = [];
    const val: number[] = [];
    toks.forEach((t, p) => {
      if (t === 'Texas') {
        pos.push(p);
        feat.push(0);
        val.push(1 + c * 0.1);
      }
      if (p % 2 === 0) {
        pos.push(p);
        feat.push(1);
        val.push(0.5);
      }
    });
    stats.addContext(c, toks.length, Int32Array.from(pos), Int32Array.from(feat), Float32Array.from(val));
  });
}

describe('cantor pairing', () => {
  it('matches (l+f)(l+f+1)/2 + f and inverts', () => {
    expect(cantorPair(0, 0)).toBe(0);
    expect(cantorPair(20, 15589)).toBe(((20 + 15589) * (20 + 15590)) / 2 + 15589);
    for (const [l, f] of [
      [0, 0],
      [3, 7],
      [25, 16383],
      [40, 2_500_000],
    ]) {
      expect(cantorUnpair(cantorPair(l, f))).toEqual({ layer: l, feature: f });
    }
    expect(() => cantorPair(-1, 2)).toThrow(/non-negative/);
  });
});

describe('FeatureLayerStats', () => {
  const ctxs = contexts(40);
  const stats = new FeatureLayerStats(3, 3, {
    topK: 4,
    nQuantiles: 3,
    examplesPerQuantile: 2,
    reservoirSize: 12,
    seed: 7,
  });
  feed(stats, ctxs);
  const tokensOf = (c: number) => ctxs[c];

  it('density, min/max and histogram are exact for these records', () => {
    const totalTokens = 40 * 6;
    let texas = 0;
    for (const c of ctxs) for (const t of c) if (t === 'Texas') texas++;
    expect(stats.activationFrequency(0)).toBeCloseTo(texas / totalTokens, 12);
    expect(stats.activationFrequency(1)).toBeCloseTo(0.5, 12);
    expect(stats.activationFrequency(2)).toBe(0);
    const f1 = stats.finalize(1, tokensOf);
    expect(f1.act_min).toBe(0.5);
    expect(f1.act_max).toBe(0.5);
    expect(f1.histogram.reduce((a, b) => a + b, 0)).toBe(120);
    expect(f1.histogram[f1.histogram.length - 1]).toBe(120);
    const f0 = stats.finalize(0, tokensOf);
    expect(f0.histogram.reduce((a, b) => a + b, 0)).toBe(texas);
  });

  it('top examples are the contexts with the highest peaks, with per-token activations', () => {
    const f0 = stats.finalize(0, tokensOf);
    const top = f0.examples_quantiles[0];
    expect(top.quantile_name).toBe('Top activations');
    expect(top.examples).toHaveLength(4);
    const peaks = top.examples.map((e) => e.tokens_acts_list[e.train_token_ind]);
    expect(peaks).toEqual([...peaks].sort((a, b) => b - a));
    // Context c has peak 1 + 0.1c when it contains "Texas": the top four are the last contexts that do.
    const withTexas = ctxs.map((c, i) => (c.includes('Texas') ? i : -1)).filter((i) => i >= 0);
    expect(peaks[0]).toBeCloseTo(1 + 0.1 * withTexas[withTexas.length - 1], 5);
    for (const e of top.examples) {
      expect(e.tokens[e.train_token_ind]).toBe('Texas');
      expect(e.tokens_acts_list).toHaveLength(e.tokens.length);
      expect(e.tokens_acts_list.map((a) => a > 0)).toEqual(e.tokens.map((t) => t === 'Texas'));
    }
    expect(f0.quantile_values.length).toBe(f0.examples_quantiles.length - 1);
    expect(f0.quantile_values).toEqual([...f0.quantile_values].sort((a, b) => b - a));
    expect(featureJsonSchema.safeParse(f0).success).toBe(true);
    expect(f0.index).toBe(cantorPair(3, 0));
    expect(f0.transcoder_id).toBe('3');
  });

  it('a dead feature gives an empty, schema-valid record', () => {
    const f2 = stats.finalize(2, tokensOf);
    expect(f2.examples_quantiles).toEqual([]);
    expect(f2.activation_frequency).toBe(0);
    expect(featureJsonSchema.safeParse(f2).success).toBe(true);
    expect(labelFeature(f2)).toBe('no activations');
  });

  it('keeps logit-effect values beside their tokens, and the schema takes records with or without them', () => {
    const withValues = stats.finalize(0, tokensOf, {
      top: ['Austin', 'Dallas'],
      bottom: ['the'],
      topValues: Float32Array.of(2.5, 1.25),
      bottomValues: Float32Array.of(-3),
    });
    expect(withValues.top_logits).toEqual(['Austin', 'Dallas']);
    expect(withValues.top_logit_values).toEqual([2.5, 1.25]);
    expect(withValues.bottom_logit_values).toEqual([-3]);
    expect(featureJsonSchema.parse(withValues)).toEqual(withValues);
    // A circuit-tracer record (tokens only) still loads, without values.
    const tokensOnly = stats.finalize(0, tokensOf, { top: ['Austin'], bottom: ['the'] });
    expect('top_logit_values' in tokensOnly).toBe(false);
    expect(featureJsonSchema.parse(tokensOnly).top_logit_values).toBeUndefined();
    const mismatched = featureJsonSchema.safeParse({ ...withValues, bottom_logit_values: [-3, -1] });
    expect(mismatched.success).toBe(false);
    expect(mismatched.error?.issues[0].path).toEqual(['bottom_logit_values']);
    expect(mismatched.error?.issues[0].message).toMatch(/2 values for 1 bottom_logits tokens/);
  });

  it('is deterministic for a seed', () => {
    const again = new FeatureLayerStats(3, 3, {
      topK: 4,
      nQuantiles: 3,
      examplesPerQuantile: 2,
      reservoirSize: 12,
      seed: 7,
    });
    feed(again, ctxs);
    expect(again.finalize(0, tokensOf)).toEqual(stats.finalize(0, tokensOf));
  });

  it('rejects records outside the layer', () => {
    const s = new FeatureLayerStats(0, 2);
    expect(() => s.addContext(0, 3, Int32Array.of(0), Int32Array.of(2), Float32Array.of(1))).toThrow(
      /feature 2 is outside/,
    );
    expect(() => s.addContext(0, 3, Int32Array.of(3), Int32Array.of(0), Float32Array.of(1))).toThrow(
      /position 3 is outside/,
    );
    expect(() => new FeatureLayerStats(0, 0)).toThrow(/positive integer/);
  });
});

describe('logit effects and labels', () => {
  it('joins word-level tokens with spaces and subword pieces by their own spaces', () => {
    expect(joinTokens(['the', 'capital', 'of'])).toBe('the capital of');
    expect(joinTokens(['the', 'Ġcapital', 'Ġof'])).toBe('the capital of');
    expect(joinTokens(['▁the', '▁cap', 'ital'])).toBe('the capital');
  });

  it('removes the decoder-bias direction from a row before its logit effects', () => {
    const b = Float32Array.from([3, 4, 0]);
    const row = Float32Array.from([-6, -8, 2]); // −2·b plus a direction of its own
    const r = withoutBiasDirection(row, b);
    expect(Array.from(r)).toEqual([0, 0, 2]);
    const other = Float32Array.from([1, -2, 5]);
    const r2 = withoutBiasDirection(other, b);
    expect(r2[0] * 3 + r2[1] * 4).toBeCloseTo(0, 6); // orthogonal to b
    const removed = Array.from(other, (x, j) => x - r2[j]); // parallel to b
    expect(removed[0] * 4 - removed[1] * 3).toBeCloseTo(0, 6);
    expect(Array.from(withoutBiasDirection(other, new Float32Array(3)))).toEqual(Array.from(other));
  });

  it('ranks top and bottom logits', () => {
    const { top, bottom } = topBottomIndices(Float32Array.from([0.1, 3, -2, 3, 0]), 2);
    expect(top).toEqual([1, 3]);
    expect(bottom).toEqual([2, 4]);
  });

  it('builds "fires on ...; promotes ..." from examples and top logits', () => {
    const ctxs = contexts(20);
    const stats = new FeatureLayerStats(0, 2, { seed: 1 });
    feed(stats, ctxs);
    const f = stats.finalize(0, (c) => ctxs[c], { top: ['Austin', 'Houston'], bottom: ['Paris'] });
    // The strongest context is the last one (peak 1 + 19·0.1): its "Texas" with four tokens before it.
    expect(labelFeature(f, 1, 1)).toBe(
      "fires on 'Texas' (as in 'big the capital of Texas'); promotes 'Austin'",
    );
    expect(topContext(f.examples_quantiles, 1)).toBe('of Texas');
    expect(topContext(stats.finalize(2, (c) => ctxs[c]).examples_quantiles)).toBe('');
    expect(autoLabel({ firing: ['\n'], promotes: [], suppresses: ['the'] })).toBe(
      "fires on '\\n'; suppresses 'the'",
    );
  });
});

describe('compressed feature index (index.json.gz + layer_{l}.bin)', () => {
  const ctxs = contexts(10);
  const layers = new Map<number, FeatureJson[]>();
  for (const l of [0, 2]) {
    const s = new FeatureLayerStats(l, 3, { seed: l });
    feed(s, ctxs);
    layers.set(
      l,
      [0, 1, 2].map((f) => s.finalize(f, (c) => ctxs[c], { top: [`t${f}`], bottom: [`b${f}`] })),
    );
  }

  it('round-trips every record through range reads', async () => {
    const files = memoryFiles();
    const index = await writeFeatureIndex(files, 'features/scan', layers);
    expect(Object.keys(index)).toEqual(['0', '2']);
    expect(index['2'].filename).toBe('layer_2.bin');
    expect(index['0'].offsets).toHaveLength(4);
    const reader = await FeatureIndexReader.open(files, 'features/scan');
    expect(reader.layers()).toEqual([0, 2]);
    for (const [l, feats] of layers) {
      for (let f = 0; f < feats.length; f++) expect(await reader.read(l, f)).toEqual(feats[f]);
    }
    await expect(reader.read(1, 0)).rejects.toThrow(/no layer 1/);
    await expect(reader.read(0, 3)).rejects.toThrow(/feature 3 is outside \[0, 3\)/);
    await reader.close();
  });

  it('each record is a 4-byte LE length then zlib JSON', () => {
    const { bytes, offsets } = encodeFeatureLayer(layers.get(0)!);
    const rec = bytes.subarray(offsets[1], offsets[2]);
    const n = new DataView(rec.buffer, rec.byteOffset).getUint32(0, true);
    expect(n).toBe(rec.byteLength - 4);
    expect(rec[4]).toBe(0x78); // zlib header
    expect(decodeFeatureRecord(rec)).toEqual(layers.get(0)![1]);
  });

  it('rejects corrupt indexes and records', () => {
    expect(() => decodeFeatureIndex(new Uint8Array([1, 2, 3]))).toThrow(/not gzip'd JSON/);
    const { bytes, offsets } = encodeFeatureLayer(layers.get(0)!);
    const rec = bytes.slice(offsets[0], offsets[1]);
    expect(() => decodeFeatureRecord(rec.subarray(0, 10))).toThrow(/runs past/);
    rec[10] ^= 0xff;
    expect(() => decodeFeatureRecord(rec)).toThrow(/feature record/);
  });

  it('stops decompressing a record past the size limit (decompression bomb)', () => {
    const body = zlibSync(new Uint8Array(1 << 20));
    const rec = new Uint8Array(4 + body.byteLength);
    new DataView(rec.buffer).setUint32(0, body.byteLength, true);
    rec.set(body, 4);
    expect(() => decodeFeatureRecord(rec, 64 * 1024)).toThrow(/decompressed size exceeds 65536 bytes/);
    expect(() => decodeFeatureRecord(rec)).toThrow(/not JSON/);
  });
});
