import { describe, expect, it } from 'vitest';
import {
  type CaseResult,
  type Claim,
  excessRate,
  parseCaseResult,
  regressions,
  supported,
  withinTolerance,
} from '../src/claims.ts';
import {
  activeFeatures,
  activeOnShare,
  classContrasts,
  contrastQuery,
  etaQuery,
  meanValues,
  randomActiveFeatures,
  setFeatures,
  setSite,
  subsetRows,
  typicalSite,
} from '../src/query.ts';
import { currentResults, resultsMarkdown, spliceResults } from '../src/report.ts';
import {
  descendingRanks,
  etaSquared,
  jaccardOfSets,
  median,
  rate,
  sampleWithout,
  shuffled,
  softmax,
} from '../src/stats.ts';
import { random } from '../src/family.ts';

/** Two layers of three features, one row per prompt. */
const acts = (rows: number[][]) => ({ layers: [0, 1], dTc: 3, rows: rows.map((r) => Float32Array.from(r)) });

describe('statistics', () => {
  it('η² is 1 when the labels explain every difference and 0 when the groups have equal means', () => {
    expect(etaSquared([1, 1, 5, 5], [0, 0, 1, 1])).toBeCloseTo(1);
    expect(etaSquared([1, 5, 1, 5], [0, 0, 1, 1])).toBeCloseTo(0);
    expect(etaSquared([2, 2, 2], [0, 1, 2])).toBe(0);
    // Group means 2 and 4 around 3: between-group SS 4 of a total SS of 8.
    expect(etaSquared([1, 3, 3, 5], [0, 0, 1, 1])).toBeCloseTo(0.5);
    expect(() => etaSquared([1, 2], [0])).toThrow(/2 values but 1 labels/);
  });

  it('softmax sums to one and keeps the order; argmax-style ranks sort descending', () => {
    const p = softmax([1000, 1001, 999]);
    expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1);
    expect(p[1]).toBeGreaterThan(p[0]);
    expect([...descendingRanks([0.1, 0.9, 0.5])]).toEqual([2, 0, 1]);
  });

  it('rates, medians, Jaccard of sets and sampling without replacement', () => {
    expect(rate([true, false, true, true])).toBe(0.75);
    expect(rate([])).toBeNaN();
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(jaccardOfSets(new Set([1, 2, 3]), new Set([2, 3, 4]))).toBe(0.5);
    expect(jaccardOfSets(new Set(), new Set())).toBe(0);
    const drawn = sampleWithout([1, 2, 3, 4, 5], 3, random(9));
    expect(new Set(drawn).size).toBe(3);
    expect(sampleWithout([1, 2], 5, random(9)).sort()).toEqual([1, 2]);
    expect(sampleWithout([1, 2, 3, 4, 5], 3, random(9))).toEqual(drawn);
  });

  it('shuffled labels are a permutation, the same for the same generator state', () => {
    const labels = [0, 0, 1, 1, 2, 2, 3, 3];
    const once = shuffled(labels, random(406));
    expect([...once].sort()).toEqual(labels);
    expect(once).not.toEqual(labels);
    expect(shuffled(labels, random(406))).toEqual(once);
    expect(labels).toEqual([0, 0, 1, 1, 2, 2, 3, 3]);
  });
});

