/**
 * The raw graph as safetensors, readable from Python (`safetensors.torch.load_file`), with the keys of
 * circuit-tracer's Graph.to_pt:
 *
 *   adjacency_matrix [N, N] F32   active_features [n, 3] I32 (layer, pos, feat)   activation_values [n] F32
 *   selected_features [F] I32     logit_targets [K] I32 (vocab ids, virtual ≥ vocab_size)
 *   logit_probabilities [K] F32   input_tokens [T] I32
 *
 * Loupe's extension, when the graph has it: bias_rows [F + K, (L + 2)·T] F32 and bias_values [F + K] F32
 * (graph.ts: the bias sites' contributions and each target's linearised value).
 *
 * Strings and scalars travel in the header's __metadata__ (string → string).
 *
 * The adjacency has three layouts (metadata adjacency_layout): 'dense' (the default, the keys above),
 * 'dense-f16' (adjacency_matrix as F16, half the bytes) and 'csr' (adjacency_row_ptr [N + 1] I32,
 * adjacency_col_idx [nnz] I32, adjacency_values [nnz] F32: only the non-zero entries, exact). Files are
 * produced as a stream of byte chunks, so a dense matrix is written a block of rows at a time, never whole.
 */
import { z } from 'zod';
import { bytesSource } from '../io/files.ts';
import { float32ToHalfArray } from '../io/half.ts';
import { SafetensorsFile, type SafetensorsDType } from '../io/safetensors.ts';
import type { HostTensor } from '../tensor/host.ts';
import {
  type Adjacency,
  type AttributionGraph,
  type LogitTarget,
  toCsr,
  toDense,
  validateGraph,
} from './graph.ts';

export const RAW_GRAPH_FORMAT = 'loupe-attribution-graph/1';

export const RAW_LAYOUTS = ['dense', 'dense-f16', 'csr'] as const;
export type RawLayout = (typeof RAW_LAYOUTS)[number];

export interface RawExportOptions {
  /** Default 'dense' (circuit-tracer's adjacency_matrix, float32). */
  layout?: RawLayout;
}

/** One tensor of the file: its header entry and its bytes, produced on demand in file order. */
interface RawEntry {
  dtype: SafetensorsDType;
  shape: number[];
  byteLength: number;
  chunks: () => Iterable<Uint8Array>;
}

const bytesOf = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

function hostEntry(t: HostTensor): RawEntry {
  const dtype = ({ float32: 'F32', int32: 'I32' } as const)[t.dtype as 'float32' | 'int32'];
  if (!dtype) throw new Error(`raw graph: cannot store a ${t.dtype} tensor`);
  const bytes = bytesOf(t.data as Float32Array | Int32Array);
  return { dtype, shape: [...t.shape], byteLength: bytes.byteLength, chunks: () => [bytes] };
}

/** Rows per block of a streamed dense matrix: a few MiB at a time whatever N is. */
function blockRows(n: number): number {
  return Math.max(1, Math.floor(2 ** 22 / Math.max(n, 1)));
}

/** The adjacency as dense [N, N] rows in F32 or F16, scattered from CSR one block of rows at a time. */
function denseEntry(a: Adjacency, half: boolean): RawEntry {
  const n = a.n;
  const item = half ? 2 : 4;
  function* chunks(): Iterable<Uint8Array> {
    const rows = blockRows(n);
    for (let r0 = 0; r0 < n; r0 += rows) {
      const r1 = Math.min(n, r0 + rows);
      let block: Float32Array;
      if (a.kind === 'dense') block = a.data.subarray(r0 * n, r1 * n);
      else {
        block = new Float32Array((r1 - r0) * n);
        for (let r = r0; r < r1; r++) {
          const base = (r - r0) * n;
          for (let k = a.rowPtr[r]; k < a.rowPtr[r + 1]; k++) block[base + a.colIdx[k]] = a.values[k];
        }
      }
      yield bytesOf(half ? float32ToHalfArray(block) : block);
    }
  }
  return { dtype: half ? 'F16' : 'F32', shape: [n, n], byteLength: n * n * item, chunks };
}

function adjacencyEntries(a: Adjacency, layout: RawLayout): Record<string, RawEntry> {
  if (layout === 'dense') return { adjacency_matrix: denseEntry(a, false) };
  if (layout === 'dense-f16') return { adjacency_matrix: denseEntry(a, true) };
  const m = toCsr(a);
  const nnz = m.rowPtr[m.n];
  return {
    adjacency_row_ptr: hostEntry({ dtype: 'int32', shape: [m.n + 1], data: m.rowPtr }),
    adjacency_col_idx: hostEntry({ dtype: 'int32', shape: [nnz], data: m.colIdx.subarray(0, nnz) }),
    adjacency_values: hostEntry({ dtype: 'float32', shape: [nnz], data: m.values.subarray(0, nnz) }),
  };
}

