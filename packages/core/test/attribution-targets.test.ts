import { describe, expect, it } from 'vitest';
import {
  type TargetContext,
  type TargetTokenizer,
  logitDifferenceTarget,
  resolveTargets,
  salientTargetIds,
  softmax,
  topK,
  unembedMean,
} from '../src/attribution/index.ts';
import { f32 } from '../src/tensor/host.ts';

const WORDS = ['<bos>', ' Austin', ' Dallas', ' Texas', ' the', ' a', ' of', ' and'];
const tokenizer: TargetTokenizer = {
  // Whole words only; anything else splits into one token per character (so it is multi-token).
  encode: (text) => {
    const i = WORDS.indexOf(text);
    return i >= 0 ? [i] : Array.from(text, (ch) => ch.charCodeAt(0) % WORDS.length);
  },
  decode: (ids) => ids.map((i) => WORDS[i]).join(''),
};

const D_MODEL = 3;
const D_VOCAB = WORDS.length;
/** U[d, j] = (d + 1)·j + d, so column j is known in closed form and the mean column is (d + 1)·3.5 + d. */
function unembed() {
  const u = new Float32Array(D_MODEL * D_VOCAB);
  for (let d = 0; d < D_MODEL; d++) for (let j = 0; j < D_VOCAB; j++) u[d * D_VOCAB + j] = (d + 1) * j + d;
  return f32([D_MODEL, D_VOCAB], u);
}

function ctx(logits: number[]): TargetContext {
  return { logits: Float32Array.from(logits), unembed: unembed(), tokenizer };
}

describe('salient targets', () => {
  it('cuts at the first cumulative probability reaching desired_logit_prob', () => {
    const probs = Float64Array.from([0.05, 0.5, 0.3, 0.1, 0.05, 0, 0, 0]);
    expect(Array.from(salientTargetIds(probs, 10, 0.8))).toEqual([1, 2]); // 0.5, 0.8 ≥ 0.8
    expect(Array.from(salientTargetIds(probs, 10, 0.81))).toEqual([1, 2, 3]);
    expect(Array.from(salientTargetIds(probs, 2, 0.99))).toEqual([1, 2]); // capped by max_n_logits
    expect(Array.from(salientTargetIds(probs, 10, 0))).toEqual([1]);
  });

  it('orders by descending probability with ties by index', () => {
    expect(Array.from(topK([1, 3, 3, 2, 3], 4))).toEqual([1, 2, 4, 3]);
    expect(Array.from(topK([5, 4], 10))).toEqual([0, 1]);
  });

  it('resolves tokens, probabilities and demeaned vectors', () => {
    const logits = [0, 3, 2, 1, -1, -1, -1, -1];
    const t = resolveTargets({ kind: 'salient', maxNLogits: 10, desiredLogitProb: 0.9 }, ctx(logits));
    const p = softmax(Float32Array.from(logits));
    let cum = 0;
    const want: number[] = [];
    for (const i of [1, 2, 3, 0]) {
      want.push(i);
      cum += p[i];
      if (cum >= 0.9) break;
    }
    expect(t.logitTargets.map((x) => x.vocabIdx)).toEqual(want);
    expect(t.logitTargets[0].tokenStr).toBe(' Austin');
    want.forEach((id, i) => {
      expect(t.logitProbabilities[i]).toBeCloseTo(p[id], 6);
      for (let d = 0; d < D_MODEL; d++) {
        expect(t.logitVectors[i * D_MODEL + d]).toBeCloseTo((d + 1) * (id - 3.5), 5);
      }
    });
  });

  it('rejects bad parameters', () => {
    expect(() => resolveTargets({ kind: 'salient', maxNLogits: 0 }, ctx([0, 1, 2, 3, 4, 5, 6, 7]))).toThrow(
      /max_n_logits/,
    );
    expect(() =>
      resolveTargets({ kind: 'salient', desiredLogitProb: 2 }, ctx([0, 1, 2, 3, 4, 5, 6, 7])),
    ).toThrow(/desired_logit_prob/);
    expect(() => resolveTargets({ kind: 'salient' }, ctx([0, 1]))).toThrow(/unembed must be/);
    expect(() => softmax(Float32Array.from([Number.NaN]))).toThrow(/finite/);
  });
});

