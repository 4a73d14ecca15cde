/**
 * Influence on the weighted logits: Â = |A| / rowsum(|A|), I = w (Â + Â² + …), computed as a
 * power series that ends exactly because the graph is a DAG (Â is nilpotent). Accumulation is float64.
 */
import { type Adjacency, toCsr } from './graph.ts';

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
}

/** Entry k (in row r) of the normalised matrix, in float64. */
export function normalizedEntry(m: NormalizedCsr, r: number, k: number): number {
  return Math.abs(m.values[k]) / m.denom[r];
}

/** circuit-tracer's normalize_matrix; the clamp keeps empty rows at zero instead of dividing by zero. */
export function normalizeMatrix(a: Adjacency, clamp = 1e-10): NormalizedCsr {
  const m = toCsr(a);
  const denom = new Float64Array(m.n);
  for (let r = 0; r < m.n; r++) {
    let sum = 0;
    for (let k = m.rowPtr[r]; k < m.rowPtr[r + 1]; k++) sum += Math.abs(m.values[k]);
    denom[r] = Math.max(sum, clamp);
  }
  return { n: m.n, rowPtr: m.rowPtr, colIdx: m.colIdx, values: m.values, denom };
}

/** out = v @ Â; returns whether any entry is non-zero. */
function vecTimesMatrix(v: Float64Array, m: NormalizedCsr, out: Float64Array): boolean {
  out.fill(0);
  const { rowPtr, colIdx, values, denom } = m;
  for (let r = 0; r < m.n; r++) {
    const x = v[r];
    if (x === 0) continue;
    const d = denom[r];
    for (let k = rowPtr[r]; k < rowPtr[r + 1]; k++) out[colIdx[k]] += x * (Math.abs(values[k]) / d);
  }
  for (let i = 0; i < out.length; i++) if (out[i] !== 0) return true;
  return false;
}

/**
 * compute_influence: w Â + w Â² + … until a term is all zero. A cycle (not a DAG) never reaches zero, hence the
 * iteration limit.
 */
export function computeInfluence(norm: NormalizedCsr, w: Float64Array, maxIter = 1000): Float64Array {
  if (w.length !== norm.n)
    throw new Error(`influence: weight vector has ${w.length} entries for ${norm.n} nodes`);
  let cur = new Float64Array(norm.n);
  let next = new Float64Array(norm.n);
  let any = vecTimesMatrix(w, norm, cur);
  const influence = Float64Array.from(cur);
  let iterations = 0;
  while (any) {
    if (iterations >= maxIter) {
      throw new Error(
        `influence computation failed to converge after ${iterations} iterations (is the graph cyclic?)`,
      );
    }
    any = vecTimesMatrix(cur, norm, next);
    for (let i = 0; i < influence.length; i++) influence[i] += next[i];
    [cur, next] = [next, cur];
    iterations++;
  }
  return influence;
}

/** compute_node_influence: influence of every node on the logits weighted by w (logits themselves get 0). */
export function nodeInfluence(a: Adjacency, w: Float64Array): Float64Array {
  return computeInfluence(normalizeMatrix(a), w);
}
