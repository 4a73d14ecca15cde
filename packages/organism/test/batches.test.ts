import { describe, expect, it } from 'vitest';
import { batches } from '../src/batches.ts';
import { sampleDocuments } from '../src/curriculum/index.ts';
import { organismConfig, parameterCount } from '../src/sizes.ts';
import { buildTokenizerFiles, buildVocab, loadTokenizer } from '../src/tokenizer.ts';

const tok = loadTokenizer(buildTokenizerFiles(buildVocab(2, 5_000)));
const opts = { batchSize: 4, nCtx: 64, seed: 9, splitSeed: 2 };

describe('batches', () => {
  it('packs whole documents as <bos> doc <eos> with shifted, masked targets', () => {
    const b = batches(tok, opts).next().value;
    expect(b.shape).toEqual([4, 64]);
    const docs = sampleDocuments(b.docsConsumed, 9, 2).map((d) => [...tok.encode(d.text), tok.eosId]);
    const flat: number[] = [];
    for (let r = 0; r < 4; r++) {
      const row = Array.from(b.tokens.subarray(r * 64, (r + 1) * 64));
      const tg = Array.from(b.targets.subarray(r * 64, (r + 1) * 64));
      const mask = Array.from(b.lossMask.subarray(r * 64, (r + 1) * 64));
      expect(row[0]).toBe(tok.bosId);
      for (let t = 0; t < 63; t++) if (mask[t] === 1 && mask[t + 1] === 1) expect(tg[t]).toBe(row[t + 1]);
      for (let t = 0; t < 64; t++) {
        if (tg[t] === tok.bosId || tg[t] === tok.padId) expect(mask[t]).toBe(0);
      }
      // A row's inputs plus its last target are whole documents (the final <eos> may be a target only).
      const n = row.indexOf(tok.padId) < 0 ? 64 : row.indexOf(tok.padId);
      const seq = [...row.slice(0, n), tg[n - 1]];
      expect(seq[seq.length - 1]).toBe(tok.eosId);
      flat.push(...seq);
    }
    expect(docs.flat()).toEqual(flat);
  });

  it('is reproducible and resumes exactly at docsConsumed', () => {
    const g1 = batches(tok, opts);
    const first = [g1.next().value, g1.next().value];
    const g2 = batches(tok, opts);
    expect(g2.next().value).toEqual(first[0]);
    const resumed = batches(tok, { ...opts, skipDocs: first[0].docsConsumed }).next().value;
    expect(resumed.tokens).toEqual(first[1].tokens);
    expect(resumed.targets).toEqual(first[1].targets);
  });

  it('rejects bad sizes', () => {
    expect(() => batches(tok, { ...opts, batchSize: 0 }).next()).toThrow(/batchSize/);
    expect(() => batches(tok, { ...opts, nCtx: 2 }).next()).toThrow(/nCtx/);
  });
});

describe('sizes', () => {
  it('makes organism-m 2–4× organism-s', () => {
    const s = parameterCount(organismConfig('s', tok));
    const m = parameterCount(organismConfig('m', tok));
    expect(m / s).toBeGreaterThanOrEqual(2);
    expect(m / s).toBeLessThanOrEqual(4);
  });
});