describe('explicit targets', () => {
  const logits = [0, 1, 2, 3, 4, 5, 6, 7];

  it('takes token ids in [0, dVocab) in the given order', () => {
    const t = resolveTargets({ kind: 'ids', ids: [2, 1] }, ctx(logits));
    expect(t.logitTargets).toEqual([
      { tokenStr: ' Dallas', vocabIdx: 2 },
      { tokenStr: ' Austin', vocabIdx: 1 },
    ]);
    expect(() => resolveTargets({ kind: 'ids', ids: [8] }, ctx(logits))).toThrow(/\[0, 8\).*8/);
    expect(() => resolveTargets({ kind: 'ids', ids: [-1] }, ctx(logits))).toThrow(/\[0, 8\)/);
    expect(() => resolveTargets({ kind: 'ids', ids: [1.5] }, ctx(logits))).toThrow(/integers/);
    expect(() => resolveTargets({ kind: 'ids', ids: [] }, ctx(logits))).toThrow(/empty/);
  });

  it('refuses a token listed twice (two logit nodes would share an id)', () => {
    expect(() => resolveTargets({ kind: 'ids', ids: [2, 1, 2] }, ctx(logits))).toThrow(
      /token 2 is listed twice/,
    );
    expect(() => resolveTargets({ kind: 'strings', tokens: [' Texas', ' Texas'] }, ctx(logits))).toThrow(
      /listed twice/,
    );
  });

  it('takes single-token strings and refuses multi-token ones', () => {
    const byStr = resolveTargets({ kind: 'strings', tokens: [' Austin', ' Texas'] }, ctx(logits));
    const byId = resolveTargets({ kind: 'ids', ids: [1, 3] }, ctx(logits));
    expect(byStr).toEqual(byId);
    expect(() => resolveTargets({ kind: 'strings', tokens: ['Austin!'] }, ctx(logits))).toThrow(/7 tokens/);
    expect(() => resolveTargets({ kind: 'strings', tokens: [''] }, ctx(logits))).toThrow(/no tokens/);
  });

  it('takes ids and single-token strings mixed, in the order given', () => {
    const mixed = resolveTargets({ kind: 'tokens', tokens: [3, ' Austin'] }, ctx(logits));
    expect(mixed).toEqual(resolveTargets({ kind: 'ids', ids: [3, 1] }, ctx(logits)));
    expect(() => resolveTargets({ kind: 'tokens', tokens: [1, ' Austin'] }, ctx(logits))).toThrow(
      /token 1 is listed twice/,
    );
    expect(() => resolveTargets({ kind: 'tokens', tokens: [8] }, ctx(logits))).toThrow(/\[0, 8\)/);
    expect(() => resolveTargets({ kind: 'tokens', tokens: [] }, ctx(logits))).toThrow(/empty/);
  });

  it('gives custom directions virtual ids dVocab + i, used as given', () => {
    const vec = Float32Array.from([1, 2, 3]);
    const t = resolveTargets(
      {
        kind: 'custom',
        targets: [
          { tokenStr: 'a', prob: 0.7, vec },
          { tokenStr: 'b', prob: 2, vec },
        ],
      },
      ctx(logits),
    );
    expect(t.logitTargets).toEqual([
      { tokenStr: 'a', vocabIdx: 8 },
      { tokenStr: 'b', vocabIdx: 9 },
    ]);
    expect(Array.from(t.logitProbabilities)).toEqual([Math.fround(0.7), 2]);
    expect(Array.from(t.logitVectors)).toEqual([1, 2, 3, 1, 2, 3]);
    const bad =
      (v: Float32Array, prob = 1) =>
      () =>
        resolveTargets({ kind: 'custom', targets: [{ tokenStr: 'x', prob, vec: v }] }, ctx(logits));
    expect(bad(new Float32Array(2))).toThrow(/length dModel=3/);
    expect(bad(Float32Array.from([0, Number.POSITIVE_INFINITY, 0]))).toThrow(/non-finite/);
    expect(bad(vec, Number.NaN)).toThrow(/prob/);
  });
});