/** Every tensor of the dense layout (the adjacency as one [N, N] float32 matrix) and the metadata. */
export function rawGraphTensors(g: AttributionGraph): {
  tensors: Record<string, HostTensor>;
  metadata: Record<string, string>;
} {
  const { tensors, metadata } = nodeTensors(g);
  const a = toDense(g.adjacency);
  tensors.adjacency_matrix = { dtype: 'float32', shape: [a.n, a.n], data: a.data };
  return { tensors, metadata };
}

/** Every tensor but the adjacency, and the metadata. */
function nodeTensors(g: AttributionGraph): {
  tensors: Record<string, HostTensor>;
  metadata: Record<string, string>;
} {
  validateGraph(g);
  const nActive = g.activationValues.length;
  const K = g.logitTargets.length;
  const tensors: Record<string, HostTensor> = {
    active_features: { dtype: 'int32', shape: [nActive, 3], data: g.activeFeatures },
    activation_values: { dtype: 'float32', shape: [nActive], data: g.activationValues },
    selected_features: { dtype: 'int32', shape: [g.selectedFeatures.length], data: g.selectedFeatures },
    logit_targets: { dtype: 'int32', shape: [K], data: Int32Array.from(g.logitTargets, (t) => t.vocabIdx) },
    logit_probabilities: { dtype: 'float32', shape: [K], data: g.logitProbabilities },
    input_tokens: { dtype: 'int32', shape: [g.inputTokens.length], data: g.inputTokens },
  };
  if (g.bias) {
    const rows = g.bias.values.length;
    tensors.bias_rows = { dtype: 'float32', shape: [rows, g.bias.rows.length / rows], data: g.bias.rows };
    tensors.bias_values = { dtype: 'float32', shape: [rows], data: g.bias.values };
  }
  const metadata: Record<string, string> = {
    format: RAW_GRAPH_FORMAT,
    input_string: g.inputString,
    logit_token_strs: JSON.stringify(g.logitTargets.map((t) => t.tokenStr)),
    vocab_size: String(g.vocabSize),
    n_layers: String(g.model.nLayers),
    d_vocab: String(g.model.dVocab),
    scan: JSON.stringify(g.model.scan),
  };
  if (g.model.modelName !== undefined) metadata.model_name = g.model.modelName;
  if (g.model.tokenizerName !== undefined) metadata.tokenizer_name = g.model.tokenizerName;
  if (g.model.dictionaryKind !== undefined) metadata.dictionary_kind = g.model.dictionaryKind;
  return { tensors, metadata };
}

/**
 * The raw file as byte chunks in file order: the 8-byte header length, the JSON header (padded with spaces to a
 * multiple of 8, tensors sorted by name, as writeSafetensors writes them), then each tensor's bytes.
 */
export function rawGraphChunks(g: AttributionGraph, options: RawExportOptions = {}): Iterable<Uint8Array> {
  const layout = options.layout ?? 'dense';
  if (!RAW_LAYOUTS.includes(layout))
    throw new Error(`raw graph: layout must be one of ${RAW_LAYOUTS.join(', ')}, got '${layout}'`);
  const { tensors, metadata } = nodeTensors(g);
  const entries: Record<string, RawEntry> = { ...adjacencyEntries(g.adjacency, layout) };
  for (const [name, t] of Object.entries(tensors)) entries[name] = hostEntry(t);
  if (layout !== 'dense') metadata.adjacency_layout = layout;
  const names = Object.keys(entries).sort();
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const name of names) {
    const e = entries[name];
    header[name] = { dtype: e.dtype, shape: e.shape, data_offsets: [offset, offset + e.byteLength] };
    offset += e.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = new Uint8Array(8 + Math.ceil(json.byteLength / 8) * 8).fill(0x20);
  new DataView(padded.buffer).setBigUint64(0, BigInt(padded.byteLength - 8), true);
  padded.set(json, 8);
  return (function* () {
    yield padded;
    for (const name of names) yield* entries[name].chunks();
  })();
}

