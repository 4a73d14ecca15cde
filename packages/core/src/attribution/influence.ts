/**
 * Influence on the weighted logits: Â = |A| / rowsum(|A|), I = w (Â + Â² + …). The graph is a DAG, so the
 * series is a sum over paths and needs one pass over the edges: each row, once every row reading it has pushed
 * its share, pushes (I + w)[row] · Â[row, ·] into its sources. Accumulation is float64.
 */
import { type Adjacency, csrRowSums, toCsr } from './graph.ts';

/**
 * |A| with rows scaled to sum to 1, on the sparsity pattern of A: entry k of row r is
 * |values[k]| / denom[r] (normalizedEntry). The quotient is formed where it is used rather than stored, so
 * normalising a graph of tens of millions of entries allocates and writes only a value per row.
 */
export interface NormalizedCsr {
  readonly n: number;
  readonly rowPtr: Int32Array; // [n + 1]
  readonly colIdx: Int32Array; // [nnz]
  readonly values: Float32Array; // [nnz], the entries of A
  readonly denom: Float64Array; // [n], max(rowsum |a|, clamp)
  /** Entries with a non-zero value: the graph's edges. */
  readonly nonZero: number;
}

/** Entry k (in row r) of the normalised matrix, in float64. */
export function normalizedEntry(m: NormalizedCsr, r: number, k: number): number {
  return Math.abs(m.values[k]) / m.denom[r];
}

/**
 * circuit-tracer's normalize_matrix; the clamp keeps empty rows at zero instead of dividing by zero. Reading
 * every entry, it also checks them as validateAdjacency does (and throws as it does).
 */
export function normalizeMatrix(a: Adjacency, clamp = 1e-10): NormalizedCsr {
  const m = toCsr(a);
  const { absSums: denom, nonZero } = csrRowSums(m);
  for (let r = 0; r < m.n; r++) denom[r] = Math.max(denom[r], clamp);
  return { n: m.n, rowPtr: m.rowPtr, colIdx: m.colIdx, values: m.values, denom, nonZero };
}

/**
 * compute_influence: w Â + w Â² + …, the influence of every node through the non-zero edges, in one pass over
 * the rows in a topological order (a row pushes once every row reading it has pushed). A cycle of non-zero
 * edges has no such order and is reported instead of a result.
 */
export function computeInfluence(norm: NormalizedCsr, w: Float64Array): Float64Array {
  if (w.length !== norm.n)
    throw new Error(`influence: weight vector has ${w.length} entries for ${norm.n} nodes`);
  const influence = new Float64Array(norm.n);
  if (descendingIsTopological(norm)) {
    for (let r = norm.n - 1; r >= 0; r--) pushRow(norm, r, (influence[r] + w[r]) / norm.denom[r], influence);
    return influence;
  }
  const order = topologicalOrder(norm);
  for (let i = 0; i < order.length; i++) {
    const r = order[i];
    pushRow(norm, r, (influence[r] + w[r]) / norm.denom[r], influence);
  }
  return influence;
}

/** influence[c] += x · |a[r, c]| over row r; zeros add exactly nothing. */
function pushRow(m: NormalizedCsr, r: number, x: number, influence: Float64Array): void {
  const { rowPtr, colIdx, values } = m;
  if (x === 0) return;
  for (let k = rowPtr[r], end = rowPtr[r + 1]; k < end; k++) influence[colIdx[k]] += x * Math.abs(values[k]);
}

/**
 * Whether rows taken last to first push in a topological order: no row holds a non-zero entry in a column at
 * or after its own whose node has a row. circuit-tracer's order (features ascending by layer, then errors and
 * tokens, which have no rows, then logits) always passes. Columns ascend, so only each row's tail is read.
 */
function descendingIsTopological(m: NormalizedCsr): boolean {
  const { n, rowPtr, colIdx, values } = m;
  for (let r = 0; r < n; r++) {
    for (let k = rowPtr[r + 1] - 1; k >= rowPtr[r] && colIdx[k] >= r; k--) {
      const c = colIdx[k];
      if (values[k] !== 0 && rowPtr[c + 1] > rowPtr[c]) return false;
    }
  }
  return true;
}

/** Kahn's algorithm over the non-zero edges, readers first: every row before the rows of its sources. */
function topologicalOrder(m: NormalizedCsr): Int32Array {
  const { n, rowPtr, colIdx, values } = m;
  const readers = new Int32Array(n); // rows with a non-zero entry in this column that are not yet ordered
  for (let k = 0; k < rowPtr[n]; k++) if (values[k] !== 0) readers[colIdx[k]]++;
  const order = new Int32Array(n);
  let tail = 0;
  for (let i = 0; i < n; i++) if (readers[i] === 0) order[tail++] = i;
  for (let head = 0; head < tail; head++) {
    const r = order[head];
    for (let k = rowPtr[r]; k < rowPtr[r + 1]; k++)
      if (values[k] !== 0 && --readers[colIdx[k]] === 0) order[tail++] = colIdx[k];
  }
  if (tail < n) {
    const r = readers.findIndex((x) => x > 0);
    throw new Error(
      `influence is defined on acyclic graphs, but node ${r} lies on or after a cycle of non-zero edges`,
    );
  }
  return order;
}

/** compute_node_influence: influence of every node on the logits weighted by w (logits themselves get 0). */
export function nodeInfluence(a: Adjacency, w: Float64Array): Float64Array {
  return computeInfluence(normalizeMatrix(a), w);
}
