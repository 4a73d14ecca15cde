/**
 * Phase 0 of a trace (trace.ts): the clean run as one graph, which records what the linearisation freezes
 * (the replacement model's frozen sites, model/replacement.ts) and what rows contract with, plus the
 * dictionary's active features and the error vectors; and each target's value in the linearised model.
 */
import { validateAgainstModel } from '../dictionary/load.ts';
import { computeAttributionComponents } from '../dictionary/onnx.ts';
import type { AttributionComponents, ZeroPositions } from '../dictionary/reference.ts';
import type { Dictionary } from '../dictionary/types.ts';
import { checkTokenIds } from '../io/tokenizer.ts';
import type { ModelConfig } from '../model/config.ts';
import { blockHook, type BlockHook, type HookName } from '../model/hooks.ts';
import type { Model } from '../model/model.ts';
import { type FrozenSite, frozenSiteHook, frozenSites } from '../model/replacement.ts';
import { buildTransformer } from '../model/transformer.ts';
import { type CompiledModel, GraphBuilder, type Tensor } from '../tensor/graph.ts';
import { f32, i32 } from '../tensor/host.ts';
import type { RowTarget } from './explore.ts';

/** Feature-input hooks the linearised backward knows how to leave through. */
const INPUT_HOOKS: readonly BlockHook[] = [
  'hook_resid_pre',
  'hook_resid_mid',
  'ln2.hook_normalized',
  'mlp.hook_in',
];
/** Feature-output hooks where MLP outputs are replaced by reconstruction + error. */
const OUTPUT_HOOKS: readonly BlockHook[] = ['mlp.hook_out', 'hook_mlp_out'];

/** Clean-run values held fixed by the linearisation. Scales are [L, T] (one per position), patterns [L, H, T, T]. */
export interface FrozenValues {
  patterns: Float32Array; // [L, H, T, T]
  ln1: Float32Array; // [L, T]
  ln2: Float32Array; // [L, T]
  /** Gemma-2 only. */
  ln1Post?: Float32Array; // [L, T]
  ln2Post?: Float32Array; // [L, T]
  lnFinal: Float32Array; // [T]
}

export interface TraceContext {
  tokens: Int32Array; // [T]
  nLayers: number;
  nPos: number;
  dModel: number;
  /** Real logits (after any softcap) at the last position. */
  logits: Float32Array; // [dVocab]
  components: AttributionComponents;
  nActive: number;
  /** mlp_out − reconstruction at each output hook, zero at the zero positions. */
  errors: Float32Array; // [L, T, d]
  /** The value at hook_embed (× embedScale for Gemma): what a token node writes. */
  tokenVectors: Float32Array; // [T, d]
  /** Transcoder inputs and MLP outputs of the clean run, at the dictionary's hooks. */
  inputs: Float32Array; // [L, T, d]
  mlpOutputs: Float32Array; // [L, T, d]
  /** Residual stream entering each layer (QK attribution reads queries and keys from it). */
  residPre: Float32Array; // [L, T, d]
  /** The final-norm output at the last position: a logit target's value is v·finalOut. */
  finalOut: Float32Array; // [d]
  /**
   * The constant part of each MLP output in the linearised model: b_dec where features and errors account for
   * the rest, the whole frozen output less its skip term at the zero positions.
   */
  mlpConstants: Float32Array; // [L, T, d]
  frozen: FrozenValues;
}

/** Bias sites of a prompt: (L + 2) levels × T positions (see the header). */
export function biasSiteCount(nLayers: number, nPos: number): number {
  return (nLayers + 2) * nPos;
}

export function checkTraceable(config: ModelConfig, dict: Dictionary): void {
  if (dict.kind === 'sae') throw new Error('attribution needs a transcoder (PLT or CLT), not an SAE');
  validateAgainstModel(dict, config);
  if (!INPUT_HOOKS.includes(dict.hooks.input)) {
    throw new Error(
      `attribution: feature input hook '${dict.hooks.input}' is not one of ${INPUT_HOOKS.join(', ')}`,
    );
  }
  if (!OUTPUT_HOOKS.includes(dict.hooks.output)) {
    throw new Error(
      `attribution: feature output hook '${dict.hooks.output}' is not one of ${OUTPUT_HOOKS.join(', ')}`,
    );
  }
}

