import { type BlockHook, blockHook, type HookName, isResidualHook, parseHookName } from '../model/hooks.ts';
import type { F32 } from '../tensor/host.ts';

/**
 * A feature dictionary in Loupe's canonical in-memory form. Orientation follows circuit-tracer, because its
 * per-feature rows (`W_enc[f]`, `W_dec[f]`) are what attribution reads and what lazy loading slices:
 *
 *   pre_l = x_l @ wEncᵀ + bEnc            (SAE with applyBDecToInput: (x − bDec) @ wEncᵀ + bEnc)
 *   a_l   = act(pre_l)
 *   PLT / SAE:  ŷ_l = a_l @ wDec + bDec (+ x_l @ wSkipᵀ)
 *   CLT:        ŷ_k = Σ_{l≤k} a_l @ wDec_l[:, k−l, :] + bDec_k (+ x_k @ wSkip_kᵀ)
 *
 * Every skip matrix is held as [dOut, dIn] and applied as x @ wSkipᵀ, whatever the file format stores;
 * circuit-tracer's CLT files keep it the other way round and the CLT codec transposes.
 */
export type DictionaryKind = 'plt' | 'clt' | 'sae';

/** What the source files stored; tensors in memory are always float32. */
export type DictionaryDType = 'float32' | 'float16' | 'bfloat16';

/**
 * `rectify` is SAELens/GemmaScope semantics (ReLU also applied to the kept values); circuit-tracer's JumpReLU
 * and TopK keep the raw pre-activation, so a negative value can survive a negative threshold or a small k.
 */
export type ActivationSpec =
  | { kind: 'relu' }
  | { kind: 'jumprelu'; rectify: boolean } // a = x·[x > θ] (θ per layer, `DictionaryLayer.threshold`)
  | { kind: 'topk'; k: number; rectify: boolean }; // keep the k largest of each row

export interface DictionaryLayer {
  /** Model layer whose input hook this encoder reads. */
  layer: number;
  wEnc: F32; // [dTc, dModel]
  bEnc: F32; // [dTc]
  /** Absent when the decoder is lazy; read rows through `Dictionary.decoder` instead. */
  wDec?: F32; // PLT/SAE: [dTc, dModel]; CLT: [dTc, nLayers − l, dModel]
  bDec: F32; // [dModel], the decoder bias of the output at this layer
  threshold?: F32; // [dTc], JumpReLU only
  wSkip?: F32; // [dModel, dModel], applied as x @ wSkipᵀ
}

/** Reads decoder rows of selected features without materialising the full W_dec. */
export interface DecoderSource {
  /**
   * Rows `W_dec_l[f]` of the encoder at dictionary layer index `layerIndex`, in the order given.
   * PLT/SAE: [n, dModel]; CLT: [n, nLayers − layerIndex, dModel].
   */
  rows(layerIndex: number, features: ArrayLike<number>): Promise<F32>;
}

export interface DictionaryHooks {
  /** Block hook the encoders read (TransformerLens name, without `blocks.{l}.`). */
  input: BlockHook;
  /** Block hook the decoders write (equal to `input` for an SAE). */
  output: BlockHook;
}

export interface Dictionary {
  kind: DictionaryKind;
  dModel: number;
  dTc: number;
  /** PLT/CLT: layers 0..L−1 in order. SAE: one entry at the hook's layer. */
  layers: DictionaryLayer[];
  activation: ActivationSpec;
  hooks: DictionaryHooks;
  dtype: DictionaryDType;
  /** SAE only: subtract bDec from the input before encoding (SAELens `apply_b_dec_to_input`). */
  applyBDecToInput: boolean;
  decoder: DecoderSource;
  /** True when W_dec stays on disk and `layers[i].wDec` is absent. */
  lazyDecoder: boolean;
  /** Free-form provenance kept for writing back (model_name, scan, SAELens metadata ...). */
  meta: Record<string, unknown>;
  /** Releases file handles held by a lazy decoder. */
  close(): Promise<void>;
}

/** Number of decoder output layers of the encoder at index `layerIndex`. */
export function decoderOutputs(dict: Pick<Dictionary, 'kind' | 'layers'>, layerIndex: number): number {
  return dict.kind === 'clt' ? dict.layers.length - layerIndex : 1;
}

export function inputHookName(dict: Pick<Dictionary, 'hooks' | 'layers'>, layerIndex: number): HookName {
  return blockHook(dict.layers[layerIndex].layer, dict.hooks.input);
}

export function outputHookName(dict: Pick<Dictionary, 'hooks' | 'layers'>, layerIndex: number): HookName {
  return blockHook(dict.layers[layerIndex].layer, dict.hooks.output);
}

/** Validates a hook suffix such as `hook_resid_mid` or `mlp.hook_in`; throws naming the bad value. */
export function parseBlockHook(name: unknown, what: string): BlockHook {
  if (typeof name !== 'string') throw new Error(`${what}: expected a hook name, got ${JSON.stringify(name)}`);
  const suffix = name.replace(/^blocks\.\d+\./, '');
  let parsed: ReturnType<typeof parseHookName>;
  try {
    parsed = parseHookName(`blocks.0.${suffix}`);
  } catch {
    throw new Error(
      `${what}: unknown hook name '${name}' (expected a TransformerLens block hook such as hook_resid_mid)`,
    );
  }
  return residualHook(parsed.hook as BlockHook, name, what);
}

