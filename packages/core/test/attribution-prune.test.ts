import { describe, expect, it } from 'vitest';
import {
  type CsrAdjacency,
  type DenseAdjacency,
  type NodeLayout,
  type PruneResult,
  computeGraphScores,
  computeInfluence,
  cumulativeScores,
  findThreshold,
  logitWeights,
  nodeCount,
  nodeInfluence,
  normalizeMatrix,
  normalizedEntry,
  pruneGraph,
  toCsr,
  toDense,
} from '../src/attribution/index.ts';
import { refInfluence, refNormalize } from './graph-oracle.ts';

/** circuit-tracer tests/test_graph.py::test_small_graph: F=5, L=2, T=2, K=1 → 12 nodes, every edge weight 10. */
const SMALL: NodeLayout = { nFeatures: 5, nLayers: 2, nPos: 2, nLogits: 1 };
function smallGraph(): DenseAdjacency {
  const n = 12;
  const data = new Float32Array(n * n);
  const edge = (t: number, s: number) => {
    data[t * n + s] = 10;
  };
  for (const s of [1, 3, 6, 8]) edge(11, s);
  for (const s of [0, 1, 6]) edge(3, s);
  for (const s of [9, 10]) edge(1, s);
  edge(0, 9);
  return { kind: 'dense', n, data };
}

function denseMask(a: CsrAdjacency, mask: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.n * a.n);
  for (let r = 0; r < a.n; r++)
    for (let k = a.rowPtr[r]; k < a.rowPtr[r + 1]; k++) out[r * a.n + a.colIdx[k]] = mask[k];
  return out;
}

/** Per-entry values of a CSR as an [n, n] matrix. */
function denseFrom(a: CsrAdjacency, perEntry: ArrayLike<number>): Float64Array {
  const out = new Float64Array(a.n * a.n);
  for (let r = 0; r < a.n; r++)
    for (let k = a.rowPtr[r]; k < a.rowPtr[r + 1]; k++) out[r * a.n + a.colIdx[k]] = perEntry[k];
  return out;
}

/** The scores of the scored edges as an [n, n] matrix, zero elsewhere; scored edges ascend. */
function denseScores(p: PruneResult): Float64Array {
  const perEntry = new Float64Array(p.adjacency.colIdx.length);
  p.scoredEdges.forEach((k, j) => {
    if (j > 0) expect(k).toBeGreaterThan(p.scoredEdges[j - 1]);
    perEntry[k] = p.edgeScores[j];
  });
  return denseFrom(p.adjacency, perEntry);
}

