/**
 * A plain dense transcription of circuit-tracer's graph normalisation and influence, the oracle that pruning,
 * scores and the graph JSON are checked against on small random graphs.
 */

/** Row-normalised |A| of a dense [n, n] matrix (row sums clamped at 1e-10). */
export function refNormalize(a: Float64Array, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let r = 0; r < n; r++) {
    let s = 0;
    for (let c = 0; c < n; c++) s += Math.abs(a[r * n + c]);
    for (let c = 0; c < n; c++) out[r * n + c] = Math.abs(a[r * n + c]) / Math.max(s, 1e-10);
  }
  return out;
}

/** w M + w M² + … until a term is all zero (M nilpotent: the graph is a DAG). */
export function refInfluence(m: Float64Array, w: Float64Array, n: number): Float64Array {
  const mul = (v: Float64Array) => {
    const o = new Float64Array(n);
    for (let r = 0; r < n; r++) if (v[r] !== 0) for (let c = 0; c < n; c++) o[c] += v[r] * m[r * n + c];
    return o;
  };
  let cur = mul(w);
  const total = Float64Array.from(cur);
  while (cur.some((x) => x !== 0)) {
    cur = mul(cur);
    for (let i = 0; i < n; i++) total[i] += cur[i];
  }
  return total;
}
