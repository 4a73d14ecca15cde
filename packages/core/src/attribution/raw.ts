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
 */
import { z } from 'zod';
import { bytesSource } from '../io/files.ts';
import { SafetensorsFile, writeSafetensors } from '../io/safetensors.ts';
import type { HostTensor } from '../tensor/host.ts';
import { type AttributionGraph, type LogitTarget, toDense, validateGraph } from './graph.ts';

export const RAW_GRAPH_FORMAT = 'loupe-attribution-graph/1';

export function rawGraphTensors(g: AttributionGraph): {
  tensors: Record<string, HostTensor>;
  metadata: Record<string, string>;
} {
  validateGraph(g);
  const a = toDense(g.adjacency);
  const nActive = g.activationValues.length;
  const K = g.logitTargets.length;
  const tensors: Record<string, HostTensor> = {
    adjacency_matrix: { dtype: 'float32', shape: [a.n, a.n], data: a.data },
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

export function exportRawGraph(g: AttributionGraph): Uint8Array {
  const { tensors, metadata } = rawGraphTensors(g);
  return writeSafetensors(tensors, metadata);
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
  const adj = get('adjacency_matrix');
  if (adj.shape.length !== 2 || adj.shape[0] !== adj.shape[1]) {
    throw new Error(`raw graph: adjacency_matrix must be square [N, N], got [${adj.shape.join(', ')}]`);
  }
  const N = adj.shape[0];
  const data = floatArray(adj, 'adjacency_matrix', [N, N]);
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
    adjacency: { kind: 'dense', n: N, data },
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