describe('the reference 12-node example', () => {
  it('reproduces the node influences', () => {
    const w = logitWeights(12, new Float32Array([1]));
    const infl = nodeInfluence(smallGraph(), w);
    const want = [1 / 12, 1 / 3, 0, 1 / 4, 0, 0, 1 / 3, 0, 1 / 4, 1 / 4, 1 / 6, 0];
    want.forEach((v, i) => {
      expect(infl[i]).toBeCloseTo(v, 14);
    });
  });

  it('reproduces the edge scores after node pruning, and keeps exactly those edges', () => {
    const r = pruneGraph(smallGraph(), SMALL, new Float32Array([1]));
    expect(Array.from(r.nodeMask)).toEqual([0, 1, 0, 1, 0, 0, 1, 0, 1, 1, 1, 1]);
    const scores = denseScores(r);
    const want = new Float64Array(144);
    for (const s of [1, 3, 6, 8]) want[11 * 12 + s] = 1 / 4;
    for (const s of [1, 6]) want[3 * 12 + s] = 1 / 8;
    for (const s of [9, 10]) want[1 * 12 + s] = 3 / 16;
    want.forEach((v, i) => {
      expect(scores[i]).toBeCloseTo(v, 14);
    });
    // The node pruning removed (0←9) and (3←0); the remaining 8 edges all survive the 0.98 edge threshold.
    const kept = denseMask(r.adjacency, r.edgeMask);
    const keptPairs: string[] = [];
    kept.forEach((m, i) => {
      if (m) keptPairs.push(`${Math.floor(i / 12)}<-${i % 12}`);
    });
    expect(keptPairs).toEqual(['1<-9', '1<-10', '3<-1', '3<-6', '11<-1', '11<-3', '11<-6', '11<-8']);
  });

  it('gives cumulative scores by rank (ties by index)', () => {
    const r = pruneGraph(smallGraph(), SMALL, new Float32Array([1]));
    const c = r.cumulativeScores;
    // Sorted influences 1/3 (1), 1/3 (6), 1/4 (3, 8, 9), 1/6 (10), 1/12 (0), zeros; total 5/3.
    expect(c[1]).toBeCloseTo(0.2, 12);
    expect(c[6]).toBeCloseTo(0.4, 12);
    const quarter = [c[3], c[8], c[9]].sort((a, b) => a - b);
    [0.55, 0.7, 0.85].forEach((v, i) => {
      expect(quarter[i]).toBeCloseTo(v, 12);
    });
    expect(c[10]).toBeCloseTo(0.95, 12);
    for (const i of [0, 2, 4, 5, 7, 11]) expect(c[i]).toBeCloseTo(1, 12);
  });

  it('drops more as the node threshold falls, never tokens or logits', () => {
    const r = pruneGraph(smallGraph(), SMALL, new Float32Array([1]), {
      nodeThreshold: 0.3,
      edgeThreshold: 0.98,
    });
    for (const i of [9, 10, 11]) expect(r.nodeMask[i]).toBe(1);
    expect(r.nodeMask[8]).toBe(0);
    expect(r.nodeMask[1]).toBe(1);
  });
});

describe('findThreshold', () => {
  it('keeps the shortest prefix holding the requested mass (searchsorted left)', () => {
    const s = [4, 3, 2, 1]; // cumulative 0.4, 0.7, 0.9, 1.0
    expect(findThreshold(s, 0.4)).toBe(4);
    expect(findThreshold(s, 0.41)).toBe(3);
    expect(findThreshold(s, 0.7)).toBe(3);
    expect(findThreshold(s, 0.95)).toBe(1);
    expect(findThreshold(s, 0)).toBe(4);
  });

  it('reaches the smallest positive score at 1.0, whatever the order and the zeros', () => {
    expect(findThreshold([0, 1, 0, 3, 2, 0], 1)).toBe(1);
    expect(findThreshold([5], 0.5)).toBe(5);
  });

  it('returns 0 for all-zero scores and rejects bad input', () => {
    expect(findThreshold([0, 0, 0], 0.8)).toBe(0);
    expect(() => findThreshold([], 0.5)).toThrow(/no scores/);
    expect(() => findThreshold([1, Number.NaN], 0.5)).toThrow(/score 1 is NaN/);
    expect(() => findThreshold([1, -2], 0.5)).toThrow(/non-negative/);
    expect(() => findThreshold([1], 1.5)).toThrow(/between 0 and 1/);
    expect(() => findThreshold([1], -0.1)).toThrow(/between 0 and 1/);
  });
});

