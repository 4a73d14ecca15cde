/**
 * Training PLT / CLT / SAE dictionaries on activations streamed from a model.
 *
 * Method: BatchTopK (Bussmann et al. 2024) with the AuxK dead-feature loss (Gao et al. 2024). Each step keeps
 * the k·R largest pre-activations of a batch of R rows per layer, so the mean L0 is exactly k by construction
 * (no sparsity coefficient to tune per model), and features may use more or fewer slots per token. At the end
 * the batch threshold (the smallest kept pre-activation, averaged over the last steps) becomes a JumpReLU
 * threshold, which circuit-tracer reads for PLTs and CLTs alike. Features that have not fired for
 * `deadAfterRows` rows get the AuxK loss: their top `auxK` pre-activations per row must explain the main
 * reconstruction's residual, which pulls them back towards the data.
 *
 * Streaming: one forward graph per token batch returns the input and output hooks of every layer; rows (positions)
 * go into a shuffled buffer, and the optimiser step runs on R rows at a time. The whole step (encode, BatchTopK,
 * decode, AuxK, gradients, AdamW) is one ONNX graph (TrainingSession).
 *
 * Inputs and outputs are normalised per layer to mean squared norm d_model (scales from the first buffer), so
 * one learning rate fits every model; the scales are folded into W_enc, W_dec and b_dec when the dictionary is
 * written out.
 */
import type { HookName } from '../model/hooks.ts';
import { blockHook } from '../model/hooks.ts';
import { seededRandom } from '../model/init.ts';
import type { Model } from '../model/model.ts';
import { buildTransformer } from '../model/transformer.ts';
import { GraphBuilder, type Tensor } from '../tensor/graph.ts';
import { f32, type F32, i32 } from '../tensor/host.ts';
import type { Runtime } from '../tensor/runtime.ts';
import { TrainingSession } from '../train/training.ts';
import {
  type Dictionary,
  type DictionaryHooks,
  type DictionaryKind,
  type DictionaryLayer,
  memoryDecoder,
} from './types.ts';

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