const modelIds = new WeakMap<Model, number>();
let nextModelId = 0;
function modelKey(model: Model): number {
  let id = modelIds.get(model);
  if (id === undefined) modelIds.set(model, (id = nextModelId++));
  return id;
}

/** The FrozenValues field a frozen pattern or norm-scale site's value is stacked into. */
function frozenField(site: FrozenSite): keyof FrozenValues {
  switch (site.kind) {
    case 'pattern':
      return 'patterns';
    case 'normScale':
      return site.norm;
    case 'postNormScale':
      return site.norm === 'ln1_post' ? 'ln1Post' : 'ln2Post';
    case 'finalNormScale':
      return 'lnFinal';
    default:
      throw new Error(`phase 0: ${site.kind} is not a pattern or norm-scale site`);
  }
}

/** The clean forward of phase 0, as one graph: everything the trace freezes or contracts with. */
function buildPhase0(model: Model, input: BlockHook, output: BlockHook): CompiledModel {
  const { config } = model;
  const L = config.nLayers;
  const g = new GraphBuilder();
  const tokens = g.input('tokens', 'int32', [1, 'T']);
  const post = new Map<string, Tensor>();
  const out = buildTransformer(g, config, model.constants(g), tokens, {
    postNormScale: (layer, which, s) => {
      post.set(`${which}.${layer}`, s);
      return s;
    },
  });
  const hook = (name: HookName): Tensor => {
    const t = out.hooks.get(name);
    if (!t) throw new Error(`phase 0: hook '${name}' is missing`);
    return t;
  };
  const stack = (per: (l: number) => Tensor): Tensor =>
    g.concat(
      Array.from({ length: L }, (_, l) => per(l)),
      0,
    );
  /** The last position of a [1, T, n] tensor: [1, 1, n]. */
  const lastPosition = (t: Tensor, n: number): Tensor =>
    g.node('Slice', [t, g.ints([-1]), g.ints([2 ** 62]), g.ints([1])], [[1, 1, n]], ['float32'])[0];
  const outputs: Record<string, Tensor> = {
    logits: lastPosition(out.logits, config.dVocab),
    finalOut: lastPosition(out.lnFinalOut, config.dModel),
    inputs: stack((l) => hook(blockHook(l, input))), // [L, T, d]
    mlpOutputs: stack((l) => hook(blockHook(l, output))),
    residPre: stack((l) => hook(blockHook(l, 'hook_resid_pre'))),
    embed: hook('hook_embed'), // [1, T, d]
  };
  // The pattern and norm-scale sites of the replacement model, stacked per FrozenValues field with layers along
  // axis 0. Its frozen MLP outputs reach the trace through `mlpOutputs` (the dictionary's output hook).
  const frozen = new Map<keyof FrozenValues, Tensor[]>();
  for (const site of frozenSites(config, ['attn.hook_pattern', 'ln.hook_scale'])) {
    const h = frozenSiteHook(site);
    const t = h
      ? hook(h)
      : site.kind === 'postNormScale'
        ? post.get(`${site.norm}.${site.layer}`)
        : undefined;
    if (!t) throw new Error(`phase 0: frozen site ${JSON.stringify(site)} has no value`);
    const field = frozenField(site);
    frozen.set(field, [...(frozen.get(field) ?? []), t]);
  }
  for (const [field, ts] of frozen) outputs[field] = g.concat(ts, 0);
  return g.compileModel(outputs);
}

export interface PrepareOptions {
  /** Leading positions without feature nodes and with zero errors (attribution/prompt.ts); default 1. */
  zeroPositions?: number;
}