describe('threshold 1.0 keeps every real edge and nothing else', () => {
  // Scores whose float32 sum rounds above their running total: the reference's find_threshold then fell into
  // the zeros and kept every pair of nodes (circuit-tracer tests/test_prune_graph_threshold.py).
  it('never selects a zero score', () => {
    const scores = Float32Array.from([0.91275554895401, 0.8132702112197876, 0.016527635976672173, 0, 0, 0]);
    expect(findThreshold(scores, 1)).toBe(Math.fround(0.016527635976672173));
  });

  it('on a two-feature chain: tok → f1 → f2, f1 and f2 → logit', () => {
    // Nodes [f1, f2, err(l0), err(l1), tok, logit]: F=2, L=2, T=1, K=1.
    const l: NodeLayout = { nFeatures: 2, nLayers: 2, nPos: 1, nLogits: 1 };
    const n = 6;
    const data = new Float32Array(n * n);
    data[0 * n + 4] = 1;
    data[1 * n + 0] = 1;
    data[5 * n + 0] = 0.43596285581588745;
    data[5 * n + 1] = 0.7308765649795532;
    const r = pruneGraph({ kind: 'dense', n, data }, l, Float32Array.from([1]), {
      nodeThreshold: 0.8,
      edgeThreshold: 1,
    });
    const m = denseMask(r.adjacency, r.edgeMask);
    for (let i = 0; i < n * n; i++) {
      const real = data[i] !== 0 && r.nodeMask[Math.floor(i / n)] === 1 && r.nodeMask[i % n] === 1;
      expect(m[i]).toBe(real ? 1 : 0);
    }
  });
});