/** A dictionary reads and writes [T, d_model] activations only (not head, MLP-internal or scale hooks). */
function residualHook(hook: BlockHook, name: string, what: string): BlockHook {
  if (!isResidualHook(hook))
    throw new Error(`${what}: hook '${name}' does not carry a [T, d_model] activation a dictionary can read`);
  return hook;
}

/** Parses a full block hook name `blocks.{l}.{hook}` (SAELens hook_name). */
export function parseLayerHook(name: unknown, what: string): { layer: number; hook: BlockHook } {
  if (typeof name !== 'string') throw new Error(`${what}: expected a hook name, got ${JSON.stringify(name)}`);
  let parsed: ReturnType<typeof parseHookName>;
  try {
    parsed = parseHookName(name);
  } catch {
    throw new Error(`${what}: unknown hook name '${name}'`);
  }
  if (parsed.layer < 0)
    throw new Error(`${what}: '${name}' is not a per-layer hook; dictionaries need blocks.{l}.*`);
  return { layer: parsed.layer, hook: residualHook(parsed.hook as BlockHook, name, what) };
}

/** A decoder source over in-memory W_dec tensors. */
export function memoryDecoder(layers: readonly DictionaryLayer[]): DecoderSource {
  return {
    async rows(layerIndex, features) {
      const w = layers[layerIndex]?.wDec;
      if (!w) throw new Error(`decoder rows: layer index ${layerIndex} has no in-memory W_dec`);
      return gatherRows(w, features);
    },
  };
}

/** Rows of a row-major tensor along its first axis: [n, ...rest]. */
export function gatherRows(w: F32, rows: ArrayLike<number>): F32 {
  const n0 = w.shape[0];
  const rowLen = n0 === 0 ? 0 : w.data.length / n0;
  const out = new Float32Array(rows.length * rowLen);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    if (!Number.isInteger(r) || r < 0 || r >= n0) throw new RangeError(`row ${r} is outside [0, ${n0})`);
    out.set(w.data.subarray(r * rowLen, (r + 1) * rowLen), i * rowLen);
  }
  return { dtype: 'float32', shape: [rows.length, ...w.shape.slice(1)], data: out };
}

/**
 * Sparse activations as coalesced COO in struct-of-arrays form, sorted lexicographically by
 * (layer, pos, feature) like circuit-tracer's `activation_matrix`. `layer` is the dictionary layer index.
 */
export interface SparseActivations {
  nLayers: number;
  nPos: number;
  dTc: number;
  layer: Int32Array; // [nnz]
  pos: Int32Array; // [nnz]
  feature: Int32Array; // [nnz]
  value: Float32Array; // [nnz]
}

/** Sorts into canonical (layer, pos, feature) order and sums duplicates, as torch's coalesce() does. */
export function coalesceSparse(s: SparseActivations): SparseActivations {
  const n = s.value.length;
  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((a, b) => s.layer[a] - s.layer[b] || s.pos[a] - s.pos[b] || s.feature[a] - s.feature[b]);
  const layer: number[] = [];
  const pos: number[] = [];
  const feature: number[] = [];
  const value: number[] = [];
  for (const i of order) {
    const last = value.length - 1;
    if (last >= 0 && layer[last] === s.layer[i] && pos[last] === s.pos[i] && feature[last] === s.feature[i]) {
      value[last] += s.value[i];
    } else {
      layer.push(s.layer[i]);
      pos.push(s.pos[i]);
      feature.push(s.feature[i]);
      value.push(s.value[i]);
    }
  }
  return {
    nLayers: s.nLayers,
    nPos: s.nPos,
    dTc: s.dTc,
    layer: Int32Array.from(layer),
    pos: Int32Array.from(pos),
    feature: Int32Array.from(feature),
    value: Float32Array.from(value),
  };
}

/** Nonzero entries of dense activations [L, T, dTc], already in canonical order. */
export function sparseFromDense(acts: F32): SparseActivations {
  if (acts.shape.length !== 3)
    throw new Error(`sparseFromDense: expected [L, T, dTc], got [${acts.shape.join(', ')}]`);
  const [nLayers, nPos, dTc] = acts.shape;
  const layer: number[] = [];
  const pos: number[] = [];
  const feature: number[] = [];
  const value: number[] = [];
  for (let i = 0; i < acts.data.length; i++) {
    const v = acts.data[i];
    if (v === 0) continue;
    layer.push(Math.floor(i / (nPos * dTc)));
    pos.push(Math.floor(i / dTc) % nPos);
    feature.push(i % dTc);
    value.push(v);
  }
  return {
    nLayers,
    nPos,
    dTc,
    layer: Int32Array.from(layer),
    pos: Int32Array.from(pos),
    feature: Int32Array.from(feature),
    value: Float32Array.from(value),
  };
}