/** Phase 0: the clean run, the dictionary's active features and decoder vectors, and the error vectors. */
export async function prepareTrace(
  model: Model,
  dict: Dictionary,
  tokens: Int32Array,
  options: PrepareOptions = {},
): Promise<TraceContext> {
  const { config, runtime } = model;
  checkTraceable(config, dict);
  const T = tokens.length;
  if (T === 0) throw new Error('attribution: the prompt has no tokens');
  if (T > config.nCtx) throw new Error(`attribution: ${T} tokens exceed the context length ${config.nCtx}`);
  checkTokenIds(tokens, config.dVocab, 'attribution: ');
  const zeroCount = options.zeroPositions ?? 1;
  if (!Number.isInteger(zeroCount) || zeroCount < 0)
    throw new Error(`zeroPositions must be a non-negative integer, got ${zeroCount}`);
  const { input, output } = dict.hooks;
  // Run once per prompt with outputs that grow with T (patterns [H, T, T] per layer): without the arena their
  // buffers go back to the OS instead of staying reserved for the process's lifetime.
  const phase0 = await runtime.graph(
    `trace-phase0:${modelKey(model)}:${input}:${output}`,
    () => buildPhase0(model, input, output),
    { cpuMemArena: false },
  );
  const r = await phase0.run({ tokens: i32([1, T], tokens) });
  const L = config.nLayers;
  const d = config.dModel;
  const data = (name: string) => r[name].data as Float32Array;
  const inputs = data('inputs');
  const mlpOutputs = data('mlpOutputs');
  const zero: ZeroPositions = { start: 0, end: Math.min(zeroCount, T) };
  const components = await computeAttributionComponents(runtime, dict, f32([L, T, d], inputs), zero);
  const recon = components.reconstruction.data;
  const errors = new Float32Array(L * T * d);
  const mlpConstants = new Float32Array(L * T * d);
  for (let l = 0; l < L; l++) {
    const bDec = dict.layers[l].bDec.data;
    for (let p = 0; p < T; p++) {
      const o = (l * T + p) * d;
      if (p < zero.end) {
        // No features and no error here: reconstruction = b_dec + skip(x), so all but skip(x) is constant.
        for (let j = 0; j < d; j++) mlpConstants[o + j] = mlpOutputs[o + j] - recon[o + j] + bDec[j];
      } else {
        for (let j = 0; j < d; j++) {
          errors[o + j] = mlpOutputs[o + j] - recon[o + j];
          mlpConstants[o + j] = bDec[j];
        }
      }
    }
  }
  return {
    tokens: Int32Array.from(tokens),
    nLayers: L,
    nPos: T,
    dModel: d,
    logits: Float32Array.from(data('logits')),
    components,
    nActive: components.activations.value.length,
    errors,
    tokenVectors: data('embed'),
    inputs,
    mlpOutputs,
    residPre: data('residPre'),
    finalOut: Float32Array.from(data('finalOut')),
    mlpConstants,
    frozen: {
      patterns: data('patterns'),
      ln1: data('ln1'),
      ln2: data('ln2'),
      ...(config.postNorms ? { ln1Post: data('ln1Post'), ln2Post: data('ln2Post') } : {}),
      lnFinal: data('lnFinal'),
    },
  };
}

/**
 * Each target's value in the linearised model, which at the clean point is the clean value: W_enc·x + b_enc
 * for a feature (its pre-activation), v·(final-norm output, last position) for a logit target. A row with its
 * bias contributions sums to this.
 */
export function linearisedValues(
  dict: Dictionary,
  ctx: TraceContext,
  logitVectors: Float32Array, // [K, d]
  targets: readonly RowTarget[],
): Float32Array {
  const { nPos: T, dModel: d } = ctx;
  const act = ctx.components.activations;
  const enc = ctx.components.encoderVecs.data;
  const out = new Float32Array(targets.length);
  targets.forEach((t, b) => {
    let s = 0;
    if (t.kind === 'logit') {
      for (let j = 0; j < d; j++) s += logitVectors[t.index * d + j] * ctx.finalOut[j];
    } else {
      const i = t.activeIndex;
      const x = (act.layer[i] * T + act.pos[i]) * d;
      for (let j = 0; j < d; j++) s += enc[i * d + j] * ctx.inputs[x + j];
      s += dict.layers[act.layer[i]].bEnc.data[act.feature[i]];
    }
    out[b] = s;
  });
  return out;
}
