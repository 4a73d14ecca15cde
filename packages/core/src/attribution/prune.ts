/**
 * circuit-tracer's prune_graph: keep the nodes and edges that carry a given fraction of the influence on the
 * weighted logits, then drop dangling nodes until nothing changes.
 *
 * One deliberate difference: an edge is a stored entry with a non-zero weight. The reference thresholds all N²
 * cells, so at threshold 0 it keeps zero-weight "edges" (N² links in the JSON); here those never exist.
 */
import {
  type Adjacency,
  type CsrAdjacency,
  type NodeLayout,
  logitWeights,
  nodeCount,
  toCsr,
} from './graph.ts';
import { computeInfluence, nodeInfluence, normalizeMatrix } from './influence.ts';
import { cumulativeScores } from './scores.ts';

/**
 * find_threshold: the smallest score of the shortest prefix of the descending scores whose mass is ≥ q of the
 * total (searchsorted left). Ties with that score are kept by the caller's `>=`. All-zero scores give 0.
 * Zeros never decide the threshold (the cumulative mass is already 1 before them), so they are skipped.
 */
export function findThreshold(scores: ArrayLike<number>, q: number): number {
  assertFraction('threshold', q);
  if (scores.length === 0) throw new Error('findThreshold: there are no scores');
  let m = 0;
  for (let i = 0; i < scores.length; i++) {
    const v = scores[i];
    if (!(v >= 0)) throw new Error(`findThreshold: score ${i} is ${v}; scores must be non-negative numbers`);
    if (v > 0) m++;
  }
  if (m === 0) return 0;
  const desc = new Float64Array(m);
  for (let i = 0, j = 0; i < scores.length; i++) if (scores[i] > 0) desc[j++] = scores[i];
  desc.sort().reverse();
  const cum = new Float64Array(m);
  let s = 0;
  for (let i = 0; i < m; i++) cum[i] = s += desc[i];
  let lo = 0;
  let hi = m;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cum[mid] / s < q) lo = mid + 1;
    else hi = mid;
  }
  return desc[Math.min(lo, m - 1)];
}

function assertFraction(name: string, v: number): void {
  if (!(v >= 0 && v <= 1)) throw new Error(`${name} must be between 0 and 1, got ${v}`);
}

export interface PruneResult {
  /** 1 = node kept. */
  nodeMask: Uint8Array; // [N]
  /** CSR view of the input adjacency; edgeMask and edgeScores are aligned with its entries. */
  adjacency: CsrAdjacency;
  /** 1 = edge (target row, source column) kept. */
  edgeMask: Uint8Array; // [nnz]
  /** Â'[t, s] · (I'[t] + w[t]) on the node-pruned graph. */
  edgeScores: Float64Array; // [nnz]
  /** Influence of every node on the unpruned graph. */
  nodeInfluence: Float64Array; // [N]
  /** Fraction of total influence covered by nodes at least as influential; small = important. */
  cumulativeScores: Float64Array; // [N]
}

export interface PruneOptions {
  nodeThreshold?: number;
  edgeThreshold?: number;
}

export function pruneGraph(
  adjacency: Adjacency,
  layout: NodeLayout,
  logitProbabilities: Float32Array,
  options: PruneOptions = {},
): PruneResult {
  const n = nodeCount(layout);
  if (adjacency.n !== n)
    throw new Error(`prune: adjacency is ${adjacency.n}×${adjacency.n} but the layout has ${n} nodes`);
  if (logitProbabilities.length !== layout.nLogits) {
    throw new Error(`prune: ${layout.nLogits} logits but ${logitProbabilities.length} probabilities`);
  }
  const F = layout.nFeatures;
  const alwaysKept = n - layout.nLogits - layout.nPos; // tokens and logits start here
  const roles = new Uint8Array(n);
  for (let i = 0; i < n; i++)
    roles[i] = i < F ? NODE_ROLE.feature : i < alwaysKept ? NODE_ROLE.source : NODE_ROLE.kept;
  return pruneAdjacency(toCsr(adjacency), logitWeights(n, logitProbabilities), roles, options);
}

