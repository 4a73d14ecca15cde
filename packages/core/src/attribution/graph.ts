/**
 * The attribution graph as circuit-tracer lays it out. With F selected features, L layers,
 * T positions (BOS included) and K logit targets there are N = F + L·T + T + K nodes:
 *
 *   features [0, F)          selected active features, ascending active index = sorted (layer, pos, feat)
 *   errors   [F, F + L·T)    error (layer, pos) at F + layer·T + pos
 *   tokens   [F + L·T, +T)   embedding of position pos
 *   logits   [N − K, N)      logit targets in target order
 *
 * adjacency[target, source]: rows are targets, columns are sources. Only feature and logit rows are non-zero.
 *
 * The constant terms of the linearised model (decoder and other biases, the MLP output frozen at the zero
 * positions) are Loupe's bias sites, kept beside the adjacency rather than in it, so that influence, pruning
 * and scores stay circuit-tracer's: (L + 2)·T sites, site = level·T + pos with level 0 the embedding (learned
 * positions), 1 + l layer l and L + 1 the final norm.
 */
import type { DictionaryKind } from '../dictionary/types.ts';
import type { InactiveFeatures } from './inactive.ts';
import type { GraphQkEdge } from './qk-graph.ts';
import { positiveInt } from '../tensor/checks.ts';

export interface LogitTarget {
  tokenStr: string;
  /** A vocabulary id, or dVocab + i for the i-th custom direction (a "virtual" id). */
  vocabIdx: number;
}

export interface DenseAdjacency {
  readonly kind: 'dense';
  readonly n: number;
  readonly data: Float32Array; // [n, n], row-major, [target, source]
}

/**
 * Compressed sparse rows. Columns ascend within each row; explicitly stored zeros are allowed and behave
 * exactly like absent entries in every algorithm here.
 */
export interface CsrAdjacency {
  readonly kind: 'csr';
  readonly n: number;
  readonly rowPtr: Int32Array; // [n + 1]
  readonly colIdx: Int32Array; // [nnz]
  readonly values: Float32Array; // [nnz]
}

export type Adjacency = DenseAdjacency | CsrAdjacency;

/** What the graph needs to know about the model and the dictionary that produced it. */
export interface GraphModelInfo {
  nLayers: number;
  dVocab: number;
  modelName?: string;
  tokenizerName?: string;
  /** Dictionary identifier (one string) or one transcoder id per layer. */
  scan: string | string[] | null;
  /** What kind of dictionary the feature nodes come from, when known. */
  dictionaryKind?: DictionaryKind;
}

/**
 * The bias sites' contributions to every row of the graph. With every active feature selected, a row's
 * token + feature + error + bias entries sum to `values` of that row.
 */
export interface BiasContributions {
  rows: Float32Array; // [F + K, (L + 2)·T]: selected features (ascending), then logit targets
  /** Each target's value in the linearised model: a feature's pre-activation, a logit target's v·x. */
  values: Float32Array; // [F + K]
}

export type BiasSite =
  | { level: 'embedding'; pos: number }
  | { level: 'layer'; layer: number; pos: number }
  | { level: 'final'; pos: number };

export function biasSiteAt(nLayers: number, nPos: number, site: number): BiasSite {
  const n = (nLayers + 2) * nPos;
  if (!Number.isInteger(site) || site < 0 || site >= n)
    throw new Error(`bias site ${site} is outside [0, ${n})`);
  const level = Math.floor(site / nPos);
  const pos = site % nPos;
  if (level === 0) return { level: 'embedding', pos };
  if (level === nLayers + 1) return { level: 'final', pos };
  return { level: 'layer', layer: level - 1, pos };
}

