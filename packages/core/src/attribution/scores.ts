/** Per-node cumulative influence and the graph-level replacement / completeness scores. */
import { type Adjacency, type NodeLayout, logitWeights, nodeCount } from './graph.ts';
import { computeInfluence, type NormalizedCsr, normalizedEntry, normalizeMatrix } from './influence.ts';

/**
 * cumsum(sort_desc(I)) / sum(I) at each node's rank, in (0, 1]. Ties rank by ascending node index (the
 * reference's unstable sort leaves them arbitrary). With no influence at all every node gets 1.
 */
export function cumulativeScores(influence: Float64Array): Float64Array {
  const n = influence.length;
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => influence[b] - influence[a] || a - b);
  const out = new Float64Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) total += influence[order[i]];
  if (total === 0) return out.fill(1);
  let cum = 0;
  for (let i = 0; i < n; i++) {
    cum += influence[order[i]];
    out[order[i]] = cum / total;
  }
  return out;
}

export interface GraphScores {
  /** Share of token→logit influence that does not pass through error nodes. NaN when neither carries any. */
  replacement: number;
  /** Influence-weighted share of every node's input that does not come from error nodes. */
  completeness: number;
}

/**
 * `known`: the normalised adjacency and its node influence when the caller has them already (pruneGraph
 * returns both), so that a 10k-node graph is not normalised and iterated twice.
 */
export function computeGraphScores(
  adjacency: Adjacency,
  layout: NodeLayout,
  logitProbabilities: Float32Array,
  known?: { normalized: NormalizedCsr; nodeInfluence: Float64Array },
): GraphScores {
  const n = nodeCount(layout);
  if (adjacency.n !== n)
    throw new Error(`scores: adjacency is ${adjacency.n}×${adjacency.n} but the layout has ${n} nodes`);
  if (known && (known.normalized.n !== n || known.nodeInfluence.length !== n))
    throw new Error(`scores: the normalised adjacency and influence given are not for ${n} nodes`);
  const w = logitWeights(n, logitProbabilities);
  const norm = known?.normalized ?? normalizeMatrix(adjacency);
  const influence = known?.nodeInfluence ?? computeInfluence(norm, w);
  const errStart = layout.nFeatures;
  const errEnd = errStart + layout.nLayers * layout.nPos;
  const tokEnd = errEnd + layout.nPos;
  let tokenInfluence = 0;
  let errorInfluence = 0;
  for (let i = errStart; i < errEnd; i++) errorInfluence += influence[i];
  for (let i = errEnd; i < tokEnd; i++) tokenInfluence += influence[i];

  let weighted = 0;
  let total = 0;
  for (let r = 0; r < n; r++) {
    let fromErrors = 0;
    // Columns ascend, so a row's error sources are the run of entries from the first column ≥ errStart.
    const end = norm.rowPtr[r + 1];
    for (let k = firstAtLeast(norm.colIdx, norm.rowPtr[r], end, errStart); k < end; k++) {
      if (norm.colIdx[k] >= errEnd) break;
      fromErrors += normalizedEntry(norm, r, k);
    }
    const out = influence[r] + w[r];
    weighted += (1 - fromErrors) * out;
    total += out;
  }
  return { replacement: tokenInfluence / (tokenInfluence + errorInfluence), completeness: weighted / total };
}

/** The first k in [lo, hi) with cols[k] ≥ c (hi if none); cols ascends there. */
function firstAtLeast(cols: Int32Array, lo: number, hi: number, c: number): number {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cols[mid] < c) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