describe('thresholds and shapes are checked', () => {
  it('rejects thresholds outside [0, 1] and mismatched layouts', () => {
    const p = new Float32Array([1]);
    expect(() => pruneGraph(smallGraph(), SMALL, p, { nodeThreshold: 1.2 })).toThrow(/node_threshold/);
    expect(() => pruneGraph(smallGraph(), SMALL, p, { edgeThreshold: -1 })).toThrow(/edge_threshold/);
    expect(() => pruneGraph(smallGraph(), SMALL, p, { nodeThreshold: Number.NaN })).toThrow(/node_threshold/);
    expect(() => pruneGraph(smallGraph(), { ...SMALL, nPos: 3 }, p)).toThrow(/layout has 15 nodes/);
    expect(() => pruneGraph(smallGraph(), SMALL, new Float32Array(2))).toThrow(/probabilities/);
  });

  it('reports a cyclic graph instead of looping forever, reachable from the logits or not', () => {
    // 0 reads 1; 1 and 2 read each other.
    const a: DenseAdjacency = { kind: 'dense', n: 3, data: new Float32Array([0, 1, 0, 0, 0, 1, 0, 1, 0]) };
    expect(() => computeInfluence(normalizeMatrix(a), new Float64Array([1, 0, 0]))).toThrow(
      /acyclic graphs, but node 1 lies on or after a cycle/,
    );
    expect(() => computeInfluence(normalizeMatrix(a), new Float64Array(3))).toThrow(/cycle/);
    const self: DenseAdjacency = { kind: 'dense', n: 2, data: new Float32Array([0, 0, 0, 1]) };
    expect(() => computeInfluence(normalizeMatrix(self), new Float64Array(2))).toThrow(/node 1 lies on/);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// A plain dense transcription of circuit-tracer's graph.py, used as an oracle on random DAGs.

function refScores(
  a: Float64Array,
  l: NodeLayout,
  p: Float32Array,
): { replacement: number; completeness: number } {
  const n = nodeCount(l);
  const w = logitWeights(n, p);
  const m = refNormalize(a, n);
  const I = refInfluence(m, w, n);
  const e0 = l.nFeatures;
  const e1 = e0 + l.nLayers * l.nPos;
  const t1 = e1 + l.nPos;
  let tok = 0;
  let err = 0;
  for (let i = e0; i < e1; i++) err += I[i];
  for (let i = e1; i < t1; i++) tok += I[i];
  let num = 0;
  let den = 0;
  for (let r = 0; r < n; r++) {
    let fe = 0;
    for (let c = e0; c < e1; c++) fe += m[r * n + c];
    num += (1 - fe) * (I[r] + w[r]);
    den += I[r] + w[r];
  }
  return { replacement: tok / (tok + err), completeness: num / den };
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** A random attribution-shaped DAG: feature and logit rows only, sources earlier in a random topological order. */
function randomGraph(seed: number, l: NodeLayout, density: number): DenseAdjacency {
  const rand = rng(seed);
  const n = nodeCount(l);
  const topo = Array.from({ length: n }, () => rand());
  const logitStart = n - l.nLogits;
  for (let i = logitStart; i < n; i++) topo[i] = 2; // logits are sinks
  const data = new Float32Array(n * n);
  for (let r = 0; r < n; r++) {
    if (r >= l.nFeatures && r < logitStart) continue;
    for (let c = 0; c < logitStart; c++) {
      if (topo[c] < topo[r] && rand() < density) data[r * n + c] = (rand() - 0.5) * 4;
    }
  }
  return { kind: 'dense', n, data };
}

/** The same matrix as CSR, with some explicitly stored zeros that must change nothing. */
function csrWithZeros(a: DenseAdjacency, seed: number): CsrAdjacency {
  const rand = rng(seed);
  const rowPtr = new Int32Array(a.n + 1);
  const cols: number[] = [];
  const vals: number[] = [];
  for (let r = 0; r < a.n; r++) {
    for (let c = 0; c < a.n; c++) {
      const v = a.data[r * a.n + c];
      if (v !== 0 || rand() < 0.05) {
        cols.push(c);
        vals.push(v);
      }
    }
    rowPtr[r + 1] = cols.length;
  }
  return { kind: 'csr', n: a.n, rowPtr, colIdx: Int32Array.from(cols), values: Float32Array.from(vals) };
}

describe('dense and sparse storage agree exactly, and match the reference transcription', () => {
  const layouts: NodeLayout[] = [
    { nFeatures: 30, nLayers: 3, nPos: 5, nLogits: 3 },
    { nFeatures: 80, nLayers: 4, nPos: 7, nLogits: 5 },
    { nFeatures: 0, nLayers: 2, nPos: 3, nLogits: 2 },
  ];
  layouts.forEach((l, li) => {
    for (const density of [0.1, 0.5]) {
      it(`layout ${li}, density ${density}`, () => {
        const dense = randomGraph(100 * li + Math.round(density * 10), l, density);
        const csr = csrWithZeros(dense, li + 7);
        const probs = Float32Array.from({ length: l.nLogits }, (_, i) => 0.5 / (i + 1));
        const n = dense.n;
        const w = logitWeights(n, probs);

        const iDense = nodeInfluence(dense, w);
        const iCsr = nodeInfluence(csr, w);
        expect(Array.from(iCsr)).toEqual(Array.from(iDense));
        const iRef = refInfluence(refNormalize(Float64Array.from(dense.data), n), w, n);
        iRef.forEach((v, i) => {
          expect(iDense[i]).toBeCloseTo(v, 10);
        });

        for (const [nt, et] of [
          [0.8, 0.98],
          [0.5, 0.7],
          [1, 1],
          [0, 0],
        ]) {
          const pd = pruneGraph(dense, l, probs, { nodeThreshold: nt, edgeThreshold: et });
          const ps = pruneGraph(csr, l, probs, { nodeThreshold: nt, edgeThreshold: et });
          expect(Array.from(ps.nodeMask)).toEqual(Array.from(pd.nodeMask));
          expect(denseMask(ps.adjacency, ps.edgeMask)).toEqual(denseMask(pd.adjacency, pd.edgeMask));
          expect(denseScores(ps)).toEqual(denseScores(pd));
          expect(Array.from(ps.cumulativeScores)).toEqual(Array.from(pd.cumulativeScores));
          // Kept edges always join kept nodes, and kept features have inputs and outputs.
          const m = denseMask(pd.adjacency, pd.edgeMask);
          for (let r = 0; r < n; r++) {
            for (let c = 0; c < n; c++) {
              if (m[r * n + c])
                expect(pd.nodeMask[r] && pd.nodeMask[c] && dense.data[r * n + c] !== 0).toBeTruthy();
            }
          }
          for (let f = 0; f < l.nFeatures; f++) {
            if (!pd.nodeMask[f]) continue;
            let ins = 0;
            let outs = 0;
            for (let k = 0; k < n; k++) {
              ins += m[f * n + k];
              outs += m[k * n + f];
            }
            expect(ins > 0 && outs > 0).toBe(true);
          }
        }

        const sd = computeGraphScores(dense, l, probs);
        const ss = computeGraphScores(csr, l, probs);
        expect(ss).toEqual(sd);
        const sr = refScores(Float64Array.from(dense.data), l, probs);
        expect(sd.replacement).toBeCloseTo(sr.replacement, 10);
        expect(sd.completeness).toBeCloseTo(sr.completeness, 10);
      });
    }
  });

  it('gives one influence whether the rows come in circuit-tracer order or in any other', () => {
    const l: NodeLayout = { nFeatures: 40, nLayers: 3, nPos: 5, nLogits: 3 };
    const n = nodeCount(l);
    const rand = rng(11);
    // circuit-tracer's order: features read earlier features, errors and tokens; logits read every source.
    const data = new Float32Array(n * n);
    for (let r = 0; r < n; r++) {
      if (r >= l.nFeatures && r < n - l.nLogits) continue;
      for (let c = 0; c < n - l.nLogits; c++)
        if ((c < r || c >= l.nFeatures) && rand() < 0.3) data[r * n + c] = rand() - 0.5;
    }
    const perm = Array.from({ length: n }, (_, i) => i).sort(() => rand() - 0.5);
    const shuffled = new Float32Array(n * n);
    for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) shuffled[perm[r] * n + perm[c]] = data[r * n + c];
    const w = logitWeights(n, new Float32Array([0.5, 0.3, 0.2]));
    const ws = new Float64Array(n);
    for (let i = 0; i < n; i++) ws[perm[i]] = w[i];
    const inOrder = nodeInfluence({ kind: 'dense', n, data }, w);
    const anyOrder = nodeInfluence({ kind: 'dense', n, data: shuffled }, ws);
    const ref = refInfluence(refNormalize(Float64Array.from(data), n), w, n);
    for (let i = 0; i < n; i++) {
      expect(inOrder[i]).toBeCloseTo(ref[i], 13);
      expect(anyOrder[perm[i]]).toBeCloseTo(ref[i], 13);
    }
    expect(ref.filter((x) => x > 0).length).toBeGreaterThan(l.nFeatures / 2);
  });

  it('converts between storages without loss', () => {
    const l = { nFeatures: 20, nLayers: 2, nPos: 4, nLogits: 2 };
    const d = randomGraph(5, l, 0.3);
    expect(toDense(toCsr(d)).data).toEqual(d.data);
    expect(() => toDense(toCsr(d), 100)).toThrow(/byte limit/);
  });
});

/**
 * Edge pruning as first written: over every stored entry of the N×N matrix, with the removed nodes' entries
 * zeroed rather than dropped. pruneGraph now works on the kept edges alone; the two must agree bit for bit.
 */
function fullMatrixEdgePrune(
  a: CsrAdjacency,
  w: Float64Array,
  nodeMask: Uint8Array,
  edgeThreshold: number,
): { edgeScores: Float64Array; edgeMask: Uint8Array } {
  const { n, rowPtr, colIdx } = a;
  const nnz = colIdx.length;
  const prunedValues = new Float32Array(nnz);
  for (let r = 0; r < n; r++) {
    if (!nodeMask[r]) continue;
    for (let k = rowPtr[r]; k < rowPtr[r + 1]; k++) if (nodeMask[colIdx[k]]) prunedValues[k] = a.values[k];
  }
  const norm = normalizeMatrix({ kind: 'csr', n, rowPtr, colIdx, values: prunedValues });
  const targetInfluence = computeInfluence(norm, w);
  for (let i = 0; i < n; i++) targetInfluence[i] += w[i];
  const edgeScores = new Float64Array(nnz);
  for (let r = 0; r < n; r++)
    for (let k = rowPtr[r]; k < rowPtr[r + 1]; k++)
      edgeScores[k] = normalizedEntry(norm, r, k) * targetInfluence[r];
  const edgeMask = new Uint8Array(nnz);
  const edgeCut = findThreshold(edgeScores, edgeThreshold);
  for (let k = 0; k < nnz; k++) edgeMask[k] = prunedValues[k] !== 0 && edgeScores[k] >= edgeCut ? 1 : 0;
  return { edgeScores, edgeMask };
}

describe('edge pruning on the kept edges alone', () => {
  it('scores and keeps exactly the edges that pruning over the full matrix does', () => {
    const l: NodeLayout = { nFeatures: 60, nLayers: 3, nPos: 6, nLogits: 3 };
    const probs = new Float32Array([0.5, 0.3, 0.2]);
    for (const density of [0.1, 0.6]) {
      const csr = csrWithZeros(randomGraph(7 + density * 10, l, density), 3);
      const w = logitWeights(csr.n, probs);
      for (const [nt, et] of [
        [0.8, 0.98],
        [0.5, 0.7],
      ]) {
        // The node mask of node pruning alone (tokens and logits always kept), before dangling nodes go.
        const influence = nodeInfluence(csr, w);
        const cut = findThreshold(influence, nt);
        const kept = csr.n - l.nLogits - l.nPos;
        const nodeMask = Uint8Array.from(influence, (v, i) => (i >= kept || v >= cut ? 1 : 0));
        const ref = fullMatrixEdgePrune(csr, w, nodeMask, et);
        const got = pruneGraph(csr, l, probs, { nodeThreshold: nt, edgeThreshold: et });
        expect(denseScores(got)).toEqual(denseFrom(csr, ref.edgeScores));
        // Dangling-node removal may clear more edges, never keep one the threshold dropped.
        for (let k = 0; k < got.edgeMask.length; k++)
          expect(got.edgeMask[k]).toBeLessThanOrEqual(ref.edgeMask[k]);
        expect(got.edgeMask.some((m) => m === 1)).toBe(true);
        // Graph scores from pruneGraph's normalised matrix and influence equal those computed afresh.
        expect(computeGraphScores(csr, l, probs, got)).toEqual(computeGraphScores(csr, l, probs));
      }
    }
  });
});

describe('graph scores', () => {
  it('are 1 with no error input and fall as error edges grow', () => {
    // F=1, L=1, T=1, K=1: nodes [feature 0, error 1, token 2, logit 3].
    const l: NodeLayout = { nFeatures: 1, nLayers: 1, nPos: 1, nLogits: 1 };
    const make = (err: number): DenseAdjacency => {
      const d = new Float32Array(16);
      d[3 * 4 + 0] = 1; // logit ← feature
      d[0 * 4 + 2] = 1; // feature ← token
      d[3 * 4 + 1] = err; // logit ← error
      return { kind: 'dense', n: 4, data: d };
    };
    const p = new Float32Array([1]);
    expect(computeGraphScores(make(0), l, p)).toEqual({ replacement: 1, completeness: 1 });
    const s = computeGraphScores(make(1), l, p);
    // The logit gets half its input from the error: influences feature 0.5, error 0.5, token 0.5, logit 0 + w 1.
    // Only the logit has error input (half of it); nodes without inputs count as fully explained.
    expect(s.replacement).toBeCloseTo(0.5, 12);
    expect(s.completeness).toBeCloseTo((0.5 + 0.5 + 0.5 + 0.5 * 1) / 2.5, 12);
  });

  it('cumulative scores are all 1 when nothing has influence', () => {
    expect(Array.from(cumulativeScores(new Float64Array(3)))).toEqual([1, 1, 1]);
  });
});
