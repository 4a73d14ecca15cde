import { describe, expect, it } from 'vitest';
import {
  type ComputeRows,
  type RowTarget,
  assembleGraph,
  exploreFeatures,
  pruneGraph,
  toDense,
} from '../src/attribution/index.ts';
import { partialInfluences, type RowBlock, topUnvisited } from '../src/attribution/explore.ts';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

interface Oracle {
  nActive: number;
  nLayers: number;
  nPos: number;
  K: number;
  rowSize: number;
  feats: [number, number, number][];
  /** Full matrix over [active features, errors, tokens, logits], rows = targets; causal, so nilpotent. */
  full: Float32Array; // [M, M]
  probs: Float32Array;
  calls: RowTarget[][];
  computeRows: ComputeRows;
}

/**
 * A synthetic model: feature (l, p) reads features and errors of layers < l at positions ≤ p and tokens at ≤ p;
 * logits read everything at the last position. Active features are sorted by (layer, pos, feat) like the reference.
 */
function oracle(seed: number, nLayers: number, nPos: number, perSite: number, K: number): Oracle {
  const rand = rng(seed);
  const feats: [number, number, number][] = [];
  for (let l = 0; l < nLayers; l++) {
    for (let p = 1; p < nPos; p++)
      for (let f = 0; f < perSite; f++) if (rand() < 0.7) feats.push([l, p, f * 3 + l]);
  }
  const nActive = feats.length;
  const rowSize = nActive + (nLayers + 1) * nPos;
  const M = rowSize + K;
  const full = new Float32Array(M * M);
  const colLayer = (c: number): [number, number] => {
    if (c < nActive) return [feats[c][0], feats[c][1]];
    const r = c - nActive;
    if (r < nLayers * nPos) return [Math.floor(r / nPos), r % nPos];
    return [-1, r - nLayers * nPos]; // token: layer −1
  };
  const fill = (row: number, layer: number, pos: number) => {
    for (let c = 0; c < rowSize; c++) {
      const [cl, cp] = colLayer(c);
      if (cl < layer && cp <= pos && rand() < 0.6) full[row * M + c] = (rand() - 0.5) * 2 * (1 + (c % 5));
    }
  };
  for (let i = 0; i < nActive; i++) fill(i, feats[i][0], feats[i][1]);
  for (let k = 0; k < K; k++) fill(rowSize + k, nLayers, nPos - 1);
  const probs = Float32Array.from({ length: K }, (_, k) => 0.6 / (k + 1));
  const calls: RowTarget[][] = [];
  const computeRows: ComputeRows = async (targets) => {
    calls.push([...targets]);
    const out = new Float32Array(targets.length * rowSize);
    targets.forEach((t, i) => {
      const row = t.kind === 'logit' ? rowSize + t.index : t.activeIndex;
      out.set(full.subarray(row * M, row * M + rowSize), i * rowSize);
    });
    return out;
  };
  return { nActive, nLayers, nPos, K, rowSize, feats, full, probs, calls, computeRows };
}

/** Straight dense transcription of the reference phase 4 (float64), as an independent oracle of the visit order. */
function referenceVisitOrder(o: Oracle, maxF: number, batchSize: number, updateInterval: number): number[] {
  const M = o.rowSize + o.K;
  const rows: number[] = [];
  const rowNode: number[] = [];
  for (let k = 0; k < o.K; k++) {
    rows.push(o.rowSize + k);
    rowNode.push(o.rowSize + k);
  }
  const visited = new Set<number>();
  const order: number[] = [];
  while (order.length < maxF) {
    const norm = rows.map((r) => {
      let s = 0;
      for (let c = 0; c < M; c++) s += Math.abs(o.full[r * M + c]);
      return Math.max(s, 1e-8);
    });
    let prod = new Float64Array(M);
    for (let k = 0; k < o.K; k++) prod[o.rowSize + k] = o.probs[k];
    const infl = new Float64Array(M);
    for (let it = 0; it < 128; it++) {
      const next = new Float64Array(M);
      rows.forEach((r, i) => {
        const x = prod[rowNode[i]];
        for (let c = 0; c < M; c++) next[c] += (x * Math.abs(o.full[r * M + c])) / norm[i];
      });
      if (next.every((v) => v === 0)) break;
      for (let c = 0; c < M; c++) infl[c] += next[c];
      prod = next;
    }
    const rank = Array.from({ length: o.nActive }, (_, i) => i).sort((a, b) => infl[b] - infl[a] || a - b);
    const pending = rank
      .filter((f) => !visited.has(f))
      .slice(0, Math.min(updateInterval * batchSize, maxF - order.length));
    for (const f of pending) {
      visited.add(f);
      order.push(f);
      rows.push(f);
      rowNode.push(f);
    }
  }
  return order;
}

