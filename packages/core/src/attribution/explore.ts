/**
 * Which rows of the adjacency get computed, and in what order. The expensive part, one
 * backward (or forward) pass per batch of targets, is injected as `computeRows`; everything here is bookkeeping.
 *
 *   1. logit rows, in batches of batchSize;
 *   2. feature rows: all active features in natural order when maxFeatureNodes covers them all; otherwise the
 *      unvisited features ranked by partial influence on the rows so far, updateInterval·batchSize at a time;
 *   3. packaging: columns of unvisited features are dropped (their edges are discarded, not merged into errors)
 *      and rows reordered to features ascending, then logits.
 *
 * Rows are stored as CSR while they arrive, so a long prompt never needs a dense matrix.
 */
import {
  type Adjacency,
  type AttributionGraph,
  type BiasContributions,
  type CsrAdjacency,
  type GraphModelInfo,
  type LogitTarget,
  toDense,
  validateGraph,
} from './graph.ts';
import { positiveInt } from '../tensor/checks.ts';
import { type RowBlock, type RowChunk, RowStore } from './row-store.ts';

export type { RowBlock, RowChunk } from './row-store.ts';

export type RowTarget = { kind: 'logit'; index: number } | { kind: 'feature'; activeIndex: number };

/**
 * Rows for `targets`, in order: [targets.length, nActive + (nLayers + 1)·nPos + extraColumns]. Columns: every
 * active feature (active order), then errors (layer-major), then tokens, then any extra columns.
 */
export type ComputeRows = (targets: readonly RowTarget[]) => Promise<Float32Array>;

export interface ExploreProgress {
  phase: 'logits' | 'features';
  done: number;
  total: number;
}

export interface ExploreOptions {
  nActive: number;
  nLayers: number;
  nPos: number;
  logitProbabilities: Float32Array; // [K]
  computeRows: ComputeRows;
  batchSize?: number;
  /** Undefined or 0 = every active feature (the reference's `max_feature_nodes or n_active`). */
  maxFeatureNodes?: number;
  updateInterval?: number;
  /** Storage of the returned adjacency; rows are always collected sparsely. */
  storage?: 'csr' | 'dense';
  /**
   * Trailing columns of each row that are not nodes (the tracer's bias sites): kept densely beside the
   * adjacency, outside influence ranking, and returned in the graph's row order. Default 0.
   */
  extraColumns?: number;
  onProgress?: (p: ExploreProgress) => void;
  signal?: AbortSignal;
}

export interface ExploreResult {
  selectedFeatures: Int32Array; // [F], ascending active indices
  /** Active indices in the order their rows were computed. */
  visitOrder: Int32Array; // [F]
  adjacency: Adjacency; // [N, N]
  /** The extra columns of the feature rows (selected, ascending), then of the logit rows. */
  extra: Float32Array; // [F + K, extraColumns]
}

/**
 * compute_partial_influences: influence of every node on the weighted logits through the rows computed so far
 * (row-normalised |rows|, clamp 1e-8), seeded with the logit weights on the last K columns. The series
 * w Â + w Â² + … is a sum over paths, so where the rows taken by descending node are a topological order
 * (a node is read only by rows of higher nodes: later layers, then logits) one pass over them sums it;
 * otherwise the terms are summed one by one, up to maxIter.
 */
export function partialInfluences(
  rows: RowBlock,
  logitProbabilities: Float32Array,
  maxIter = 128,
): Float64Array {
  const { nRows, nCols, chunks, rowNode } = rows;
  const K = logitProbabilities.length;
  const scale = new Float64Array(nRows);
  for (const { firstRow, rowPtr, values } of chunks) {
    for (let i = 0; i + 1 < rowPtr.length; i++) {
      let s = 0;
      for (let k = rowPtr[i]; k < rowPtr[i + 1]; k++) s += Math.abs(values[k]);
      scale[firstRow + i] = 1 / Math.max(s, 1e-8);
    }
  }
  const seed = new Float64Array(nCols);
  for (let i = 0; i < K; i++) seed[nCols - K + i] = logitProbabilities[i];
  const order = descendingRows(rows);
  if (!order) return powerSeries(rows, scale, seed, maxIter);
  const influence = new Float64Array(nCols);
  for (const { chunk, row } of order) {
    const { firstRow, rowPtr, colIdx, values } = chunk;
    const node = rowNode[firstRow + row];
    const x = (influence[node] + seed[node]) * scale[firstRow + row];
    if (x === 0) continue;
    for (let k = rowPtr[row]; k < rowPtr[row + 1]; k++) influence[colIdx[k]] += x * Math.abs(values[k]);
  }
  return influence;
}

