import { describe, expect, it } from 'vitest';
import { rankGraphFeatures } from '../src/analysis/rank.ts';
import type { AttributionGraph } from '../src/attribution/graph.ts';

/** F=2 selected of 3 active features, L=1, T=1, K=1 → nodes f0, f1, error, token, logit (N = 5). */
function graph(): AttributionGraph {
  const n = 5;
  const data = new Float32Array(n * n); // [target, source]
  data[4 * n + 0] = 1; // f0 → logit
  data[4 * n + 1] = 3; // f1 → logit, three times as strong
  return {
    inputString: '<bos>',
    inputTokens: Int32Array.from([1]),
    logitTargets: [{ tokenStr: ' x', vocabIdx: 7 }],
    logitProbabilities: Float32Array.from([0.5]),
    vocabSize: 20,
    activeFeatures: Int32Array.from([0, 0, 4, 0, 0, 6, 0, 0, 9]),
    activationValues: Float32Array.from([0.25, 1.5, 3]),
    selectedFeatures: Int32Array.from([0, 2]),
    adjacency: { kind: 'dense', n, data },
    model: { nLayers: 1, dVocab: 20, scan: ['tc0'], modelName: 'm', tokenizerName: 't' },
  };
}

describe('rankGraphFeatures', () => {
  it('ranks selected features by their share of the influence on the logits', () => {
    const { features, influence } = rankGraphFeatures(graph());
    expect(influence.length).toBe(5);
    expect(features.map((f) => [f.feature, f.rank, f.node, f.activation])).toEqual([
      [9, 0, 1, 3],
      [4, 1, 0, 0.25],
    ]);
    expect(features[0].influence).toBeCloseTo(0.75, 6);
    expect(features[1].influence).toBeCloseTo(0.25, 6);
  });

  it('gives zero shares when nothing reaches the logits', () => {
    const g = graph();
    g.adjacency = { kind: 'dense', n: 5, data: new Float32Array(25) };
    expect(rankGraphFeatures(g).features.map((f) => f.influence)).toEqual([0, 0]);
  });
});
