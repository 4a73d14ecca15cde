import { blockHook } from '../model/hooks.ts';
import type { Model } from '../model/model.ts';
import type { Dictionary, DictionaryHooks, DictionaryKind } from './types.ts';
import { positiveInt } from '../tensor/checks.ts';

/** Token sequences of one batch (all the same length); sync or async, e.g. a curriculum generator. */
export type TokenBatches = Iterable<Int32Array[]> | AsyncIterable<Int32Array[]>;

export interface DictionaryTrainingProgress {
  step: number;
  steps: number;
  /** Activation rows (token positions) trained on so far. */
  rows: number;
  /** Main reconstruction loss (normalised MSE) of the last step. */
  loss: number;
  /** FVU of the last step's batch, pooled over layers. */
  fvu: number;
  /** Mean active features per row and layer in the last step. */
  l0: number;
  /** Features that have not fired for `deadAfterRows` rows, as a fraction of all. */
  dead: number;
  rowsPerSecond: number;
}

export interface DictionaryTrainingOptions {
  kind: DictionaryKind;
  /** Features per layer (d_transcoder / d_sae). */
  width: number;
  /** Mean active features per row and layer (BatchTopK's k); default 16. */
  k?: number;
  /** Hooks the encoders read and the decoders write; defaults in `defaultHooks`. */
  hooks?: Partial<DictionaryHooks>;
  /** SAE only: the layer whose hook it reads (default: the middle layer). */
  layer?: number;
  /** Optimiser steps; default 2000. */
  steps?: number;
  /** Activation rows per optimiser step; default 1024. */
  batchRows?: number;
  /** Rows held in the shuffle buffer; default 16 × batchRows. */
  bufferRows?: number;
  /** Peak AdamW learning rate (warm-up over the first 5%, linear decay to 0 over the last 20%); default 3e-3. */
  lr?: number;
  /** Positions whose token is one of these are not trained on (padding, BOS: their activations are outliers). */
  excludeTokens?: readonly number[];
  /** Where b_dec starts and whether it trains; default in `DICTIONARY_DEFAULTS` (see `DecoderBias`). */
  decoderBias?: DecoderBias;
  /** A feature counts as dead after this many rows without firing; default 10 × bufferRows, at most a tenth of training. */
  deadAfterRows?: number;
  /** AuxK: dead features used per row (default 2k) and the loss weight (default 1/32). */
  auxK?: number;
  auxCoef?: number;
  seed?: number;
  onProgress?: (p: DictionaryTrainingProgress) => void;
  /** Aborting stops after the current step with an AbortError; nothing is returned. */
  signal?: AbortSignal;
}

/**
 * b_dec's start and training. A few positions can carry massive outputs (organism-m's last MLP writes ‖y‖ ≈ 5500
 * at `+` and newlines, 40× the median, on a fifth of the rows), and the mean follows them: a b_dec at the mean
 * points at the outliers, and every ordinary position then needs features that cancel it.
 * - `mean`: starts at the data mean and trains;
 * - `median`: starts at the per-coordinate median (which the outliers barely move) and trains;
 * - `fixed-median`: stays at that median, so features alone carry the outliers.
 */
export type DecoderBias = 'mean' | 'median' | 'fixed-median';
export const DECODER_BIASES: readonly DecoderBias[] = ['mean', 'median', 'fixed-median'];

/**
 * Training defaults that callers (the CLI, worker jobs) share, with the pipeline's: sequences per model batch
 * when streaming activations, and held-out batches for the metrics and for the feature index.
 */
export const DICTIONARY_DEFAULTS = {
  k: 16,
  steps: 2000,
  batchRows: 1024,
  lr: 3e-3,
  decoderBias: 'median' as DecoderBias,
  batchSeqs: 32,
  evalBatches: 16,
  indexBatches: 64,
};

export interface DictionaryTrainingResult {
  dictionary: Dictionary;
  steps: number;
  rows: number;
  seconds: number;
  /** Loss / FVU / L0 / dead fraction, sampled every `max(1, steps/100)` steps. */
  curve: DictionaryTrainingProgress[];
}

export function defaultHooks(kind: DictionaryKind): DictionaryHooks {
  // The MLP's normalised input (GemmaScope transcoders): the transcoder need not learn the norm's division.
  if (kind === 'sae') return { input: 'hook_resid_post', output: 'hook_resid_post' };
  return { input: 'ln2.hook_normalized', output: 'hook_mlp_out' };
}