describe('feature queries', () => {
  const a = acts([
    [0, 2, 0, 1, 0, 0],
    [0, 3, 0, 1, 0, 0],
    [0, 2.5, 0, 0, 0, 0],
  ]);
  const b = acts([
    [1, 0, 0, 1, 0, 0],
    [1, 0, 0, 1, 0, 0],
    [0, 0, 0, 1, 0, 0],
  ]);

  it('contrast finds the feature that separates the sets, in A → B direction only, optionally by layer', () => {
    expect(contrastQuery(a, b, { minAuc: 0.95, top: 5 })).toEqual([{ layer: 0, feature: 1 }]);
    expect(contrastQuery(b, a, { minAuc: 0.8, top: 5 })).toEqual([{ layer: 0, feature: 0 }]);
    expect(contrastQuery(a, b, { minAuc: 0.95, top: 5, layers: [1] })).toEqual([]);
  });

  it('class contrasts query each class against all the others', () => {
    const both = acts([...a.rows, ...b.rows].map((r) => [...r]));
    const classOf = (i: number) => (i < 3 ? 0 : 1);
    expect(classContrasts(both, 2, classOf, { minAuc: 0.95, top: 5 })).toEqual([
      contrastQuery(a, b, { minAuc: 0.95, top: 5 }),
      contrastQuery(b, a, { minAuc: 0.95, top: 5 }),
    ]);
  });

  it('η² query ranks a feature that tracks the label above one that does not, skipping rare ones', () => {
    const x = acts([
      [1, 5, 0, 0, 0, 0],
      [1, 5, 0, 0, 0, 0],
      [9, 5, 0, 0, 0, 1],
      [9, 6, 0, 0, 0, 0],
    ]);
    const ranked = etaQuery(x, [0, 0, 1, 1], { minActive: 0.5 });
    expect(ranked[0]).toMatchObject({ layer: 0, feature: 0 });
    expect(ranked[0].eta2).toBeCloseTo(1);
    expect(ranked.some((f) => f.layer === 1 && f.feature === 2)).toBe(false);
  });

  it('means, subsets, active features and interventions address the right entries', () => {
    expect(meanValues(a, [{ layer: 0, feature: 1 }])[0]).toBeCloseTo(2.5);
    expect(subsetRows(a, (i) => i !== 1).rows).toHaveLength(2);
    expect(activeFeatures(a, 0)).toEqual([
      { layer: 0, feature: 1 },
      { layer: 1, feature: 0 },
    ]);
    // Row 0 has two active features: the random control for one of them can only be the other.
    expect(randomActiveFeatures(a, 0, [{ layer: 0, feature: 1 }], 3, random(1))).toEqual([
      { layer: 1, feature: 0 },
    ]);
    expect(randomActiveFeatures(a, 2, [{ layer: 0, feature: 1 }], 1, random(1))).toEqual([]);
    expect(setFeatures([{ layer: 1, feature: 2 }], -1, [4])).toEqual([
      { layer: 1, feature: 2, pos: -1, value: 4 },
    ]);
  });

  it("a set's typical features are those active on at least the given share of its rows", () => {
    // Feature (0,1) is active on 3 of 3 rows, (1,0) on 2 of 3.
    expect(activeOnShare(a, 1)).toEqual([{ layer: 0, feature: 1 }]);
    expect(activeOnShare(a, 0.6)).toEqual([
      { layer: 0, feature: 1 },
      { layer: 1, feature: 0 },
    ]);
    expect(
      activeOnShare(
        subsetRows(a, () => false),
        0.5,
      ),
    ).toEqual([]);
    // The typical site sets each of those features to its mean over the rows (inactive rows count as 0).
    const typical = typicalSite(a, 0.6);
    expect(typical.fs).toEqual(activeOnShare(a, 0.6));
    expect(typical.values[0]).toBeCloseTo(2.5);
    expect(typical.values[1]).toBeCloseTo(2 / 3);
    // Set at a position, each feature takes its own mean there.
    const set = setSite(typical, 4);
    expect(set.map(({ layer, feature, pos }) => ({ layer, feature, pos }))).toEqual([
      { layer: 0, feature: 1, pos: 4 },
      { layer: 1, feature: 0, pos: 4 },
    ]);
    expect(set[0].value).toBeCloseTo(2.5);
    expect(set[1].value).toBeCloseTo(2 / 3);
  });
});

describe('claims and regressions', () => {
  const claim: Claim = { id: 'X', statement: 's', metric: 'm', op: '>=', threshold: 0.5 };
  const result = (value: number): CaseResult => ({
    name: 'x',
    claims: [claim],
    settings: [{ setting: 'organism-m/plt', measurements: { X: { value, n: 10 } }, tables: [] }],
  });

  it('measures a rate as its excess over the baseline rate on the same trials', () => {
    expect(excessRate([true, true, false, true], [false, true, false, false])).toEqual({
      value: 0.5,
      baseline: 0.25,
      n: 4,
    });
  });

  it('judges a claim by its threshold and never supports a missing value', () => {
    expect(supported(claim, { value: 0.5, n: 1 })).toBe(true);
    expect(supported(claim, { value: 0.49, n: 1 })).toBe(false);
    expect(supported(claim, { value: Number.NaN, n: 0 })).toBe(false);
    expect(supported({ ...claim, op: '<=' }, { value: 0.4, n: 1 })).toBe(true);
  });

  it('flags a verdict that flips in either direction and a value that drifts, but not float noise', () => {
    expect(regressions(result(0.7), result(0.7001))).toEqual([]);
    expect(regressions(result(0.45), result(0.55))[0]).toMatch(/verdict changed/);
    expect(regressions(result(0.55), result(0.45))[0]).toMatch(/verdict changed/);
    expect(regressions(result(0.9), result(0.6))[0]).toMatch(/value moved/);
    expect(withinTolerance(Number.NaN, Number.NaN)).toBe(true);
    expect(withinTolerance(Number.NaN, 0.1)).toBe(false);
  });

  it('a measure without trials survives the results file as NaN and stays unsupported', () => {
    const back = parseCaseResult(JSON.stringify(result(Number.NaN)));
    expect(back.settings[0].measurements.X.value).toBeNaN();
    expect(supported({ ...claim, op: '<=' }, back.settings[0].measurements.X)).toBe(false);
    expect(regressions(result(Number.NaN), back)).toEqual([]);
  });

  it('the doc section round-trips through its markers', () => {
    const block = resultsMarkdown(result(0.7));
    expect(block).toContain('**supported**: 0.700');
    const doc = spliceResults(`# X\n\nprose\n\n${block}\n\nmore prose\n`, block, 'x.md');
    expect(currentResults(doc)).toBe(block);
    expect(() => spliceResults('no markers', block, 'x.md')).toThrow(/no results markers/);
  });
});
