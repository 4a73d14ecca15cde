/**
 * One ONNX graph per intervention signature: the transformer (buildTransformer) with, at the hooks,
 *   - clean values frozen (attention patterns; for direct effects also every norm scale and the MLP outputs,
 *     whose transcoder skip term is recomputed on the live input: frozen + (x − x_clean)·W_skipᵀ);
 *   - feature deltas Δ [T, N] added as Δ·W_dec at the dictionary's output hook (CLT: layers l..L−1), with
 *     Δ = mask ⊙ (v − a_current) computed in the graph from the live input hook, or fed (constrained mode,
 *     where Δ comes from the clean activations);
 *   - steering vectors added at any residual-space hook.
 * The 'clean' signature records everything the constrained and frozen-attention modes freeze.
 * Batch size is 1: tokens [1, T].
 */
import { dictionaryActivation } from '../dictionary/onnx.ts';
import type { Dictionary } from '../dictionary/types.ts';
import type { ModelConfig } from '../model/config.ts';
import { blockHook, type HookName, parseHookName } from '../model/hooks.ts';
import {
  type FrozenSite,
  frozenSiteHook,
  frozenSiteShape,
  frozenSites,
  REPLACEMENT_FREEZE,
} from '../model/replacement.ts';
import { buildTransformer, type KvPair, type WeightTree } from '../model/transformer.ts';
import type { GraphBuilder, Tensor } from '../tensor/graph.ts';
import { f32, type F32 } from '../tensor/host.ts';
import { feedName, fetchName, type FrozenValue, frozenId } from './names.ts';
import type { InterventionMode } from './spec.ts';

export type GraphMode = InterventionMode | 'clean';

export interface InterventionSignature {
  mode: GraphMode;
  /** Dictionary layer indices with feature interventions, ascending. */
  layers: readonly number[];
  /** Hooks with steering vectors, sorted. */
  steer: readonly HookName[];
  /** KV-cache inputs and outputs (generation). */
  past: boolean;
  /** Extra hooks to output. */
  cache: readonly HookName[];
}

export function signatureKey(s: InterventionSignature): string {
  return `${s.mode}|${s.layers.join(',')}|${s.steer.join(',')}|${s.past}|${s.cache.join(',')}`;
}

/** The hook whose value constrained mode freezes as "the MLP output" of model layer l. */
export function mlpFreezeHook(dict: Dictionary, l: number): HookName {
  return blockHook(l, dict.kind === 'sae' ? 'hook_mlp_out' : dict.hooks.output);
}

/**
 * The clean-run values a mode freezes, with their batched shapes: the replacement model's sites
 * (model/replacement.ts; frozen-attention mode only the patterns), and with the MLP outputs each transcoder
 * layer's clean input, for its skip term.
 */
export function frozenKeys(
  config: ModelConfig,
  dict: Dictionary,
  mode: GraphMode,
): { key: FrozenValue; shape: (number | string)[] }[] {
  if (mode === 'free' || mode === 'clean') return [];
  const kinds = mode === 'frozen-attention' ? (['attn.hook_pattern'] as const) : REPLACEMENT_FREEZE;
  const out: { key: FrozenValue; shape: (number | string)[] }[] = [];
  for (const site of frozenSites(config, kinds)) {
    out.push({ key: site, shape: [1, ...frozenSiteShape(config, site, 'T')] });
    if (site.kind === 'mlpOut' && dict.kind !== 'sae' && dict.layers[site.layer]?.wSkip)
      out.push({ key: { kind: 'skipInput', layer: site.layer }, shape: [1, 'T', config.dModel] });
  }
  return out;
}

/** Whether constrained mode can freeze every layer's MLP output: PLT/CLT covering layers 0..L−1, or an SAE. */
export function checkConstrainable(config: ModelConfig, dict: Dictionary): void {
  if (dict.kind === 'sae') return;
  if (dict.layers.length !== config.nLayers || dict.layers.some((l, i) => l.layer !== i)) {
    throw new Error(`constrained mode needs a transcoder for every layer 0..${config.nLayers - 1}`);
  }
}