/** The whole raw file in memory (rawGraphChunks streams it instead). */
export function exportRawGraph(g: AttributionGraph, options: RawExportOptions = {}): Uint8Array {
  const chunks = [...rawGraphChunks(g, options)];
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

function intArray(t: HostTensor, name: string, shape: (number | null)[]): Int32Array {
  checkShape(t, name, shape);
  if (t.dtype === 'int32') return t.data as Int32Array;
  if (t.dtype === 'int64') {
    const src = t.data as BigInt64Array;
    const out = new Int32Array(src.length);
    for (let i = 0; i < src.length; i++) {
      if (src[i] < -2147483648n || src[i] > 2147483647n)
        throw new Error(`raw graph: ${name}[${i}] = ${src[i]} overflows int32`);
      out[i] = Number(src[i]);
    }
    return out;
  }
  throw new Error(`raw graph: ${name} must be I32 or I64, got ${t.dtype}`);
}

function floatArray(t: HostTensor, name: string, shape: (number | null)[]): Float32Array {
  checkShape(t, name, shape);
  if (t.dtype !== 'float32') throw new Error(`raw graph: ${name} must be a float tensor, got ${t.dtype}`);
  return t.data as Float32Array;
}

/** adjacency_matrix (F32 or F16, decoded to float32), or the CSR triple of the 'csr' layout. */
function rawAdjacency(tensors: ReadonlyMap<string, HostTensor>): Adjacency {
  const adj = tensors.get('adjacency_matrix');
  const rowPtrT = tensors.get('adjacency_row_ptr');
  if (adj) {
    if (adj.shape.length !== 2 || adj.shape[0] !== adj.shape[1]) {
      throw new Error(`raw graph: adjacency_matrix must be square [N, N], got [${adj.shape.join(', ')}]`);
    }
    const n = adj.shape[0];
    return { kind: 'dense', n, data: floatArray(adj, 'adjacency_matrix', [n, n]) };
  }
  if (!rowPtrT) throw new Error(`raw graph: tensor 'adjacency_matrix' is missing`);
  const colT = tensors.get('adjacency_col_idx');
  const valT = tensors.get('adjacency_values');
  if (!colT || !valT)
    throw new Error('raw graph: adjacency_row_ptr, adjacency_col_idx and adjacency_values come together');
  const rowPtr = intArray(rowPtrT, 'adjacency_row_ptr', [null]);
  const n = rowPtr.length - 1;
  const colIdx = intArray(colT, 'adjacency_col_idx', [null]);
  const values = floatArray(valT, 'adjacency_values', [colIdx.length]);
  if (n < 0 || rowPtr[0] !== 0 || rowPtr[n] !== colIdx.length)
    throw new Error(`raw graph: adjacency_row_ptr must run from 0 to ${colIdx.length}`);
  for (let r = 0; r < n; r++) {
    if (rowPtr[r + 1] < rowPtr[r]) throw new Error(`raw graph: adjacency_row_ptr decreases at row ${r}`);
    for (let k = rowPtr[r]; k < rowPtr[r + 1]; k++) {
      const ok = colIdx[k] >= 0 && colIdx[k] < n && (k === rowPtr[r] || colIdx[k] > colIdx[k - 1]);
      if (!ok) throw new Error(`raw graph: adjacency_col_idx of row ${r} must ascend within [0, ${n})`);
    }
  }
  return { kind: 'csr', n, rowPtr, colIdx, values };
}

function checkShape(t: HostTensor, name: string, shape: (number | null)[]): void {
  const ok = t.shape.length === shape.length && shape.every((d, i) => d === null || d === t.shape[i]);
  if (!ok) {
    const want = shape.map((d) => (d === null ? '?' : d)).join(', ');
    throw new Error(`raw graph: ${name} has shape [${t.shape.join(', ')}], expected [${want}]`);
  }
}

const intString = z.string().regex(/^\d+$/).transform(Number);
const rawMetadataSchema = z.looseObject({
  format: z.string().optional(),
  input_string: z.string().optional(),
  logit_token_strs: z.string().optional(),
  vocab_size: intString.optional(),
  n_layers: intString.optional(),
  d_vocab: intString.optional(),
  scan: z.string().optional(),
  model_name: z.string().optional(),
  tokenizer_name: z.string().optional(),
  dictionary_kind: z.enum(['plt', 'clt', 'sae']).optional(),
});
const scanSchema = z.union([z.string(), z.array(z.string()), z.null()]);

/**
 * Rebuilds a graph from the raw tensors. Missing metadata (files written by other tools) is filled in:
 * n_layers from N = F + (L + 1)·T + K, empty strings for text, vocab_size as 1 + the largest id seen.
 */
export function graphFromRawTensors(
  tensors: ReadonlyMap<string, HostTensor>,
  metadata: Readonly<Record<string, string>> = {},
): AttributionGraph {
  const get = (name: string) => {
    const t = tensors.get(name);
    if (!t) throw new Error(`raw graph: tensor '${name}' is missing`);
    return t;
  };
  const meta = rawMetadataSchema.safeParse(metadata);
  if (!meta.success) {
    const i = meta.error.issues[0];
    throw new Error(`raw graph: metadata '${i.path.join('.')}' is invalid: ${i.message}`);
  }
  const m = meta.data;
  const inputTokens = intArray(get('input_tokens'), 'input_tokens', [null]);
  const activeFeatures = intArray(get('active_features'), 'active_features', [null, 3]);
  const nActive = activeFeatures.length / 3;
  const activationValues = floatArray(get('activation_values'), 'activation_values', [nActive]);
  const selectedFeatures = intArray(get('selected_features'), 'selected_features', [null]);
  const logitIds = intArray(get('logit_targets'), 'logit_targets', [null]);
  const K = logitIds.length;
  const logitProbabilities = floatArray(get('logit_probabilities'), 'logit_probabilities', [K]);
  const adjacency = rawAdjacency(tensors);
  const N = adjacency.n;
  const T = inputTokens.length;
  if (T === 0) throw new Error('raw graph: input_tokens is empty');
  const derivedLayers = (N - selectedFeatures.length - K) / T - 1;
  const nLayers = m.n_layers ?? derivedLayers;
  if (nLayers !== derivedLayers) {
    throw new Error(
      `raw graph: N=${N} does not fit F=${selectedFeatures.length}, n_layers=${nLayers}, T=${T}, K=${K}`,
    );
  }
  let strs: string[] = Array.from(logitIds, () => '');
  if (m.logit_token_strs !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(m.logit_token_strs);
    } catch {
      throw new Error('raw graph: metadata logit_token_strs is not JSON');
    }
    const r = z.array(z.string()).length(K).safeParse(parsed);
    if (!r.success) throw new Error(`raw graph: metadata logit_token_strs must be ${K} strings`);
    strs = r.data;
  }
  let scan: string | string[] | null = null;
  if (m.scan !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(m.scan);
    } catch {
      parsed = m.scan;
    }
    const r = scanSchema.safeParse(parsed);
    if (!r.success) throw new Error('raw graph: metadata scan must be a string, a list of strings or null');
    scan = r.data;
  }
  let maxId = -1;
  for (const t of inputTokens) maxId = Math.max(maxId, t);
  const vocabSize = m.vocab_size ?? Math.max(maxId + 1, ...Array.from(logitIds, (x) => x + 1));
  const logitTargets: LogitTarget[] = Array.from(logitIds, (vocabIdx, i) => ({
    tokenStr: strs[i],
    vocabIdx,
  }));
  const g: AttributionGraph = {
    inputString: m.input_string ?? '',
    inputTokens,
    logitTargets,
    logitProbabilities,
    vocabSize,
    activeFeatures,
    activationValues,
    selectedFeatures,
    adjacency,
    model: {
      nLayers,
      dVocab: m.d_vocab ?? vocabSize,
      scan,
      ...(m.model_name !== undefined && { modelName: m.model_name }),
      ...(m.tokenizer_name !== undefined && { tokenizerName: m.tokenizer_name }),
      ...(m.dictionary_kind !== undefined && { dictionaryKind: m.dictionary_kind }),
    },
  };
  const biasRows = tensors.get('bias_rows');
  const biasValues = tensors.get('bias_values');
  if (biasRows || biasValues) {
    const rows = selectedFeatures.length + K;
    if (!biasRows || !biasValues) throw new Error('raw graph: bias_rows and bias_values come together');
    g.bias = {
      rows: floatArray(biasRows, 'bias_rows', [rows, (nLayers + 2) * T]),
      values: floatArray(biasValues, 'bias_values', [rows]),
    };
  }
  validateGraph(g);
  return g;
}

export async function importRawGraph(bytes: Uint8Array): Promise<AttributionGraph> {
  const file = await SafetensorsFile.open(bytesSource(bytes));
  const tensors = new Map<string, HostTensor>();
  for (const name of file.names()) tensors.set(name, await file.read(name));
  return graphFromRawTensors(tensors, file.metadata);
}