/** Training defaults that callers (the CLI, worker jobs) share. */
export const DICTIONARY_DEFAULTS = {
  k: 16,
  steps: 2000,
  batchRows: 1024,
  lr: 3e-3,
  decoderBias: 'median' as DecoderBias,
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

interface Resolved {
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

function positiveInt(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 1) throw new Error(`${what} must be a positive integer, got ${v}`);
  return v;
}

function resolveOptions(model: Model, o: DictionaryTrainingOptions): Resolved {
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

const modelIds = new WeakMap<Model, number>();
let nextModelId = 0;

/**
 * The model's forward pass up to the given hooks only: no unembedding, no layers after the last hook (the
 * compiler keeps only what the outputs need). Returns each hook as [B, T, ...] for equal-length sequences.
 */
export async function hookRunner(
  runtime: Runtime,
  model: Model,
  hooks: readonly HookName[],
): Promise<(seqs: readonly Int32Array[]) => Promise<Map<HookName, F32>>> {
  const wanted = [...new Set(hooks)].sort();
  for (const h of wanted) model.hookShape(h, 1);
  let id = modelIds.get(model);
  if (id === undefined) modelIds.set(model, (id = nextModelId++));
  const graph = await runtime.graph(`dictionary-hooks:${id}:${wanted.join(',')}`, () => {
    const g = new GraphBuilder();
    const tokens = g.input('tokens', 'int32', ['B', 'T']);
    const out = buildTransformer(g, model.config, model.constants(g), tokens);
    return g.compile(Object.fromEntries(wanted.map((h) => [h, out.hooks.get(h) as Tensor])));
  });
  const { nCtx, dVocab } = model.config;
  return async (seqs) => {
    if (seqs.length === 0) throw new Error('no sequences given');
    const T = seqs[0].length;
    if (T === 0) throw new Error('empty token sequence');
    if (T > nCtx) throw new Error(`${T} tokens exceed the context length ${nCtx}`);
    const data = new Int32Array(seqs.length * T);
    seqs.forEach((s, b) => {
      if (s.length !== T) throw new Error(`batch sequences differ in length (${s.length} vs ${T})`);
      for (const t of s) if (!(t >= 0 && t < dVocab)) throw new Error(`token ${t} outside [0, ${dVocab})`);
      data.set(s, b * T);
    });
    const res = await graph.run({ tokens: i32([seqs.length, T], data) });
    return new Map(wanted.map((h) => [h, res[h] as F32]));
  };
}

/**
 * Activation rows streamed from the model: x [N, L, d] (input hooks) and y [N, L, d] (output hooks), only at
 * positions whose token is not excluded.
 */
export class ActivationStream {
  private readonly iterator: Iterator<Int32Array[]> | AsyncIterator<Int32Array[]>;
  readonly inHooks: HookName[];
  readonly outHooks: HookName[];
  /** Model batches consumed. */
  batches = 0;

  constructor(
    private readonly model: Model,
    private readonly run: (seqs: readonly Int32Array[]) => Promise<Map<HookName, F32>>,
    source: TokenBatches,
    layers: readonly number[],
    hooks: DictionaryHooks,
    private readonly exclude: ReadonlySet<number>,
  ) {
    this.iterator =
      Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : source[Symbol.iterator]();
    this.inHooks = layers.map((l) => blockHook(l, hooks.input));
    this.outHooks = layers.map((l) => blockHook(l, hooks.output));
  }

  get sameHooks(): boolean {
    return this.inHooks.every((h, i) => h === this.outHooks[i]);
  }

  /** The next batch's kept rows; throws when the source ends. */
  async next(): Promise<{ x: Float32Array; y: Float32Array; n: number }> {
    const r = await this.iterator.next();
    if (r.done)
      throw new Error(`the token source ended after ${this.batches} batches; training needs more data`);
    const seqs = r.value;
    this.batches++;
    const cache = await this.run(seqs);
    const T = seqs[0].length;
    const d = this.model.config.dModel;
    const L = this.inHooks.length;
    const keep: number[] = [];
    seqs.forEach((s, b) => {
      for (let t = 0; t < T; t++) if (!this.exclude.has(s[t])) keep.push(b * T + t);
    });
    const gather = (hooks: HookName[]) => {
      const out = new Float32Array(keep.length * L * d);
      hooks.forEach((h, l) => {
        const src = (cache.get(h) as F32).data;
        keep.forEach((p, i) => {
          out.set(src.subarray(p * d, (p + 1) * d), (i * L + l) * d);
        });
      });
      return out;
    };
    const x = gather(this.inHooks);
    return { x, y: this.sameHooks ? x : gather(this.outHooks), n: keep.length };
  }
}

/** A shuffle buffer of (x, y) rows, each row [L, d] for x and y. */
class RowBuffer {
  private readonly x: Float32Array;
  private readonly y: Float32Array;
  private size = 0;
  private served = 0;
  private readonly random: () => number;

  constructor(
    readonly capacity: number,
    private readonly rowLen: number,
    private readonly same: boolean,
    seed: number,
  ) {
    this.x = new Float32Array(capacity * rowLen);
    this.y = same ? this.x : new Float32Array(capacity * rowLen);
    this.random = seededRandom(seed);
  }

  /** Tops the buffer up from the stream and shuffles it. */
  async fill(stream: ActivationStream, signal?: AbortSignal): Promise<void> {
    let stalled = 0;
    while (this.size < this.capacity) {
      signal?.throwIfAborted();
      const b = await stream.next();
      if (b.n === 0 && ++stalled > 100)
        throw new Error('100 token batches in a row had no usable position (all excluded)');
      const n = Math.min(b.n, this.capacity - this.size);
      this.x.set(b.x.subarray(0, n * this.rowLen), this.size * this.rowLen);
      if (!this.same) this.y.set(b.y.subarray(0, n * this.rowLen), this.size * this.rowLen);
      this.size += n;
    }
    this.shuffle();
    this.served = 0;
  }

  private shuffle(): void {
    const len = this.rowLen;
    const tmp = new Float32Array(len);
    const swap = (a: Float32Array, i: number, j: number) => {
      tmp.set(a.subarray(i * len, (i + 1) * len));
      a.copyWithin(i * len, j * len, (j + 1) * len);
      a.set(tmp, j * len);
    };
    for (let i = this.size - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      swap(this.x, i, j);
      if (!this.same) swap(this.y, i, j);
    }
  }

  /** Whether `n` more rows can be served before a refill (at most half the buffer is served per fill). */
  canTake(n: number): boolean {
    return this.served + n <= Math.max(n, this.capacity / 2);
  }

  /** The next `n` rows as [n, L, d] views, and marks them served (they are dropped at the next fill). */
  take(n: number): { x: Float32Array; y: Float32Array } {
    const from = this.served * this.rowLen;
    const to = (this.served + n) * this.rowLen;
    this.served += n;
    return { x: this.x.slice(from, to), y: this.y.slice(from, to) };
  }

  /** Drops the served rows (moves the rest to the front) so the next fill replaces them. */
  compact(): void {
    const len = this.rowLen;
    this.x.copyWithin(0, this.served * len, this.size * len);
    if (!this.same) this.y.copyWithin(0, this.served * len, this.size * len);
    this.size -= this.served;
    this.served = 0;
  }

  get rows(): { x: Float32Array; y: Float32Array; n: number } {
    return { x: this.x, y: this.y, n: this.size };
  }
}

/**
 * Per-layer statistics of rows x [N, L, d] in one graph: rms [L] = sqrt(mean ‖x_l‖² / d) (1 where it is 0)
 * and mean [L, 1, d].
 */
async function layerStats(
  runtime: Runtime,
  rows: Float32Array,
  n: number,
  L: number,
  d: number,
): Promise<{ rms: Float64Array; mean: F32 }> {
  const graph = await runtime.graph(`dictionary-layer-stats:${L}:${d}`, () => {
    const g = new GraphBuilder();
    const x = g.input('x', 'float32', ['N', L, d]);
    const rms = g.sqrt(g.reduceMean(g.mul(x, x), [0, 2], false)); // [L]
    const mean = g.transpose(g.reduceMean(x, [0], true), [1, 0, 2]); // [L, 1, d]
    return g.compile({ rms, mean });
  });
  const out = await graph.run({ x: f32([n, L, d], rows.subarray(0, n * L * d)) });
  return { rms: Float64Array.from(out.rms.data as Float32Array, (v) => v || 1), mean: out.mean as F32 };
}

/** Per-layer, per-coordinate median of rows x [N, L, d] in one graph: [L, 1, d] (the upper median for even N). */
async function layerMedian(
  runtime: Runtime,
  rows: Float32Array,
  n: number,
  L: number,
  d: number,
): Promise<F32> {
  const graph = await runtime.graph(`dictionary-layer-median:${n}:${L}:${d}`, () => {
    const g = new GraphBuilder();
    const x = g.input('x', 'float32', [n, L, d]);
    const median = kthLargest(g, g.transpose(x, [1, 2, 0]), Math.ceil(n / 2)); // [L, d, 1]
    return g.compile({ median: g.transpose(median, [0, 2, 1]) });
  });
  return (await graph.run({ x: f32([n, L, d], rows.subarray(0, n * L * d)) })).median as F32;
}

/** Unit-norm random rows [n, d] from a seeded Gaussian. */
function unitRows(n: number, d: number, rand: () => number): Float32Array {
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    let norm = 0;
    for (let j = 0; j < d; j++) {
      const u = Math.max(rand(), 1e-12);
      const v = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
      out[i * d + j] = v;
      norm += v * v;
    }
    norm = Math.sqrt(norm);
    for (let j = 0; j < d; j++) out[i * d + j] /= norm;
  }
  return out;
}

/**
 * Initial row norms. Unit decoder rows would add k features of size ≈ 3 to the first reconstructions (FVU ≈ 2
 * at step 0); tiny ones let a few features win every early BatchTopK while the rest die. Measured on a tiny
 * organism (PLT, width 128, k 8, 200 steps): decoder 1 → FVU 0.064 / dead 4.7%; 0.1 with encoder 0.1 → 0.022 /
 * 52%; 0.1 with encoder 1 → 0.019 / 16%; 0.3 with encoder 1 → 0.020 / 9%.
 */
const DECODER_INIT_NORM = 0.3;
const ENCODER_INIT_NORM = 1;

/** Initial parameters in normalised space: random rows, encoder = decoder direction, b_dec the data mean. */
export function initDictionaryParameters(
  kind: DictionaryKind,
  L: number,
  width: number,
  d: number,
  bDec: F32, // [L, 1, d]
  seed: number,
): Record<string, F32> {
  const rand = seededRandom(seed);
  const rows = Array.from({ length: L }, () => unitRows(width, d, rand));
  const wEnc = new Float32Array(L * width * d);
  rows.forEach((r, l) => {
    wEnc.set(
      r.map((v) => v * ENCODER_INIT_NORM),
      l * width * d,
    );
  });
  for (const r of rows) for (let i = 0; i < r.length; i++) r[i] *= DECODER_INIT_NORM;
  const params: Record<string, F32> = {
    wEnc: f32([L, width, d], wEnc),
    bEnc: f32([L, 1, width]),
    bDec,
  };
  if (kind === 'clt') {
    // Only the same-layer output starts non-zero; later outputs learn what carries across layers.
    for (let l = 0; l < L; l++) {
      const w = new Float32Array(width * (L - l) * d);
      for (let f = 0; f < width; f++) w.set(rows[l].subarray(f * d, (f + 1) * d), f * (L - l) * d);
      params[`wDec${l}`] = f32([width, L - l, d], w);
    }
  } else params.wDec = f32([L, width, d], Float32Array.from(rows.flatMap((r) => Array.from(r))));
  return params;
}

export interface TrainingGraphShape {
  kind: DictionaryKind;
  L: number;
  d: number;
  width: number;
  rows: number; // R, static: BatchTopK keeps k·R values
  k: number;
  auxK: number;
  auxCoef: number;
}

/** Decoder output without b_dec: acts [L, R, w] → [L, R, d]. */
function decode(g: GraphBuilder, s: TrainingGraphShape, p: Record<string, Tensor>, acts: Tensor): Tensor {
  if (s.kind !== 'clt') return g.matmul(acts, p.wDec);
  const { L, d, rows: R, width } = s;
  let sum: Tensor | undefined;
  for (let l = 0; l < L; l++) {
    const a = g.reshape(g.slice(acts, 0, l, l + 1), [R, width]);
    const part = g.matmul(a, g.reshape(p[`wDec${l}`], [width, (L - l) * d])); // [R, (L − l)·d]
    // Concat rather than Pad: the autodiff has a rule for Concat.
    const padded = l === 0 ? part : g.concat([g.constant(f32([R, l * d])), part], 1);
    sum = sum ? g.add(sum, padded) : padded;
  }
  return g.transpose(g.reshape(sum as Tensor, [R, L, d]), [1, 0, 2]);
}

/** The smallest of the k largest values along the last axis (detached): x [..., n] → [..., 1]. */
function kthLargest(g: GraphBuilder, x: Tensor, k: number): Tensor {
  const outShape = [...x.shape.slice(0, -1), k];
  // Unsorted TopK + ReduceMin: sorting the k kept values would cost more than selecting them.
  const [values] = g.node('TopK', [x, g.ints([k])], [outShape, outShape], ['float32', 'int64'], {
    axis: -1,
    largest: 1,
    sorted: 0,
  });
  const [min] = g.node('ReduceMin', [values], [[...x.shape.slice(0, -1), 1]], ['float32'], {
    axes: [-1],
    keepdims: 1,
  });
  return g.detach(min);
}

/**
 * The training step's tensors. Inputs: x, y [R, L, d] (normalised rows), dead [L, 1, w] (1 = dead).
 * BatchTopK per layer over all R·w pre-activations; AuxK over dead features per row.
 */
export function dictionaryTrainingGraph(
  g: GraphBuilder,
  s: TrainingGraphShape,
  p: Record<string, Tensor>,
  x: Tensor,
  y: Tensor,
  dead: Tensor,
): { loss: Tensor; metrics: Record<string, Tensor> } {
  const { L, rows: R, width: w, k } = s;
  const xt = g.transpose(x, [1, 0, 2]); // [L, R, d]
  const yt = g.transpose(y, [1, 0, 2]);
  const pre = g.add(g.matmul(xt, g.mT(p.wEnc)), p.bEnc); // [L, R, w]
  const theta = g.reshape(kthLargest(g, g.reshape(pre, [L, R * w]), Math.min(k * R, R * w)), [L, 1, 1]);
  const keep = g.and(g.greaterOrEqual(pre, theta), g.greater(pre, g.scalar(0)));
  const acts = g.where(keep, pre, 0);
  const recon = g.add(decode(g, s, p, acts), p.bDec);
  const err = g.sub(recon, yt);
  const sse = g.reduceSum(g.mul(err, err), [1, 2], false); // [L]
  const mse = g.div(g.reduceSum(sse, [0], false), L * R * s.d);

  const isDead = g.greater(dead, g.scalar(0.5));
  const preDead = g.where(isDead, pre, -1e30);
  const auxTheta = kthLargest(g, preDead, s.auxK); // [L, R, 1]
  const auxKeep = g.and(g.and(g.greaterOrEqual(preDead, auxTheta), isDead), g.greater(pre, g.scalar(0)));
  const auxRecon = decode(g, s, p, g.where(auxKeep, pre, 0));
  const residual = g.detach(g.sub(yt, recon));
  const auxErr = g.sub(auxRecon, residual);
  const auxLoss = g.div(
    g.reduceMean(g.mul(auxErr, auxErr), [0, 1, 2], false),
    g.max(g.reduceMean(g.mul(residual, residual), [0, 1, 2], false), 1e-12),
  );
  const centred = g.sub(yt, g.reduceMean(yt, [1], true));
  return {
    loss: g.add(mse, g.mul(auxLoss, s.auxCoef)),
    metrics: {
      mse,
      sse,
      sst: g.reduceSum(g.mul(centred, centred), [1, 2], false), // [L]
      fires: g.reshape(g.reduceSum(g.cast(keep, 'float32'), [1], false), [L, w]),
      theta: g.reshape(theta, [L]),
    },
  };
}

/** Warm-up over the first 5% of steps, constant, then linear decay to 0 over the last 20%. */
export function dictionaryLearningRate(step: number, steps: number, lr: number): number {
  const warm = Math.max(1, Math.floor(steps * 0.05));
  const decayFrom = Math.floor(steps * 0.8);
  if (step < warm) return (lr * (step + 1)) / warm;
  if (step < decayFrom) return lr;
  return (lr * (steps - step)) / Math.max(1, steps - decayFrom);
}

/** Folds the normalisation scales back and packages the trained parameters as a Dictionary. */
export function dictionaryFromParameters(
  r: Pick<Resolved, 'kind' | 'width' | 'hooks' | 'layers'>,
  d: number,
  params: Record<string, F32>,
  theta: Float64Array, // [L] in normalised pre-activation units (unchanged by the fold)
  inScale: Float64Array,
  outScale: Float64Array,
  meta: Record<string, unknown> = {},
): Dictionary {
  const L = r.layers.length;
  const w = r.width;
  const slice = (t: F32, l: number, n: number) => t.data.subarray(l * n, (l + 1) * n);
  const layers: DictionaryLayer[] = r.layers.map((layer, l) => {
    const wEnc = Float32Array.from(slice(params.wEnc, l, w * d), (v) => v / inScale[l]);
    const bDec = Float32Array.from(slice(params.bDec, l, d), (v) => v * outScale[l]);
    let wDec: F32;
    if (r.kind === 'clt') {
      const src = params[`wDec${l}`].data; // [w, L − l, d]
      const out = new Float32Array(src.length);
      const nOut = L - l;
      for (let f = 0; f < w; f++) {
        for (let o = 0; o < nOut; o++) {
          const at = (f * nOut + o) * d;
          for (let j = 0; j < d; j++) out[at + j] = src[at + j] * outScale[l + o];
        }
      }
      wDec = f32([w, nOut, d], out);
    } else
      wDec = f32(
        [w, d],
        Float32Array.from(slice(params.wDec, l, w * d), (v) => v * outScale[l]),
      );
    return {
      layer,
      wEnc: f32([w, d], wEnc),
      bEnc: f32([w], Float32Array.from(slice(params.bEnc, l, w))),
      wDec,
      bDec: f32([d], bDec),
      threshold: f32([w], new Float32Array(w).fill(Math.max(theta[l], 0))),
    };
  });
  return {
    kind: r.kind,
    dModel: d,
    dTc: w,
    layers,
    // θ > 0, so rectifying or not is the same function; SAELens's JumpReLU is the rectifying one.
    activation: { kind: 'jumprelu', rectify: r.kind === 'sae' },
    hooks: r.hooks,
    dtype: 'float32',
    applyBDecToInput: false,
    decoder: memoryDecoder(layers),
    lazyDecoder: false,
    meta,
    close: async () => {},
  };
}

function abortError(): Error {
  const e = new Error('dictionary training was aborted');
  e.name = 'AbortError';
  return e;
}

/** Trains a dictionary on the model's activations over `tokens` (see the module comment for the method). */
export async function trainDictionary(
  runtime: Runtime,
  model: Model,
  tokens: TokenBatches,
  options: DictionaryTrainingOptions,
): Promise<DictionaryTrainingResult> {
  try {
    return await train(runtime, model, tokens, options);
  } catch (e) {
    // Whatever was in flight when the signal fired (a model run, a buffer fill), the caller sees one error.
    if (options.signal?.aborted) throw abortError();
    throw e;
  }
}

/** The trained parameters: all of them, less b_dec when it stays fixed (it enters the graph as a constant). */
function initialParameters(
  r: Resolved,
  L: number,
  d: number,
  bDec: F32,
  fixedBias: boolean,
): Record<string, F32> {
  const params = initDictionaryParameters(r.kind, L, r.width, d, bDec, r.seed);
  if (fixedBias) delete params.bDec;
  return params;
}

async function train(
  runtime: Runtime,
  model: Model,
  tokens: TokenBatches,
  options: DictionaryTrainingOptions,
): Promise<DictionaryTrainingResult> {
  const r = resolveOptions(model, options);
  const d = model.config.dModel;
  const L = r.layers.length;
  const R = r.batchRows;
  const hookNames = r.layers.flatMap((l) => [blockHook(l, r.hooks.input), blockHook(l, r.hooks.output)]);
  const stream = new ActivationStream(
    model,
    await hookRunner(runtime, model, hookNames),
    tokens,
    r.layers,
    r.hooks,
    r.exclude,
  );
  const buffer = new RowBuffer(r.bufferRows, L * d, stream.sameHooks, r.seed + 1);
  const t0 = performance.now();
  const check = () => {
    if (options.signal?.aborted) throw abortError();
  };
  check();
  await buffer.fill(stream, options.signal);
  const first = buffer.rows;
  const inStats = await layerStats(runtime, first.x, first.n, L, d);
  const outStats = stream.sameHooks ? inStats : await layerStats(runtime, first.y, first.n, L, d);
  const inScale = inStats.rms;
  const outScale = outStats.rms;
  const centre =
    r.decoderBias === 'mean' ? outStats.mean : await layerMedian(runtime, first.y, first.n, L, d);
  const bDec = f32(
    [L, 1, d],
    Float32Array.from(centre.data, (v, i) => v / outScale[Math.floor(i / d)]),
  );
  const fixedBias = r.decoderBias === 'fixed-median';
  const shape: TrainingGraphShape = {
    kind: r.kind,
    L,
    d,
    width: r.width,
    rows: R,
    k: r.k,
    auxK: r.auxK,
    auxCoef: r.auxCoef,
  };
  const inv = (s: Float64Array) =>
    f32(
      [1, L, 1],
      Float32Array.from(s, (v) => 1 / v),
    );
  const session = await TrainingSession.create(
    runtime,
    {
      params: initialParameters(r, L, d, bDec, fixedBias),
      inputs: {
        x: { dtype: 'float32', shape: [R, L, d] },
        y: { dtype: 'float32', shape: [R, L, d] },
        dead: { dtype: 'float32', shape: [L, 1, r.width] },
      },
      loss: (g, p, i) =>
        dictionaryTrainingGraph(
          g,
          shape,
          fixedBias ? { ...p, bDec: g.constant(bDec) } : p,
          g.mul(i.x, g.constant(inv(inScale))),
          g.mul(i.y, g.constant(inv(outScale))),
          i.dead,
        ),
    },
    { lr: r.lr, weightDecay: 0, clipNorm: 1 },
  );

  const lastFired = new Float64Array(L * r.width); // rows seen when each feature last fired
  const dead = f32([L, 1, r.width]);
  const theta = new Float64Array(L);
  let thetaSteps = 0;
  const thetaFrom = Math.floor(r.steps * 0.8);
  const curve: DictionaryTrainingProgress[] = [];
  const every = Math.max(1, Math.floor(r.steps / 100));
  let rows = 0;
  for (let step = 0; step < r.steps; step++) {
    check();
    if (!buffer.canTake(R)) {
      buffer.compact();
      await buffer.fill(stream, options.signal);
    }
    const batch = buffer.take(R);
    let nDead = 0;
    for (let i = 0; i < lastFired.length; i++) {
      const isDead = rows - lastFired[i] >= r.deadAfterRows;
      dead.data[i] = isDead ? 1 : 0;
      if (isDead) nDead++;
    }
    const res = await session.step(
      { x: f32([R, L, d], batch.x), y: f32([R, L, d], batch.y), dead },
      dictionaryLearningRate(step, r.steps, r.lr),
    );
    rows += R;
    const fires = res.metrics.fires.data;
    let active = 0;
    for (let i = 0; i < fires.length; i++) {
      if (fires[i] > 0) lastFired[i] = rows;
      active += fires[i];
    }
    if (step >= thetaFrom) {
      thetaSteps++;
      for (let l = 0; l < L; l++) theta[l] += (res.metrics.theta.data[l] - theta[l]) / thetaSteps;
    }
    let sse = 0;
    let sst = 0;
    for (let l = 0; l < L; l++) {
      sse += res.metrics.sse.data[l];
      sst += res.metrics.sst.data[l];
    }
    const progress: DictionaryTrainingProgress = {
      step: step + 1,
      steps: r.steps,
      rows,
      loss: res.metrics.mse.data[0],
      fvu: sst > 0 ? sse / sst : 0,
      l0: active / (R * L),
      dead: nDead / lastFired.length,
      rowsPerSecond: rows / ((performance.now() - t0) / 1000),
    };
    if (step % every === 0 || step === r.steps - 1) curve.push(progress);
    options.onProgress?.(progress);
  }
  const trained = session.getParameters();
  const params = fixedBias ? { ...trained, bDec } : trained;
  const dictionary = dictionaryFromParameters(r, d, params, theta, inScale, outScale, {
    training: {
      method: 'batchtopk+auxk',
      decoderBias: r.decoderBias,
      k: r.k,
      steps: r.steps,
      batchRows: R,
      rows,
      lr: r.lr,
      seed: r.seed,
    },
  });
  return { dictionary, steps: r.steps, rows, seconds: (performance.now() - t0) / 1000, curve };
}