export interface AttributionGraph {
  /** tokenizer.decode(inputTokens), BOS text included. */
  inputString: string;
  inputTokens: Int32Array; // [T]
  logitTargets: LogitTarget[]; // [K]
  logitProbabilities: Float32Array; // [K]
  vocabSize: number;
  /** Every active feature of the prompt, not only the selected ones. */
  activeFeatures: Int32Array; // [nActive, 3] (layer, pos, feat), lexicographically ascending
  activationValues: Float32Array; // [nActive]
  /** Indices into activeFeatures of the feature nodes, ascending. */
  selectedFeatures: Int32Array; // [F]
  adjacency: Adjacency; // [N, N]
  model: GraphModelInfo;
  /** Loupe's extension: the constant terms as sources. Absent in graphs made elsewhere. */
  bias?: BiasContributions;
  /** Loupe's extension: attention edges decomposed into query-side × key-side sources (qk-graph.ts). */
  qk?: GraphQkEdge[];
  /** Loupe's extension: inactive features inhibited by the nodes, as targets outside the adjacency (inactive.ts). */
  inactive?: InactiveFeatures;
}

export interface NodeLayout {
  nFeatures: number;
  nLayers: number;
  nPos: number;
  nLogits: number;
}

export type NodeRef =
  | { kind: 'feature'; selected: number }
  | { kind: 'error'; layer: number; pos: number }
  | { kind: 'token'; pos: number }
  | { kind: 'logit'; target: number };

export function nodeCount(l: NodeLayout): number {
  return l.nFeatures + (l.nLayers + 1) * l.nPos + l.nLogits;
}

export function errorNodeIndex(l: NodeLayout, layer: number, pos: number): number {
  return l.nFeatures + layer * l.nPos + pos;
}

export function tokenNodeIndex(l: NodeLayout, pos: number): number {
  return l.nFeatures + l.nLayers * l.nPos + pos;
}

export function logitNodeIndex(l: NodeLayout, target: number): number {
  return l.nFeatures + (l.nLayers + 1) * l.nPos + target;
}

export function nodeAt(l: NodeLayout, index: number): NodeRef {
  const n = nodeCount(l);
  if (!Number.isInteger(index) || index < 0 || index >= n)
    throw new Error(`node index ${index} is outside [0, ${n})`);
  if (index < l.nFeatures) return { kind: 'feature', selected: index };
  const errEnd = l.nFeatures + l.nLayers * l.nPos;
  if (index < errEnd) {
    const r = index - l.nFeatures;
    return { kind: 'error', layer: Math.floor(r / l.nPos), pos: r % l.nPos };
  }
  if (index < errEnd + l.nPos) return { kind: 'token', pos: index - errEnd };
  return { kind: 'logit', target: index - errEnd - l.nPos };
}

export function graphLayout(g: AttributionGraph): NodeLayout {
  return {
    nFeatures: g.selectedFeatures.length,
    nLayers: g.model.nLayers,
    nPos: g.inputTokens.length,
    nLogits: g.logitTargets.length,
  };
}

/** Logit probabilities scattered onto the last K of N nodes: the seed `w` of every influence computation. */
export function logitWeights(n: number, probabilities: Float32Array): Float64Array {
  if (probabilities.length > n)
    throw new Error(`${probabilities.length} logit weights do not fit in ${n} nodes`);
  const w = new Float64Array(n);
  for (let i = 0; i < probabilities.length; i++) w[n - probabilities.length + i] = probabilities[i];
  return w;
}

/** A CSR view of any adjacency; dense input drops its zeros, so both storages feed the same algorithms. */
export function toCsr(a: Adjacency): CsrAdjacency {
  if (a.kind === 'csr') return a;
  const { n, data } = a;
  let nnz = 0;
  for (let i = 0; i < data.length; i++) if (data[i] !== 0) nnz++;
  if (nnz > 0x7fffffff)
    throw new Error(`adjacency has ${nnz} non-zero entries, more than CSR indices can address`);
  const rowPtr = new Int32Array(n + 1);
  const colIdx = new Int32Array(nnz);
  const values = new Float32Array(nnz);
  let k = 0;
  for (let r = 0; r < n; r++) {
    const base = r * n;
    for (let c = 0; c < n; c++) {
      const v = data[base + c];
      if (v !== 0) {
        colIdx[k] = c;
        values[k++] = v;
      }
    }
    rowPtr[r + 1] = k;
  }
  return { kind: 'csr', n, rowPtr, colIdx, values };
}