export interface Resolved {
  kind: DictionaryKind;
  width: number;
  k: number;
  hooks: DictionaryHooks;
  layers: number[]; // model layers, one per dictionary layer
  steps: number;
  batchRows: number;
  bufferRows: number;
  lr: number;
  exclude: Set<number>;
  decoderBias: DecoderBias;
  deadAfterRows: number;
  auxK: number;
  auxCoef: number;
  seed: number;
}

export function resolveOptions(model: Model, o: DictionaryTrainingOptions): Resolved {
  const { nLayers, dModel } = model.config;
  if (!['plt', 'clt', 'sae'].includes(o.kind))
    throw new Error(`unknown dictionary kind '${o.kind}' (plt, clt or sae)`);
  const width = positiveInt(o.width, 'width');
  if (width > 1 << 20) throw new Error(`width ${width} is too large (at most ${1 << 20} features per layer)`);
  const k = positiveInt(o.k ?? DICTIONARY_DEFAULTS.k, 'k');
  if (k > width) throw new Error(`k ${k} exceeds the width ${width}`);
  const batchRows = positiveInt(o.batchRows ?? DICTIONARY_DEFAULTS.batchRows, 'batchRows');
  const bufferRows = positiveInt(o.bufferRows ?? 16 * batchRows, 'bufferRows');
  if (bufferRows < 2 * batchRows)
    throw new Error(`bufferRows ${bufferRows} must be at least 2 × batchRows (${2 * batchRows})`);
  let hooks: DictionaryHooks = { ...defaultHooks(o.kind), ...o.hooks };
  if (o.kind === 'sae') {
    if (o.hooks?.input && o.hooks.output && o.hooks.input !== o.hooks.output)
      throw new Error('an SAE reads and writes the same hook');
    const one = o.hooks?.input ?? o.hooks?.output ?? hooks.input;
    hooks = { input: one, output: one };
  }
  for (const h of [hooks.input, hooks.output]) model.hookShape(blockHook(0, h), 1);
  if (
    ['attn.hook_pattern', 'ln1.hook_scale', 'ln2.hook_scale'].includes(hooks.input) ||
    hooks.output.endsWith('hook_scale') ||
    hooks.output === 'attn.hook_pattern'
  ) {
    throw new Error(
      `dictionary hooks must be [T, d_model] activations, got ${hooks.input} → ${hooks.output}`,
    );
  }
  let layers = Array.from({ length: nLayers }, (_, l) => l);
  if (o.kind === 'sae') {
    const layer = o.layer ?? Math.floor(nLayers / 2);
    if (!Number.isInteger(layer) || layer < 0 || layer >= nLayers)
      throw new Error(`layer ${layer} is outside [0, ${nLayers})`);
    layers = [layer];
  }
  // Every buffer the trainer allocates scales with these; refuse sizes that cannot fit in memory.
  const bufferFloats = 2 * bufferRows * layers.length * dModel;
  const paramFloats =
    3 * 2 * layers.length * width * dModel * (o.kind === 'clt' ? (layers.length + 1) / 2 : 1);
  if (bufferFloats + paramFloats > 2 ** 31) {
    throw new Error(
      `buffer (${bufferRows} rows) and parameters (width ${width}) need more than 8 GiB; use fewer rows or features`,
    );
  }
  const steps = positiveInt(o.steps ?? DICTIONARY_DEFAULTS.steps, 'steps');
  const lr = o.lr ?? DICTIONARY_DEFAULTS.lr;
  const decoderBias = o.decoderBias ?? DICTIONARY_DEFAULTS.decoderBias;
  if (!DECODER_BIASES.includes(decoderBias))
    throw new Error(`unknown decoder bias '${decoderBias}' (${DECODER_BIASES.join(', ')})`);
  if (!(lr > 0 && lr < 1)) throw new Error(`lr must be in (0, 1), got ${lr}`);
  return {
    kind: o.kind,
    width,
    k,
    hooks,
    layers,
    steps,
    batchRows,
    bufferRows,
    lr,
    exclude: new Set(o.excludeTokens ?? []),
    decoderBias,
    // Short runs still reach AuxK: at most a tenth of the training rows.
    deadAfterRows: positiveInt(
      o.deadAfterRows ?? Math.max(batchRows, Math.min(10 * bufferRows, Math.floor((steps * batchRows) / 10))),
      'deadAfterRows',
    ),
    auxK: Math.min(width, positiveInt(o.auxK ?? 2 * k, 'auxK')),
    auxCoef: o.auxCoef ?? 1 / 32,
    seed: o.seed ?? 0,
  };
}