/** Dense [rows, nCols] rows of the given nodes as a RowBlock of one chunk per row (zeros dropped). */
function rowBlock(nCols: number, rows: number[][], nodes: number[]): RowBlock {
  const chunks = rows.map((row, i) => {
    const cols = row.flatMap((v, c) => (v !== 0 ? [c] : []));
    return {
      firstRow: i,
      rowPtr: Int32Array.from([0, cols.length]),
      colIdx: Int32Array.from(cols),
      values: Float32Array.from(cols, (c) => row[c]),
    };
  });
  return { nRows: rows.length, nCols, chunks, rowNode: Int32Array.from(nodes) };
}

describe('partialInfluences', () => {
  // Nodes 0..3 and one logit (4); the logit reads 0, 1 and 3; 3 reads 1 and 2; 1 reads 0 and 2.
  const rows = [
    [0.5, -1, 0, 2, 0],
    [0, 3, 1, 0, 0],
    [-2, 0, 4, 0, 0],
  ];
  const want = new Float64Array(5);
  {
    // By hand: w = 0.75 on the logit; each row pushes (I + w)[node] · |row| / Σ|row| into its sources.
    const push = (node: number, row: number[], x: number) => {
      const s = row.reduce((a, v) => a + Math.abs(v), 0);
      row.forEach((v, c) => {
        want[c] += (x * Math.abs(v)) / s;
      });
      return node;
    };
    push(4, rows[0], 0.75);
    push(3, rows[1], want[3]);
    push(1, rows[2], want[1]);
  }

  it('sums the series in one pass when rows by descending node are topological, term by term otherwise', () => {
    const inOrder = partialInfluences(rowBlock(5, rows, [4, 3, 1]), Float32Array.of(0.75));
    // Renumbered so that node 1 (with a row) is read by node 0, below it: no longer descending.
    const swap = [3, 1, 2, 0, 4];
    const swapped = rows.map((r) => {
      const out = new Array(5).fill(0);
      r.forEach((v, c) => {
        out[swap[c]] = v;
      });
      return out;
    });
    const anyOrder = partialInfluences(rowBlock(5, swapped, [4, 0, 1]), Float32Array.of(0.75));
    for (let c = 0; c < 5; c++) {
      expect(inOrder[c]).toBeCloseTo(want[c], 14);
      expect(anyOrder[swap[c]]).toBeCloseTo(want[c], 14);
    }
    expect(want[0]).toBeGreaterThan(0);
  });

  it('reports cyclic rows', () => {
    const cyclic = rowBlock(
      3,
      [
        [0, 1, 0],
        [0, 0, 1],
        [0, 1, 0],
      ],
      [2, 0, 1],
    );
    expect(() => partialInfluences(cyclic, Float32Array.of(1), 20)).toThrow(/converge in 20 iterations/);
  });
});

describe('topUnvisited', () => {
  it('takes the first q unvisited features of the full ranking (influence descending, ties by index)', () => {
    let s = 7;
    const rand = () => {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      return s / 2 ** 32;
    };
    for (const [n, levels] of [
      [200, 5], // many exact ties, zeros among them
      [500, 1e9],
      [3, 2],
    ]) {
      const infl = Float64Array.from({ length: n }, () => Math.floor(rand() * levels) / levels);
      const visited = Uint8Array.from({ length: n }, () => (rand() < 0.3 ? 1 : 0));
      const full = Array.from({ length: n }, (_, i) => i)
        .sort((a, b) => infl[b] - infl[a] || a - b)
        .filter((i) => !visited[i]);
      for (const q of [1, 7, 64, n])
        expect(Array.from(topUnvisited(infl, visited, q))).toEqual(full.slice(0, q));
    }
  });
});