describe('logit-difference targets', () => {
  const logits = [0, 1, 2, 3, 4, 5, 6, 7];

  it('attributes logit(a) − logit(b): the demeaned columns subtracted, one virtual target', () => {
    const t = resolveTargets({ kind: 'diff', a: ' Austin', b: 2 }, ctx(logits));
    expect(t.logitTargets).toEqual([{ tokenStr: 'logit(" Austin")-logit(" Dallas")', vocabIdx: D_VOCAB }]);
    expect(Array.from(t.logitProbabilities)).toEqual([1]);
    // Direct logits of a residual x through U, including the shared mean direction the target drops.
    const u = unembed().data;
    const x = [0.7, -0.4, 1.9];
    const logit = (j: number) => x.reduce((acc, xd, d) => acc + xd * u[d * D_VOCAB + j], 0);
    const viaTarget = x.reduce((acc, xd, d) => acc + xd * t.logitVectors[d], 0);
    expect(viaTarget).toBeCloseTo(logit(1) - logit(2), 5);
    // The vector equals the plain difference of unembedding columns.
    for (let d = 0; d < D_MODEL; d++) {
      expect(t.logitVectors[d]).toBeCloseTo(u[d * D_VOCAB + 1] - u[d * D_VOCAB + 2], 5);
    }
    expect(resolveTargets({ kind: 'diff', a: 3, b: 1, prob: 0.25 }, ctx(logits)).logitProbabilities[0]).toBe(
      0.25,
    );
  });

  it('rejects equal sides, bad ids, multi-token strings and bad weights', () => {
    expect(() => resolveTargets({ kind: 'diff', a: 2, b: ' Dallas' }, ctx(logits))).toThrow(/both sides/);
    expect(() => resolveTargets({ kind: 'diff', a: 2, b: 8 }, ctx(logits))).toThrow(/\[0, 8\)/);
    expect(() => resolveTargets({ kind: 'diff', a: 'Austin!', b: 1 }, ctx(logits))).toThrow(/7 tokens/);
    expect(() => resolveTargets({ kind: 'diff', a: 1, b: 2, prob: 0 }, ctx(logits))).toThrow(/prob/);
  });
});

describe('demeaning and logit differences', () => {
  it('computes the mean unembedding column', () => {
    const m = unembedMean(unembed());
    for (let d = 0; d < D_MODEL; d++) expect(m[d]).toBeCloseTo((d + 1) * 3.5 + d, 6);
  });

  it('uses a supplied mean column', () => {
    const c = { ...ctx([0, 1, 2, 3, 4, 5, 6, 7]), unembedMean: new Float32Array(D_MODEL) };
    const t = resolveTargets({ kind: 'ids', ids: [2] }, c);
    expect(Array.from(t.logitVectors)).toEqual([2, 5, 8]); // U[:, 2], not demeaned
    expect(() =>
      resolveTargets({ kind: 'ids', ids: [2] }, { ...c, unembedMean: new Float32Array(2) }),
    ).toThrow(/unembedMean/);
  });

  it('builds logit(a) − logit(b) as u_a − u_b', () => {
    const t = logitDifferenceTarget(unembed(), 1, 2, { tokenizer });
    expect(t.tokenStr).toBe('logit(" Austin")-logit(" Dallas")');
    expect(Array.from(t.vec)).toEqual([-1, -2, -3]);
    expect(t.prob).toBe(1);
    // x·(u_a − u_b) equals the difference of the demeaned logits for any residual x.
    const x = [0.3, -1.2, 2];
    const demeaned = resolveTargets({ kind: 'ids', ids: [1, 2] }, ctx([0, 1, 2, 3, 4, 5, 6, 7])).logitVectors;
    let diff = 0;
    let direct = 0;
    for (let d = 0; d < D_MODEL; d++) {
      diff += x[d] * (demeaned[d] - demeaned[D_MODEL + d]);
      direct += x[d] * t.vec[d];
    }
    expect(direct).toBeCloseTo(diff, 5);
    expect(() => logitDifferenceTarget(unembed(), 1, 99)).toThrow(/\[0, 8\)/);
  });
});