/** Builds the graph; returns its outputs (compile them with g.compile). */
export function buildInterventionGraph(
  g: GraphBuilder,
  config: ModelConfig,
  weights: WeightTree<Tensor>,
  dict: Dictionary,
  sig: InterventionSignature,
): Record<string, Tensor> {
  const { mode } = sig;
  const d = config.dModel;
  const tokens = g.input(feedName.tokens, 'int32', [1, 'T']);
  const past: KvPair[] | undefined = sig.past
    ? Array.from({ length: config.nLayers }, (_, l) => ({
        k: g.input(feedName.past('k', l), 'float32', [1, config.nKvHeads, 'P', config.dHead]),
        v: g.input(feedName.past('v', l), 'float32', [1, config.nKvHeads, 'P', config.dHead]),
      }))
    : undefined;
  const frozenInputs = new Map<string, Tensor>(); // frozenId → input
  for (const { key, shape } of frozenKeys(config, dict, mode)) {
    frozenInputs.set(frozenId(key), g.input(feedName.freeze(key), 'float32', shape));
  }
  const frozen = (v: FrozenValue) => frozenInputs.get(frozenId(v));
  // The replacement model's sites that sit at a hook point, which the clean run records there.
  const siteAt = new Map<HookName, FrozenSite>();
  for (const site of frozenSites(config)) {
    const h = frozenSiteHook(site);
    if (h) siteAt.set(h, site);
  }
  const steer = new Map<string, Tensor>();
  for (const h of sig.steer) steer.set(h, g.input(feedName.add(h), 'float32', [1, 'T', d]));

  const byInput = new Map<string, number[]>(); // input hook -> dictionary layer indices
  dict.layers.forEach((l, i) => {
    const h = blockHook(l.layer, dict.hooks.input);
    byInput.set(h, [...(byInput.get(h) ?? []), i]);
  });
  const outputHookOf = (i: number) => blockHook(dict.layers[i].layer, dict.hooks.output);
  const intervened = new Set(sig.layers);
  const pending = new Map<string, Tensor[]>(); // output hook -> decoder contributions [1, T, d]
  const skipIn = new Map<number, Tensor>(); // model layer -> live transcoder input
  const outputs: Record<string, Tensor> = {};
  const record = mode === 'clean';

  const featureDelta = (i: number, x: Tensor): Tensor => {
    const n = `N${i}`;
    if (mode === 'constrained') return g.input(feedName.delta(i), 'float32', [1, 'T', n]);
    const feat = g.input(feedName.features(i), 'int64', [n]);
    const mask = g.input(feedName.mask(i), 'float32', [1, 'T', n]);
    const value = g.input(feedName.value(i), 'float32', [1, 'T', n]);
    const all = buildEncodeGraph(g, dict, i, x)[fetchName.encoderActs];
    const acts = g.node('Gather', [all, feat], [[1, 'T', n]], ['float32'], {
      axis: 2,
    })[0];
    outputs[fetchName.acts(i)] = acts;
    return g.mul(mask, g.sub(value, acts));
  };

  const hook = (name: HookName, v: Tensor): Tensor => {
    const site = siteAt.get(name);
    let out = (site && frozen(site)) ?? v;
    const add = steer.get(name);
    if (add) out = g.add(out, add);
    if (record && site) outputs[fetchName.state(site)] = out;
    const l = parseHookName(name).layer;
    for (const i of byInput.get(name) ?? []) {
      if (record) outputs[fetchName.dictionaryInput(i)] = out;
      skipIn.set(dict.layers[i].layer, out);
      if (!intervened.has(i)) continue;
      const delta = featureDelta(i, out); // [1, T, N]
      const nOut = dict.kind === 'clt' ? dict.layers.length - i : 1;
      const dec = g.input(feedName.decoder(i), 'float32', [`N${i}`, nOut * d]);
      const contrib = g.matmul(delta, dec); // [1, T, nOut·d]
      for (let o = 0; o < nOut; o++) {
        const h = outputHookOf(i + o);
        const part = nOut === 1 ? contrib : g.slice(contrib, -1, o * d, (o + 1) * d);
        pending.set(h, [...(pending.get(h) ?? []), part]);
      }
    }
    if (l >= 0 && name === mlpFreezeHook(dict, l)) {
      if (record) outputs[fetchName.state({ kind: 'mlpOut', layer: l })] = out;
      const fr = frozen({ kind: 'mlpOut', layer: l });
      if (fr) {
        out = fr;
        const xNew = skipIn.get(l);
        const xClean = frozen({ kind: 'skipInput', layer: l });
        const wSkip = dict.layers[l]?.wSkip;
        if (xNew && xClean && wSkip) out = g.add(out, g.matmul(g.sub(xNew, xClean), g.mT(g.constant(wSkip))));
        // The frozen output replaces the live one, steering at this hook included: add it back on top.
        if (add) out = g.add(out, add);
      }
    }
    for (const part of pending.get(name) ?? []) out = g.add(out, part);
    pending.delete(name);
    return out;
  };

  const res = buildTransformer(g, config, weights, tokens, {
    hook,
    ...(past ? { past } : {}),
    postNormScale: (layer, norm, s) => {
      const key: FrozenValue = { kind: 'postNormScale', layer, norm };
      if (record) outputs[fetchName.state(key)] = s;
      return frozen(key) ?? s;
    },
  });
  if (pending.size > 0)
    throw new Error(`interventions at ${[...pending.keys()].join(', ')} were never applied`);
  outputs[fetchName.logits] = res.logits;
  for (const h of sig.cache) {
    const t = res.hooks.get(h);
    if (!t) throw new Error(`hook '${h}' does not exist in this model`);
    outputs[fetchName.hook(h)] = t;
  }
  res.present?.forEach((kv, l) => {
    outputs[fetchName.present('k', l)] = kv.k;
    outputs[fetchName.present('v', l)] = kv.v;
  });
  return outputs;
}

/** Decoder rows of `features` at dictionary layer i, flattened to [n, nOut·dModel]. */
export async function decoderRows(dict: Dictionary, i: number, features: readonly number[]): Promise<F32> {
  const r = await dict.decoder.rows(i, features);
  return f32([features.length, r.data.length / Math.max(1, features.length)], r.data);
}

/** Encoder of one dictionary layer: x [1, T, dModel] → acts [1, T, dTc] (only the layers a request touches). */
export function buildEncodeGraph(
  g: GraphBuilder,
  dict: Dictionary,
  i: number,
  x: Tensor = g.input(feedName.encoderInput, 'float32', [1, 'T', dict.dModel]),
): { [fetchName.encoderActs]: Tensor } {
  const layer = dict.layers[i];
  const input = dict.applyBDecToInput ? g.sub(x, g.constant(layer.bDec)) : x;
  const pre = g.add(g.matmul(input, g.mT(g.constant(layer.wEnc))), g.constant(layer.bEnc)); // [1, T, dTc]
  return {
    [fetchName.encoderActs]: dictionaryActivation(g, dict, pre, 1, () => {
      if (!layer.threshold) throw new Error(`dictionary layer ${layer.layer}: JumpReLU without a threshold`);
      return layer.threshold;
    }),
  };
}
