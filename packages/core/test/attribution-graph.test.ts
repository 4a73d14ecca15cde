import { describe, expect, it } from 'vitest';
import {
  type AttributionGraph,
  type NodeLayout,
  adjacencyEntry,
  ensureLeadingSpecialToken,
  errorNodeIndex,
  logitNodeIndex,
  nodeAt,
  nodeCount,
  toCsr,
  tokenNodeIndex,
  validateAdjacency,
  validateGraph,
  zeroPositionCount,
} from '../src/attribution/index.ts';

describe('node layout', () => {
  const l: NodeLayout = { nFeatures: 4, nLayers: 3, nPos: 5, nLogits: 2 };

  it('orders features, errors (layer-major), tokens, logits', () => {
    expect(nodeCount(l)).toBe(4 + 15 + 5 + 2);
    expect(errorNodeIndex(l, 0, 0)).toBe(4);
    expect(errorNodeIndex(l, 2, 3)).toBe(4 + 2 * 5 + 3);
    expect(tokenNodeIndex(l, 0)).toBe(19);
    expect(logitNodeIndex(l, 1)).toBe(25);
    expect(nodeAt(l, 3)).toEqual({ kind: 'feature', selected: 3 });
    expect(nodeAt(l, 17)).toEqual({ kind: 'error', layer: 2, pos: 3 });
    expect(nodeAt(l, 23)).toEqual({ kind: 'token', pos: 4 });
    expect(nodeAt(l, 24)).toEqual({ kind: 'logit', target: 0 });
    for (let i = 0; i < nodeCount(l); i++) {
      const r = nodeAt(l, i);
      const back =
        r.kind === 'feature'
          ? r.selected
          : r.kind === 'error'
            ? errorNodeIndex(l, r.layer, r.pos)
            : r.kind === 'token'
              ? tokenNodeIndex(l, r.pos)
              : logitNodeIndex(l, r.target);
      expect(back).toBe(i);
    }
    expect(() => nodeAt(l, 26)).toThrow(/outside \[0, 26\)/);
  });
});

function tiny(): AttributionGraph {
  // L=1, T=2, K=1, F=1 of 2 active → N = 1 + 2 + 2 + 1 = 6.
  const data = new Float32Array(36);
  data[5 * 6 + 0] = 2; // logit ← feature
  data[0 * 6 + 3] = -1; // feature ← token 0
  return {
    inputString: 'ab',
    inputTokens: Int32Array.from([1, 2]),
    logitTargets: [{ tokenStr: 'c', vocabIdx: 3 }],
    logitProbabilities: Float32Array.from([0.9]),
    vocabSize: 4,
    activeFeatures: Int32Array.from([0, 1, 5, 0, 1, 6]),
    activationValues: Float32Array.from([1, 2]),
    selectedFeatures: Int32Array.from([1]),
    adjacency: { kind: 'dense', n: 6, data },
    model: { nLayers: 1, dVocab: 4, scan: 's' },
  };
}