/** Refuses matrices whose dense form would be an absurd allocation (default 2 GiB of float32). */
export function toDense(a: Adjacency, maxBytes = 2 ** 31): DenseAdjacency {
  if (a.kind === 'dense') return a;
  const bytes = a.n * a.n * 4;
  if (bytes > maxBytes) {
    throw new Error(`a dense ${a.n}×${a.n} adjacency needs ${bytes} bytes, above the ${maxBytes}-byte limit`);
  }
  const data = new Float32Array(a.n * a.n);
  for (let r = 0; r < a.n; r++) {
    for (let k = a.rowPtr[r]; k < a.rowPtr[r + 1]; k++) data[r * a.n + a.colIdx[k]] = a.values[k];
  }
  return { kind: 'dense', n: a.n, data };
}

export function adjacencyEntry(a: Adjacency, target: number, source: number): number {
  if (a.kind === 'dense') return a.data[target * a.n + source];
  let lo = a.rowPtr[target];
  let hi = a.rowPtr[target + 1];
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const c = a.colIdx[mid];
    if (c === source) return a.values[mid];
    if (c < source) lo = mid + 1;
    else hi = mid;
  }
  return 0;
}

export function validateAdjacency(a: Adjacency): void {
  if (a.kind === 'csr') {
    csrRowSums(a);
    return;
  }
  checkSize(a.n);
  if (a.data.length !== a.n * a.n) {
    throw new Error(`dense adjacency [${a.n}, ${a.n}] needs ${a.n * a.n} values, got ${a.data.length}`);
  }
  if (allFinite(a.data)) return;
  const i = a.data.findIndex((v) => !Number.isFinite(v));
  throw new Error(`adjacency entry [${Math.floor(i / a.n)}, ${i % a.n}] is not finite (${a.data[i]})`);
}

function checkSize(n: number): void {
  positiveInt(n, 'adjacency size');
}

export interface CsrRowSums {
  absSums: Float64Array; // [n], Σ |values| of each row
  /** Entries with a non-zero value: the graph's edges. */
  nonZero: number;
}

/**
 * validateAdjacency of a CSR in the one pass over its entries that normalisation needs anyway: throws an Error
 * naming the first problem, else returns each row's sum of |values| and the count of non-zero values.
 */
export function csrRowSums(a: CsrAdjacency): CsrRowSums {
  const { n, rowPtr, colIdx, values } = a;
  checkSize(n);
  if (rowPtr.length !== n + 1) throw new Error(`CSR rowPtr needs ${n + 1} entries, got ${rowPtr.length}`);
  if (rowPtr[0] !== 0 || rowPtr[n] !== colIdx.length || colIdx.length !== values.length) {
    throw new Error(
      `CSR arrays disagree: rowPtr[0]=${rowPtr[0]}, rowPtr[n]=${rowPtr[n]}, ${colIdx.length} columns, ${values.length} values`,
    );
  }
  const absSums = new Float64Array(n);
  let zeros = 0;
  for (let r = 0; r < n; r++) {
    const s = rowPtr[r];
    const e = rowPtr[r + 1];
    if (e < s) throw new Error(`CSR rowPtr decreases at row ${r}`);
    if (e === s) continue;
    // Strictly ascending columns between in-range ends are all in range.
    if (colIdx[s] < 0 || colIdx[e - 1] >= n) {
      const c = colIdx[s] < 0 ? colIdx[s] : colIdx[e - 1];
      throw new Error(`CSR row ${r} has column ${c} outside [0, ${n})`);
    }
    let prev = -1;
    let sum = 0;
    for (let k = s; k < e; k++) {
      const c = colIdx[k];
      if (c <= prev) throw new Error(`CSR row ${r} columns are not strictly ascending at ${c}`);
      prev = c;
      const v = Math.abs(values[k]);
      sum += v;
      zeros += v === 0 ? 1 : 0;
    }
    // float32 magnitudes cannot overflow a float64 sum, so the sum is finite exactly when every value is.
    if (!Number.isFinite(sum)) {
      const k = values.subarray(s, e).findIndex((v) => !Number.isFinite(v));
      throw new Error(`adjacency entry [${r}, ${colIdx[s + k]}] is not finite (${values[s + k]})`);
    }
    absSums[r] = sum;
  }
  return { absSums, nonZero: rowPtr[n] - zeros };
}