describe('exploreFeatures', () => {
  it('visits every feature in natural order when max_feature_nodes covers them, and packs the full matrix', async () => {
    const o = oracle(1, 3, 5, 4, 3);
    const res = await exploreFeatures({ ...o, logitProbabilities: o.probs, batchSize: 7, storage: 'dense' });
    expect(Array.from(res.visitOrder)).toEqual(Array.from({ length: o.nActive }, (_, i) => i));
    expect(Array.from(res.selectedFeatures)).toEqual(Array.from(res.visitOrder));
    // With every feature selected the packaged layout is the oracle's layout.
    expect(res.adjacency.kind).toBe('dense');
    expect(toDense(res.adjacency).data).toEqual(o.full);
    // Logit rows first, then features in batches of 7.
    expect(o.calls[0].every((t) => t.kind === 'logit')).toBe(true);
    const sizes = o.calls.slice(1).map((c) => c.length);
    expect(sizes.slice(0, -1).every((s) => s === 7)).toBe(true);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(o.nActive);
  });

  it('packs rows with no zero at all, the buffer growing to take the logit rows after the features', async () => {
    const [nActive, nLayers, nPos, K] = [3, 1, 2, 2];
    const rowSize = nActive + (nLayers + 1) * nPos;
    const value = (t: RowTarget, c: number) =>
      (t.kind === 'logit' ? 10 * (t.index + 1) : t.activeIndex + 1) + c / 100;
    const res = await exploreFeatures({
      nActive,
      nLayers,
      nPos,
      logitProbabilities: Float32Array.from([0.5, 0.25]),
      batchSize: 2,
      computeRows: async (targets) =>
        Float32Array.from({ length: targets.length * rowSize }, (_, i) =>
          value(targets[Math.floor(i / rowSize)], i % rowSize),
        ),
    });
    const n = rowSize + K;
    const want = new Float32Array(n * n);
    for (let r = 0; r < n; r++) {
      const t: RowTarget | undefined =
        r < nActive
          ? { kind: 'feature', activeIndex: r }
          : r >= rowSize
            ? { kind: 'logit', index: r - rowSize }
            : undefined;
      if (t) for (let c = 0; c < rowSize; c++) want[r * n + c] = value(t, c);
    }
    expect(res.adjacency.kind).toBe('csr');
    expect(toDense(res.adjacency).data).toEqual(want);
  });

  it('picks features by partial influence under a cap, re-ranking every update_interval batches', async () => {
    const o = oracle(2, 4, 6, 5, 4);
    const maxF = Math.floor(o.nActive / 2);
    const batchSize = 3;
    const updateInterval = 2;
    const res = await exploreFeatures({
      ...o,
      logitProbabilities: o.probs,
      batchSize,
      updateInterval,
      maxFeatureNodes: maxF,
    });
    const want = referenceVisitOrder(o, maxF, batchSize, updateInterval);
    expect(Array.from(res.visitOrder)).toEqual(want);
    expect(want).not.toEqual([...want].sort((a, b) => a - b)); // the cap really reorders
    expect(Array.from(res.selectedFeatures)).toEqual([...want].sort((a, b) => a - b));

    // The first batch is the top 3 by direct, probability-weighted, row-normalised logit attribution.
    const M = o.rowSize + o.K;
    const direct = new Float64Array(o.nActive);
    for (let k = 0; k < o.K; k++) {
      const r = o.rowSize + k;
      let s = 0;
      for (let c = 0; c < M; c++) s += Math.abs(o.full[r * M + c]);
      for (let f = 0; f < o.nActive; f++) direct[f] += (o.probs[k] * Math.abs(o.full[r * M + f])) / s;
    }
    const top3 = Array.from({ length: o.nActive }, (_, i) => i)
      .sort((a, b) => direct[b] - direct[a] || a - b)
      .slice(0, 3);
    const featureCalls = o.calls.filter((c) => c[0].kind === 'feature');
    expect(featureCalls[0].map((t) => (t.kind === 'feature' ? t.activeIndex : -1))).toEqual(top3);
    expect(featureCalls.slice(0, -1).every((c) => c.length === batchSize)).toBe(true);

    // Packaging: rows of selected features (ascending) then logits; unvisited feature columns dropped.
    const sel = Array.from(res.selectedFeatures);
    const keepCols = [...sel, ...Array.from({ length: M - o.nActive }, (_, i) => o.nActive + i)];
    const keepRows = [...sel, ...Array.from({ length: M - o.nActive }, (_, i) => o.nActive + i)];
    const n = keepCols.length;
    const want2 = new Float32Array(n * n);
    keepRows.forEach((r, i) => {
      const isRow = r < o.nActive || r >= o.rowSize;
      if (!isRow) return;
      keepCols.forEach((c, j) => {
        want2[i * n + j] = o.full[r * M + c];
      });
    });
    expect(res.adjacency.kind).toBe('csr');
    expect(toDense(res.adjacency).data).toEqual(want2);
  });

  it('assembles a valid graph that prunes', async () => {
    const o = oracle(6, 2, 4, 3, 2);
    const explored = await exploreFeatures({
      ...o,
      logitProbabilities: o.probs,
      maxFeatureNodes: 5,
      batchSize: 2,
    });
    const g = assembleGraph(
      {
        inputString: 'abcd',
        inputTokens: Int32Array.from([0, 1, 2, 3]),
        logitTargets: [
          { tokenStr: 'x', vocabIdx: 4 },
          { tokenStr: 'y', vocabIdx: 5 },
        ],
        logitProbabilities: o.probs,
        vocabSize: 6,
        activeFeatures: Int32Array.from(o.feats.flat()),
        activationValues: new Float32Array(o.nActive).fill(1),
        model: { nLayers: 2, dVocab: 6, scan: 'synthetic' },
      },
      explored,
    );
    expect(g.adjacency.n).toBe(5 + 3 * 4 + 2);
    const layout = { nFeatures: 5, nLayers: 2, nPos: 4, nLogits: 2 };
    expect(pruneGraph(g.adjacency, layout, g.logitProbabilities).nodeMask.length).toBe(19);
    expect(() => assembleGraph({ ...g, activationValues: new Float32Array(1) }, explored)).toThrow(
      /activation values/,
    );
  });

  it('gives identical graphs with dense and sparse storage', async () => {
    const o1 = oracle(3, 3, 4, 6, 2);
    const o2 = oracle(3, 3, 4, 6, 2);
    const opts = { batchSize: 4, updateInterval: 1, maxFeatureNodes: 10 };
    const a = await exploreFeatures({ ...o1, logitProbabilities: o1.probs, ...opts, storage: 'dense' });
    const b = await exploreFeatures({ ...o2, logitProbabilities: o2.probs, ...opts, storage: 'csr' });
    expect(Array.from(a.visitOrder)).toEqual(Array.from(b.visitOrder));
    expect(toDense(b.adjacency).data).toEqual(toDense(a.adjacency).data);
  });

  it('handles a prompt with no active features', async () => {
    const o = oracle(4, 2, 1, 3, 2); // positions start at 1, so nothing is active
    expect(o.nActive).toBe(0);
    const res = await exploreFeatures({ ...o, logitProbabilities: o.probs, maxFeatureNodes: 5 });
    expect(res.selectedFeatures.length).toBe(0);
    expect(res.adjacency.n).toBe(3 * 1 + 2);
  });

  it('rejects bad options and bad rows with clear errors', async () => {
    const o = oracle(5, 2, 3, 2, 1);
    const base = { ...o, logitProbabilities: o.probs };
    await expect(exploreFeatures({ ...base, batchSize: 0 })).rejects.toThrow(/batch_size/);
    await expect(exploreFeatures({ ...base, updateInterval: 1.5 })).rejects.toThrow(/update_interval/);
    await expect(exploreFeatures({ ...base, maxFeatureNodes: -1 })).rejects.toThrow(/max_feature_nodes/);
    await expect(exploreFeatures({ ...base, logitProbabilities: new Float32Array(0) })).rejects.toThrow(
      /logit targets/,
    );
    await expect(exploreFeatures({ ...base, computeRows: async () => new Float32Array(3) })).rejects.toThrow(
      /expected \[1, /,
    );
    await expect(
      exploreFeatures({
        ...base,
        computeRows: async (t) => new Float32Array(t.length * o.rowSize).fill(Number.NaN),
      }),
    ).rejects.toThrow(/logit target 0 has a non-finite value/);
    const ac = new AbortController();
    ac.abort();
    await expect(exploreFeatures({ ...base, signal: ac.signal })).rejects.toThrow();
  });
});
