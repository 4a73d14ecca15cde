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
import { computeInfluence, type NormalizedCsr, normalizedEntry, normalizeMatrix } from './influence.ts';
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
  /**
   * The edges edge pruning scored, as indices of adjacency entries (ascending): the non-zero entries between
   * nodes that node pruning kept. Every other entry scores 0.
   */
  scoredEdges: Int32Array; // [E]
  /** Â'[t, s] · (I'[t] + w[t]) on the node-pruned graph, for each scored edge. */
  edgeScores: Float64Array; // [E]
  /** Influence of every node on the unpruned graph. */
  nodeInfluence: Float64Array; // [N]
  /** The unpruned graph normalised (what nodeInfluence was computed on), for computeGraphScores to reuse. */
  normalized: NormalizedCsr;
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

  const normalized = normalizeMatrix(a);
  const influence = computeInfluence(normalized, w);
  const nodeCut = findThreshold(influence, nodeThreshold);
  const nodeMask = new Uint8Array(n);
  for (let i = 0; i < n; i++) nodeMask[i] = roles[i] === NODE_ROLE.kept || influence[i] >= nodeCut ? 1 : 0;

  // Edge pruning sees only the non-zero edges between kept nodes, usually a small part of the graph. Dropping
  // the others changes no sum: each would add an exact zero to its row sum, influence term and score list.
  const sub = keptEdges(a, nodeMask);
  const norm = normalizeMatrix(sub);
  const targetInfluence = computeInfluence(norm, w);
  for (let i = 0; i < n; i++) targetInfluence[i] += w[i];
  const subScores = new Float64Array(sub.values.length);
  for (let r = 0; r < n; r++) {
    for (let k = sub.rowPtr[r]; k < sub.rowPtr[r + 1]; k++)
      subScores[k] = normalizedEntry(norm, r, k) * targetInfluence[r];
  }
  const subMask = new Uint8Array(sub.values.length);
  if (subScores.length > 0) {
    const edgeCut = findThreshold(subScores, edgeThreshold);
    for (let k = 0; k < subScores.length; k++) subMask[k] = subScores[k] >= edgeCut ? 1 : 0;
  }
  dropDangling(sub, subMask, nodeMask, roles);

  const edgeMask = new Uint8Array(a.colIdx.length);
  for (let k = 0; k < sub.values.length; k++) edgeMask[sub.at[k]] = subMask[k];

  return {
    nodeMask,
    adjacency: a,
    edgeMask,
    scoredEdges: sub.at,
    edgeScores: subScores,
    nodeInfluence: influence,
    normalized,
    cumulativeScores: cumulativeScores(influence),
  };
}

/** The non-zero entries of `a` between kept nodes, as CSR, with each entry's index in `a` (`at`). */
function keptEdges(a: CsrAdjacency, nodeMask: Uint8Array): CsrAdjacency & { at: Int32Array } {
  const { n, rowPtr, colIdx, values } = a;
  const subPtr = new Int32Array(n + 1);
  for (let r = 0; r < n; r++) {
    let count = 0;
    if (nodeMask[r])
      for (let k = rowPtr[r]; k < rowPtr[r + 1]; k++) if (nodeMask[colIdx[k]] && values[k] !== 0) count++;
    subPtr[r + 1] = subPtr[r] + count;
  }
  const m = subPtr[n];
  const at = new Int32Array(m);
  const subCol = new Int32Array(m);
  const subVal = new Float32Array(m);
  for (let r = 0, j = 0; r < n; r++) {
    if (!nodeMask[r]) continue;
    for (let k = rowPtr[r]; k < rowPtr[r + 1]; k++) {
      if (nodeMask[colIdx[k]] && values[k] !== 0) {
        at[j] = k;
        subCol[j] = colIdx[k];
        subVal[j++] = values[k];
      }
    }
  }
  return { kind: 'csr', n, rowPtr: subPtr, colIdx: subCol, values: subVal, at };
}

/**
 * Drops nodes left without an output edge (or, for features, without an input edge) and their edges, until
 * nothing changes: each pass can strand further nodes; the reference iterates to a fixed point (≤ nLayers + 1
 * passes). `edgeMask` is aligned with `a`'s entries; both masks are updated in place.
 */
function dropDangling(a: CsrAdjacency, edgeMask: Uint8Array, nodeMask: Uint8Array, roles: Uint8Array): void {
  const { n, rowPtr, colIdx } = a;
  const hasOut = new Uint8Array(n);
  const hasIn = new Uint8Array(n);
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
    if (!changed) return;
    for (let r = 0; r < n; r++) {
      for (let k = rowPtr[r]; k < rowPtr[r + 1]; k++)
        if (!nodeMask[r] || !nodeMask[colIdx[k]]) edgeMask[k] = 0;
    }
  }
}