/** How pruning treats a node: features need an input and an output, sources only an output. */
export const NODE_ROLE = { source: 0, feature: 1, kept: 2 } as const;

/**
 * The pruning algorithm over any node order: `w` seeds the influence (logit probabilities on logit nodes) and
 * `roles` (NODE_ROLE per node) says which nodes are always kept and which must keep inputs. pruneGraph is this
 * with circuit-tracer's order; a graph read back from JSON uses its own.
 */
export function pruneAdjacency(
  a: CsrAdjacency,
  w: Float64Array,
  roles: Uint8Array,
  { nodeThreshold = 0.8, edgeThreshold = 0.98 }: PruneOptions = {},
): PruneResult {
  assertFraction('node_threshold', nodeThreshold);
  assertFraction('edge_threshold', edgeThreshold);
  const n = a.n;
  if (w.length !== n || roles.length !== n)
    throw new Error(`prune: ${n} nodes but ${w.length} logit weights and ${roles.length} roles`);

  const influence = nodeInfluence(a, w);
  const nodeCut = findThreshold(influence, nodeThreshold);
  const nodeMask = new Uint8Array(n);
  for (let i = 0; i < n; i++) nodeMask[i] = roles[i] === NODE_ROLE.kept || influence[i] >= nodeCut ? 1 : 0;

  const { rowPtr, colIdx } = a;
  const nnz = colIdx.length;
  const prunedValues = new Float32Array(nnz);
  for (let r = 0; r < n; r++) {
    if (!nodeMask[r]) continue;
    for (let k = rowPtr[r]; k < rowPtr[r + 1]; k++) if (nodeMask[colIdx[k]]) prunedValues[k] = a.values[k];
  }
  const pruned: CsrAdjacency = { kind: 'csr', n, rowPtr, colIdx, values: prunedValues };
  const norm = normalizeMatrix(pruned);
  const targetInfluence = computeInfluence(norm, w);
  for (let i = 0; i < n; i++) targetInfluence[i] += w[i];
  const edgeScores = new Float64Array(nnz);
  for (let r = 0; r < n; r++) {
    for (let k = rowPtr[r]; k < rowPtr[r + 1]; k++) edgeScores[k] = norm.values[k] * targetInfluence[r];
  }
  const edgeMask = new Uint8Array(nnz);
  if (nnz > 0) {
    const edgeCut = findThreshold(edgeScores, edgeThreshold);
    for (let k = 0; k < nnz; k++) edgeMask[k] = prunedValues[k] !== 0 && edgeScores[k] >= edgeCut ? 1 : 0;
  }

  const hasOut = new Uint8Array(n);
  const hasIn = new Uint8Array(n);
  // Each pass can strand further nodes; the reference iterates to a fixed point (≤ nLayers + 1 passes).
  for (;;) {
    hasOut.fill(0);
    hasIn.fill(0);
    for (let r = 0; r < n; r++) {
      for (let k = rowPtr[r]; k < rowPtr[r + 1]; k++) {
        if (edgeMask[k]) {
          hasOut[colIdx[k]] = 1;
          hasIn[r] = 1;
        }
      }
    }
    let changed = false;
    for (let i = 0; i < n; i++) {
      if (roles[i] === NODE_ROLE.kept) continue;
      if (nodeMask[i] && (!hasOut[i] || (roles[i] === NODE_ROLE.feature && !hasIn[i]))) {
        nodeMask[i] = 0;
        changed = true;
      }
    }
    if (!changed) break;
    for (let r = 0; r < n; r++) {
      for (let k = rowPtr[r]; k < rowPtr[r + 1]; k++)
        if (!nodeMask[r] || !nodeMask[colIdx[k]]) edgeMask[k] = 0;
    }
  }

  return {
    nodeMask,
    adjacency: a,
    edgeMask,
    edgeScores,
    nodeInfluence: influence,
    cumulativeScores: cumulativeScores(influence),
  };
}