/** x · 0 summed is NaN exactly when some x is NaN or infinite; a branch-free pass over large arrays. */
function allFinite(v: Float32Array): boolean {
  let zero = 0;
  for (let i = 0; i < v.length; i++) zero += v[i] * 0;
  return zero === 0;
}

/**
 * Checks every shape and index relation of a graph; throws an Error naming the first problem. `entries: false`
 * leaves the adjacency's columns and values unread, for a CSR its caller built from rows it had checked.
 */
export function validateGraph(g: AttributionGraph, { entries = true }: { entries?: boolean } = {}): void {
  const T = g.inputTokens.length;
  const K = g.logitTargets.length;
  const L = g.model.nLayers;
  positiveInt(L, 'graph: nLayers');
  if (T < 1) throw new Error('graph: inputTokens is empty');
  if (K < 1) throw new Error('graph: there are no logit targets');
  if (g.logitProbabilities.length !== K) {
    throw new Error(`graph: ${K} logit targets but ${g.logitProbabilities.length} logit probabilities`);
  }
  if (g.activeFeatures.length % 3 !== 0) {
    throw new Error(
      `graph: activeFeatures length ${g.activeFeatures.length} is not a multiple of 3 ([n, 3])`,
    );
  }
  const nActive = g.activeFeatures.length / 3;
  if (g.activationValues.length !== nActive) {
    throw new Error(`graph: ${nActive} active features but ${g.activationValues.length} activation values`);
  }
  const af = g.activeFeatures;
  for (let i = 0; i < nActive; i++) {
    const [layer, pos, feat] = [af[3 * i], af[3 * i + 1], af[3 * i + 2]];
    if (layer < 0 || layer >= L || pos < 0 || pos >= T || feat < 0) {
      throw new Error(`graph: active feature ${i} (${layer}, ${pos}, ${feat}) is out of range`);
    }
    if (i > 0) {
      const d = af[3 * i - 3] - layer || af[3 * i - 2] - pos || af[3 * i - 1] - feat;
      if (d >= 0)
        throw new Error(`graph: active features must be strictly ascending by (layer, pos, feat) at ${i}`);
    }
  }
  g.logitTargets.forEach((t, i) => {
    if (!Number.isInteger(t.vocabIdx) || t.vocabIdx < 0) {
      throw new Error(`graph: logit target ${i} has vocabIdx ${t.vocabIdx}, not a non-negative integer`);
    }
    if (!Number.isFinite(g.logitProbabilities[i]))
      throw new Error(`graph: logit probability ${i} is not finite`);
  });
  for (let i = 0; i < g.selectedFeatures.length; i++) {
    const s = g.selectedFeatures[i];
    if (s < 0 || s >= nActive) throw new Error(`graph: selected feature ${s} is outside [0, ${nActive})`);
    if (i > 0 && s <= g.selectedFeatures[i - 1])
      throw new Error('graph: selectedFeatures must be strictly ascending');
  }
  const n = nodeCount(graphLayout(g));
  if (g.adjacency.n !== n) {
    throw new Error(`graph: adjacency is ${g.adjacency.n}×${g.adjacency.n} but the layout has ${n} nodes`);
  }
  if (entries) validateAdjacency(g.adjacency);
  if (g.bias) {
    const rows = g.selectedFeatures.length + K;
    const sites = (L + 2) * T;
    if (g.bias.rows.length !== rows * sites) {
      throw new Error(`graph: bias rows must be [${rows}, ${sites}], got ${g.bias.rows.length} values`);
    }
    if (g.bias.values.length !== rows)
      throw new Error(`graph: ${rows} target rows but ${g.bias.values.length} bias values`);
    if (!allFinite(g.bias.rows) || !allFinite(g.bias.values)) throw new Error('graph: bias is not finite');
  }
  if (g.inactive) {
    const { features, rows, preActivations, bias } = g.inactive;
    const M = features.length / 3;
    if (!Number.isInteger(M) || preActivations.length !== M || bias.length !== M)
      throw new Error(`graph: inactive features, pre-activations and bias disagree in length`);
    if (rows.length !== M * (nActive + (L + 1) * T))
      throw new Error(
        `graph: inactive rows must be [${M}, ${nActive + (L + 1) * T}], got ${rows.length} values`,
      );
  }
}