/**
 * The stored rows by descending node, or undefined when that is not a topological order: some row holds a
 * non-zero entry in a column at or after its own node whose node has a row. Columns ascend within a row, so
 * only each row's tail is read.
 */
function descendingRows(rows: RowBlock): { chunk: RowChunk; row: number }[] | undefined {
  const hasRow = new Uint8Array(rows.nCols);
  for (let r = 0; r < rows.nRows; r++) hasRow[rows.rowNode[r]] = 1;
  const order: { chunk: RowChunk; row: number; node: number }[] = [];
  for (const chunk of rows.chunks) {
    const { firstRow, rowPtr, colIdx } = chunk;
    for (let i = 0; i + 1 < rowPtr.length; i++) {
      const node = rows.rowNode[firstRow + i];
      for (let k = rowPtr[i + 1] - 1; k >= rowPtr[i] && colIdx[k] >= node; k--) if (hasRow[colIdx[k]]) return;
      order.push({ chunk, row: i, node });
    }
  }
  return order.sort((a, b) => b.node - a.node);
}

/** w Â + w Â² + … term by term, for rows in no topological order; a cycle never reaches a zero term. */
function powerSeries(rows: RowBlock, scale: Float64Array, seed: Float64Array, maxIter: number): Float64Array {
  const { nCols, chunks, rowNode } = rows;
  let prod = Float64Array.from(seed);
  let next = new Float64Array(nCols);
  const influence = new Float64Array(nCols);
  for (let it = 0; it < maxIter; it++) {
    next.fill(0);
    for (const { firstRow, rowPtr, colIdx, values } of chunks) {
      for (let i = 0; i + 1 < rowPtr.length; i++) {
        const x = prod[rowNode[firstRow + i]] * scale[firstRow + i];
        if (x === 0) continue;
        for (let k = rowPtr[i]; k < rowPtr[i + 1]; k++) next[colIdx[k]] += x * Math.abs(values[k]);
      }
    }
    let any = false;
    for (let i = 0; i < nCols; i++) {
      if (next[i] !== 0) any = true;
      influence[i] += next[i];
    }
    if (!any) return influence;
    [prod, next] = [next, prod];
  }
  throw new Error(`partial influence failed to converge in ${maxIter} iterations (are the rows cyclic?)`);
}