describe('graph validation', () => {
  it('accepts a consistent graph and reads entries from either storage', () => {
    const g = tiny();
    validateGraph(g);
    const c = toCsr(g.adjacency);
    validateGraph({ ...g, adjacency: c });
    expect(adjacencyEntry(c, 5, 0)).toBe(2);
    expect(adjacencyEntry(c, 0, 3)).toBe(-1);
    expect(adjacencyEntry(c, 0, 2)).toBe(0);
    expect(adjacencyEntry(g.adjacency, 5, 0)).toBe(2);
  });

  it('leaves the adjacency entries unread when told they were checked, and nothing else', () => {
    const g = tiny();
    const data = Float32Array.from((g.adjacency as { data: Float32Array }).data);
    data[5 * 6] = Number.NaN;
    const bad = { ...g, adjacency: { kind: 'dense' as const, n: 6, data } };
    expect(() => validateGraph(bad)).toThrow(/not finite/);
    validateGraph(bad, { entries: false });
    expect(() =>
      validateGraph({ ...bad, selectedFeatures: Int32Array.from([9]) }, { entries: false }),
    ).toThrow(/selected feature 9/);
  });

  it('names the first problem', () => {
    expect(() => validateGraph({ ...tiny(), activeFeatures: Int32Array.from([0, 1, 6, 0, 1, 5]) })).toThrow(
      /strictly ascending by \(layer, pos, feat\) at 1/,
    );
    expect(() => validateGraph({ ...tiny(), activeFeatures: Int32Array.from([0, 1, 5, 1, 1, 6]) })).toThrow(
      /active feature 1 \(1, 1, 6\) is out of range/,
    );
    expect(() => validateGraph({ ...tiny(), selectedFeatures: Int32Array.from([2]) })).toThrow(
      /outside \[0, 2\)/,
    );
    expect(() => validateGraph({ ...tiny(), logitProbabilities: new Float32Array(2) })).toThrow(
      /2 logit probabilities/,
    );
    expect(() => validateGraph({ ...tiny(), inputTokens: Int32Array.from([1, 2, 3]) })).toThrow(
      /layout has 8 nodes/,
    );
    expect(() => validateGraph({ ...tiny(), logitTargets: [{ tokenStr: '', vocabIdx: -1 }] })).toThrow(
      /vocabIdx -1/,
    );
  });

  it('checks CSR structure', () => {
    const ok = {
      kind: 'csr' as const,
      n: 2,
      rowPtr: Int32Array.from([0, 1, 1]),
      colIdx: Int32Array.from([1]),
    };
    validateAdjacency({ ...ok, values: Float32Array.from([1]) });
    expect(() =>
      validateAdjacency({ ...ok, colIdx: Int32Array.from([2]), values: Float32Array.from([1]) }),
    ).toThrow(/column 2 outside/);
    expect(() =>
      validateAdjacency({
        ...ok,
        rowPtr: Int32Array.from([0, 2, 2]),
        colIdx: Int32Array.from([1, 0]),
        values: new Float32Array(2),
      }),
    ).toThrow(/not strictly ascending/);
    expect(() => validateAdjacency({ ...ok, values: Float32Array.from([Number.POSITIVE_INFINITY]) })).toThrow(
      /not finite/,
    );
  });
});

describe('BOS handling and zero positions', () => {
  const special = { bosTokenId: 1, padTokenId: 0, eosTokenId: 2, allSpecialIds: [0, 1, 2] };

  it('prepends the first non-zero special id unless a special token leads', () => {
    expect(ensureLeadingSpecialToken([5, 6], special)).toEqual({
      tokens: Int32Array.from([1, 5, 6]),
      prepended: true,
    });
    expect(ensureLeadingSpecialToken([2, 6], special).prepended).toBe(false);
    // bos is absent and pad is 0 (falsy in the reference): eos is chosen.
    const noBos = { bosTokenId: null, padTokenId: 0, eosTokenId: 7, allSpecialIds: [0, 7] };
    expect(Array.from(ensureLeadingSpecialToken([5], noBos).tokens)).toEqual([7, 5]);
    expect(ensureLeadingSpecialToken([5], { allSpecialIds: [] })).toEqual({
      tokens: Int32Array.from([5]),
      prepended: false,
    });
    expect(() => ensureLeadingSpecialToken([], special)).toThrow(/no tokens/);
    expect(() => ensureLeadingSpecialToken([1.5], special)).toThrow(/not a token id/);
  });

  it('requires the chat prefix for Gemma-3 -it and zeroes four positions there', () => {
    expect(zeroPositionCount('google/gemma-3-1b-it')).toBe(4);
    expect(zeroPositionCount('google/gemma-2-2b')).toBe(1);
    const ok = [2, 105, 2364, 107, 9];
    expect(Array.from(ensureLeadingSpecialToken(ok, special, 'gemma-3-1b-it').tokens)).toEqual(ok);
    expect(() => ensureLeadingSpecialToken([2, 9], special, 'gemma-3-1b-it')).toThrow(/start_of_turn/);
  });
});
