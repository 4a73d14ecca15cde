import { describe, expect, it } from 'vitest';
import { topTokens, topUnion } from '../src/intervention/summary.ts';

// Hand-made logit rows over a 5-token vocabulary, top 2: token 0 leaves the top 2 after the intervention and
// token 3 enters it; token 1 stays.
const clean = new Float32Array([3, 2, 0, 1, -1]);
const after = new Float32Array([0, 2, 0, 3, -1]);

const softmax = (row: Float32Array) => {
  const e = [...row].map(Math.exp);
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / z);
};

describe('topUnion', () => {
  it('holds both sides of a token that leaves the top k and of one that enters it', () => {
    expect(topTokens(clean, 2).map((t) => t.id)).toEqual([0, 1]);
    expect(topTokens(after, 2).map((t) => t.id)).toEqual([3, 1]);
    const u = topUnion(clean, after, { clean: topTokens(clean, 2), intervened: topTokens(after, 2) });
    // Clean top-k order first, then the token that entered.
    expect(u.map((t) => t.id)).toEqual([0, 1, 3]);
    const [p, q] = [softmax(clean), softmax(after)];
    for (const t of u) {
      expect(t.clean).toBe(clean[t.id]);
      expect(t.intervened).toBe(after[t.id]);
      expect(t.diff).toBeCloseTo(after[t.id] - clean[t.id], 6);
      expect(t.cleanProb).toBeCloseTo(p[t.id], 6);
      expect(t.intervenedProb).toBeCloseTo(q[t.id], 6);
    }
    // The leaving token's after side is the small probability it kept, not missing.
    expect(u[0].intervenedProb).toBeCloseTo(q[0], 6);
    expect(u[0].intervenedProb).toBeLessThan(u[2].intervenedProb);
  });

  it('names tokens with the tokenizer, and is just the top k when nothing moves', () => {
    const tok = { idToToken: (id: number) => `t${id}` } as Parameters<typeof topUnion>[3];
    const u = topUnion(clean, clean, { clean: topTokens(clean, 2), intervened: topTokens(clean, 2) }, tok);
    expect(u.map((t) => [t.id, t.token, t.diff])).toEqual([
      [0, 't0', 0],
      [1, 't1', 0],
    ]);
  });

  it('rejects rows of different lengths', () => {
    expect(() => topUnion(clean, new Float32Array(4), { clean: [], intervened: [] })).toThrow(
      /differ in length/,
    );
  });
});