export async function exploreFeatures(opts: ExploreOptions): Promise<ExploreResult> {
  const { nActive, nLayers, nPos, logitProbabilities, computeRows, onProgress, signal } = opts;
  const batchSize = positiveInt(opts.batchSize ?? 512, 'batch_size');
  const updateInterval = positiveInt(opts.updateInterval ?? 4, 'update_interval');
  if (!Number.isInteger(nActive) || nActive < 0)
    throw new Error(`nActive must be a non-negative integer, got ${nActive}`);
  positiveInt(nLayers, 'nLayers');
  positiveInt(nPos, 'nPos');
  const K = positiveInt(logitProbabilities.length, 'number of logit targets');
  const requested = opts.maxFeatureNodes ?? 0;
  if (!Number.isInteger(requested) || requested < 0) {
    throw new Error(`max_feature_nodes must be a non-negative integer, got ${requested}`);
  }
  const maxF = Math.min(requested || nActive, nActive);

  const nExtra = opts.extraColumns ?? 0;
  if (!Number.isInteger(nExtra) || nExtra < 0)
    throw new Error(`extraColumns must be a non-negative integer, got ${nExtra}`);
  const rowSize = nActive + (nLayers + 1) * nPos;
  const stride = rowSize + nExtra;
  const logitOffset = rowSize;
  const totalNodes = rowSize + K;
  const store = new RowStore(totalNodes, K, maxF, rowSize);
  const extra = new Float32Array((maxF + K) * nExtra); // [store row, nExtra]

  const run = async (targets: RowTarget[], nodes: number[]) => {
    signal?.throwIfAborted();
    const rows = await computeRows(targets);
    if (!(rows instanceof Float32Array) || rows.length !== targets.length * stride) {
      throw new Error(
        `computeRows returned ${rows?.length} values for ${targets.length} targets; expected [${targets.length}, ${stride}]`,
      );
    }
    const nonFinite = (i: number) => {
      const t = targets[Math.floor(i / stride)];
      const name = t.kind === 'logit' ? `logit target ${t.index}` : `feature ${t.activeIndex}`;
      return new Error(`computeRows: row of ${name} has a non-finite value at column ${i % stride}`);
    };
    for (let i = 0; i < nodes.length; i++) {
      for (let j = i * stride + rowSize; j < (i + 1) * stride; j++)
        if (!Number.isFinite(rows[j])) throw nonFinite(j);
    }
    // Node columns are checked while they are stored; extra columns (above) are not stored there.
    const bad = store.append(rows, stride, rowSize, nodes, targets[0].kind === 'logit');
    if (bad >= 0) throw nonFinite(bad);
    for (let i = 0; i < nodes.length; i++) {
      const from = i * stride + rowSize;
      extra.set(rows.subarray(from, from + nExtra), (store.nRows - nodes.length + i) * nExtra);
    }
  };

  for (let i = 0; i < K; i += batchSize) {
    const targets: RowTarget[] = [];
    const nodes: number[] = [];
    for (let j = i; j < Math.min(i + batchSize, K); j++) {
      targets.push({ kind: 'logit', index: j });
      nodes.push(logitOffset + j);
    }
    await run(targets, nodes);
    onProgress?.({ phase: 'logits', done: Math.min(i + batchSize, K), total: K });
  }

  const visited = new Uint8Array(nActive);
  const visitOrder = new Int32Array(maxF);
  let nVisited = 0;
  while (nVisited < maxF) {
    let pending: Int32Array;
    if (maxF === nActive) {
      pending = new Int32Array(nActive);
      for (let i = 0; i < nActive; i++) pending[i] = i;
    } else {
      const infl = partialInfluences(store, logitProbabilities);
      pending = topUnvisited(infl, visited, Math.min(updateInterval * batchSize, maxF - nVisited));
    }
    for (let s = 0; s < pending.length; s += batchSize) {
      const batch = Array.from(pending.subarray(s, Math.min(s + batchSize, pending.length)));
      await run(
        batch.map((activeIndex) => ({ kind: 'feature', activeIndex })),
        batch,
      );
      for (const f of batch) {
        visited[f] = 1;
        visitOrder[nVisited++] = f;
      }
      onProgress?.({ phase: 'features', done: nVisited, total: maxF });
    }
  }

  const packaged = packageRows(store, visited, nActive);
  const F = packaged.selectedFeatures.length;
  const extraOut = new Float32Array((F + K) * nExtra);
  for (let r = 0; r < store.nRows; r++) {
    const node = store.rowNode[r];
    // Feature rows go to their selected rank, logit rows after all features.
    const at = node >= logitOffset ? F + node - logitOffset : packaged.colMap[node];
    extraOut.set(extra.subarray(r * nExtra, (r + 1) * nExtra), at * nExtra);
  }
  return {
    selectedFeatures: packaged.selectedFeatures,
    visitOrder,
    adjacency: opts.storage === 'dense' ? toDense(packaged.adjacency) : packaged.adjacency,
    extra: extraOut,
  };
}

/**
 * The q unvisited features of highest partial influence, most influential first; ties rank by ascending index
 * (the reference's unstable argsort leaves their order unspecified). The q-th largest influence is found by
 * one native sort of the values, so that only the q chosen features are sorted by comparison.
 */
export function topUnvisited(infl: Float64Array, visited: Uint8Array, q: number): Int32Array {
  const n = visited.length;
  const candidates = new Int32Array(n);
  let m = 0;
  for (let i = 0; i < n; i++) if (!visited[i]) candidates[m++] = i;
  const byRank = (a: number, b: number) => infl[b] - infl[a] || a - b;
  if (m <= q) return candidates.slice(0, m).sort(byRank);
  const values = new Float64Array(m);
  for (let j = 0; j < m; j++) values[j] = infl[candidates[j]];
  const cut = values.sort()[m - q];
  let above = 0;
  for (let j = 0; j < m; j++) if (infl[candidates[j]] > cut) above++;
  // Every feature above the cut, then the lowest-indexed of those at it (candidates ascend).
  const chosen = new Int32Array(q);
  let k = 0;
  let ties = q - above;
  for (let j = 0; j < m; j++) {
    const v = infl[candidates[j]];
    if (v > cut || (v === cut && ties-- > 0)) chosen[k++] = candidates[j];
  }
  return chosen.sort(byRank);
}

