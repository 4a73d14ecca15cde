import { describe, expect, it } from 'vitest';
import {
  activationsAt,
  cohensD,
  contrastFeatures,
  featureOverlap,
  jaccard,
  type PositionActivations,
  pairwiseAuc,
} from '../src/analysis/index.ts';
import { f32 } from '../src/tensor/host.ts';

/** Two layers (model layers 1 and 3) of four features; each row lists its non-zero (flat index, value). */
function acts(rows: [number, number][][]): PositionActivations {
  return {
    layers: [1, 3],
    dTc: 4,
    rows: rows.map((r) => {
      const x = new Float32Array(8);
      for (const [i, v] of r) x[i] = v;
      return x;
    }),
  };
}

describe('effect sizes', () => {
  it('AUC counts wins and half ties; Cohen’s d uses the pooled sample deviation', () => {
    expect(pairwiseAuc([3, 4], [1, 2])).toBe(1);
    expect(pairwiseAuc([1, 2], [3, 4])).toBe(0);
    expect(pairwiseAuc([1, 1], [1])).toBe(0.5);
    expect(pairwiseAuc([1, 3], [2])).toBe(0.5);
    // means 2 and 6, squared deviations 2 + 2 over 2 degrees of freedom: sd √2.
    expect(cohensD([1, 3], [5, 7])).toBeCloseTo(-4 / Math.SQRT2, 12);
    expect(cohensD([2, 2], [1])).toBe(Number.POSITIVE_INFINITY);
    expect(cohensD([2, 2], [2])).toBe(0);
  });
});

describe('contrastFeatures', () => {
  it('ranks the features that separate the sets first, with their layer and means', () => {
    const a = acts([
      [
        [1, 2],
        [6, 1],
      ],
      [
        [1, 3],
        [6, 1.2],
      ],
    ]);
    const b = acts([[[6, 1.1]], [[6, 0.9]], [[5, 0.5]]]);
    const c = contrastFeatures(a, b);
    expect(c[0]).toMatchObject({
      layer: 1,
      feature: 1,
      meanA: 2.5,
      meanB: 0,
      activeA: 1,
      activeB: 0,
      auc: 1,
    });
    expect(c[0].d).toBeCloseTo(2.5 / Math.sqrt(0.5 / 3), 6);
    const f5 = c.find((x) => x.layer === 3 && x.feature === 1);
    // A: 0, 0 against B: 0, 0, 0.5 — four ties and two losses of six pairs.
    expect(f5?.auc).toBeCloseTo(1 / 3, 12);
    expect(f5?.activeA).toBe(0);
    expect(f5?.activeB).toBeCloseTo(1 / 3, 12);
    const f6 = c.find((x) => x.layer === 3 && x.feature === 2);
    // A: 1, 1.2 against B: 1.1, 0.9, 0 — five wins of six pairs.
    expect(f6?.auc).toBeCloseTo(5 / 6, 12);
    expect(c.map((x) => `${x.layer}:${x.feature}`)).toEqual(['1:1', '3:2', '3:1']);
    expect(contrastFeatures(a, b, { top: 1 })).toHaveLength(1);
  });

  it('needs prompts on both sides and a spread', () => {
    const one = acts([[[0, 1]]]);
    expect(() => contrastFeatures(one, acts([]))).toThrow(/both prompt sets/);
    expect(() => contrastFeatures(one, one)).toThrow(/three prompts/);
    expect(() => contrastFeatures(one, { ...acts([[], []]), dTc: 2 })).toThrow(/different dictionaries/);
  });
});

describe('featureOverlap', () => {
  it('is the mean pairwise Jaccard index per layer, beside the baseline’s', () => {
    expect(jaccard(Float32Array.of(1, 1, 0, 0), Float32Array.of(1, 0, 1, 0), 0, 4)).toBeCloseTo(1 / 3, 12);
    expect(jaccard(Float32Array.of(0, 0), Float32Array.of(0, 0), 0, 2)).toBe(0);
    const set = acts([
      [
        [0, 1],
        [1, 1],
        [4, 1],
      ],
      [
        [0, 2],
        [1, 1],
        [5, 1],
      ],
      [
        [0, 1],
        [2, 1],
        [4, 1],
      ],
    ]);
    const base = acts([[[3, 1]]]);
    const o = featureOverlap(set, base);
    // Layer 1: {0,1}, {0,1}, {0,2}: pairs 1, 1/3, 1/3. Layer 3: {0}, {1}, {0}: pairs 0, 1, 0.
    expect(o[0].layer).toBe(1);
    expect(o[0].overlap).toBeCloseTo((1 + 1 / 3 + 1 / 3) / 3, 12);
    expect(o[0].baseline).toBe(0);
    expect(o[1].layer).toBe(3);
    expect(o[1].overlap).toBeCloseTo(1 / 3, 12);
    expect(() => featureOverlap(acts([[]]), base)).toThrow(/at least two prompts/);
  });
});

describe('activationsAt', () => {
  it('takes one position of every layer', () => {
    // [2 layers, 3 positions, 2 features], value = 100·l + 10·t + f
    const data = Float32Array.from(
      { length: 12 },
      (_, i) => 100 * Math.floor(i / 6) + 10 * (Math.floor(i / 2) % 3) + (i % 2),
    );
    const a = f32([2, 3, 2], data);
    expect(Array.from(activationsAt(a, -1))).toEqual([20, 21, 120, 121]);
    expect(Array.from(activationsAt(a, 0))).toEqual([0, 1, 100, 101]);
    expect(() => activationsAt(a, 3)).toThrow(/beyond/);
  });
});