/** Phase 5: keep visited feature columns, renumber them, and order rows features-ascending then logits. */
function packageRows(
  store: RowStore,
  visited: Uint8Array,
  nActive: number,
): { selectedFeatures: Int32Array; adjacency: CsrAdjacency; colMap: Int32Array } {
  const nCols = store.nCols;
  const colMap = new Int32Array(nCols);
  let F = 0;
  for (let c = 0; c < nActive; c++) colMap[c] = visited[c] ? F++ : -1;
  const selectedFeatures = new Int32Array(F);
  for (let c = 0, f = 0; c < nActive; c++) if (visited[c]) selectedFeatures[f++] = c;
  for (let c = nActive; c < nCols; c++) colMap[c] = F + (c - nActive);
  const n = nCols - nActive + F;

  if (F === nActive) return { selectedFeatures, adjacency: featuresThenLogits(store, n), colMap };

  // Chunk and chunk row of each final node: features by selected rank, logits by target index; other nodes
  // have no row (chunk -1).
  const chunks = store.chunks;
  const chunkOf = new Int32Array(n).fill(-1);
  const rowIn = new Int32Array(n);
  chunks.forEach((chunk, ci) => {
    for (let i = 0; i + 1 < chunk.rowPtr.length; i++) {
      const node = colMap[store.rowNode[chunk.firstRow + i]];
      chunkOf[node] = ci;
      rowIn[node] = i;
    }
  });

  const rowPtr = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) {
    let count = 0;
    if (chunkOf[i] >= 0) {
      const ch = chunks[chunkOf[i]];
      const r = rowIn[i];
      for (let k = ch.rowPtr[r]; k < ch.rowPtr[r + 1]; k++) if (colMap[ch.colIdx[k]] >= 0) count++;
    }
    rowPtr[i + 1] = rowPtr[i] + count;
  }
  const colIdx = new Int32Array(rowPtr[n]);
  const values = new Float32Array(rowPtr[n]);
  for (let i = 0; i < n; i++) {
    if (chunkOf[i] < 0) continue;
    const ch = chunks[chunkOf[i]];
    const r = rowIn[i];
    let k2 = rowPtr[i];
    for (let k = ch.rowPtr[r]; k < ch.rowPtr[r + 1]; k++) {
      const c = colMap[ch.colIdx[k]];
      if (c >= 0) {
        colIdx[k2] = c;
        values[k2++] = ch.values[k];
      }
    }
  }
  return { selectedFeatures, adjacency: { kind: 'csr', n, rowPtr, colIdx, values }, colMap };
}

/**
 * The packaged CSR when every feature was visited: then they were visited in natural order, no column is
 * dropped or renumbered, and the feature rows already lie in final order in their buffer. The logit rows are
 * appended after them there, and the adjacency views that buffer (error and token nodes have no rows).
 */
function featuresThenLogits(store: RowStore, n: number): CsrAdjacency {
  const { features, logits } = store;
  const F = features.nRows;
  features.reserve(logits.nnz);
  features.colIdx.set(logits.colIdx.subarray(0, logits.nnz), features.nnz);
  features.values.set(logits.values.subarray(0, logits.nnz), features.nnz);
  const nnz = features.nnz + logits.nnz;
  const rowPtr = new Int32Array(n + 1);
  rowPtr.set(features.rowPtr.subarray(0, F + 1));
  rowPtr.fill(features.nnz, F + 1, n - logits.nRows + 1);
  for (let j = 1; j <= logits.nRows; j++) rowPtr[n - logits.nRows + j] = features.nnz + logits.rowPtr[j];
  return {
    kind: 'csr',
    n,
    rowPtr,
    colIdx: features.colIdx.subarray(0, nnz),
    values: features.values.subarray(0, nnz),
  };
}

export interface GraphInputs {
  inputString: string;
  inputTokens: Int32Array; // [T]
  logitTargets: LogitTarget[]; // [K]
  logitProbabilities: Float32Array; // [K]
  vocabSize: number;
  activeFeatures: Int32Array; // [nActive, 3]
  activationValues: Float32Array; // [nActive]
  model: GraphModelInfo;
  bias?: BiasContributions;
}

/**
 * The Graph of phase 5: the prompt's inputs plus the explored rows, checked for consistency. The adjacency is
 * exploreFeatures' own, stored from rows checked finite with ascending columns, so its entries are not reread.
 */
export function assembleGraph(inputs: GraphInputs, explored: ExploreResult): AttributionGraph {
  const g: AttributionGraph = {
    ...inputs,
    selectedFeatures: explored.selectedFeatures,
    adjacency: explored.adjacency,
  };
  validateGraph(g, { entries: false });
  return g;
}
