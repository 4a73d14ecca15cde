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
import type { Dictionary, DictionaryLayer } from '../dictionary/types.ts';
import type { ModelConfig } from '../model/config.ts';
import { blockHook, type HookName } from '../model/hooks.ts';
import { buildTransformer, type KvPair, type WeightTree } from '../model/transformer.ts';
import type { GraphBuilder, Tensor } from '../tensor/graph.ts';
import { f32, type F32 } from '../tensor/host.ts';
import type { InterventionMode } from './spec.ts';

export type GraphMode = InterventionMode | 'clean';

export interface InterventionSignature {
  mode: GraphMode;
  /** Dictionary layer indices with feature interventions, ascending. */
  layers: readonly number[];
  /** Hooks with steering vectors, sorted. */
  steer: readonly HookName[];
  /** KV-cache inputs `past:{k,v}:l` and outputs `present:{k,v}:l` (generation). */
  past: boolean;
  /** Extra hooks to output as `hook:{name}`. */
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
 * Names and shapes of the clean-run values a mode freezes (fed back as `freeze:{key}`). Keys are hook names,
 * `blocks.{l}.ln{1,2}_post.scale` for Gemma-2's post-norms, `mlp:{l}` and `skipin:{l}`.
 */
export function frozenKeys(
  config: ModelConfig,
  dict: Dictionary,
  mode: GraphMode,
): { key: string; shape: (number | string)[] }[] {
  if (mode === 'free') return [];
  const { nLayers, nHeads, dModel } = config;
  const out: { key: string; shape: (number | string)[] }[] = [];
  for (let l = 0; l < nLayers; l++)
    out.push({ key: blockHook(l, 'attn.hook_pattern'), shape: [1, nHeads, 'T', 'T'] });
  if (mode === 'frozen-attention') return out;
  for (let l = 0; l < nLayers; l++) {
    out.push({ key: blockHook(l, 'ln1.hook_scale'), shape: [1, 'T', 1] });
    out.push({ key: blockHook(l, 'ln2.hook_scale'), shape: [1, 'T', 1] });
    if (config.postNorms) {
      out.push({ key: `blocks.${l}.ln1_post.scale`, shape: [1, 'T', 1] });
      out.push({ key: `blocks.${l}.ln2_post.scale`, shape: [1, 'T', 1] });
    }
    out.push({ key: `mlp:${l}`, shape: [1, 'T', dModel] });
    if (dict.kind !== 'sae' && dict.layers[l].wSkip)
      out.push({ key: `skipin:${l}`, shape: [1, 'T', dModel] });
  }
  out.push({ key: 'ln_final.hook_scale', shape: [1, 'T', 1] });
  return out;
}

/** Whether constrained mode can freeze every layer's MLP output: PLT/CLT covering layers 0..L−1, or an SAE. */
export function checkConstrainable(config: ModelConfig, dict: Dictionary): void {
  if (dict.kind === 'sae') return;
  if (dict.layers.length !== config.nLayers || dict.layers.some((l, i) => l.layer !== i)) {
    throw new Error(`constrained mode needs a transcoder for every layer 0..${config.nLayers - 1}`);
  }
}

function activationOf(g: GraphBuilder, dict: Dictionary, layer: DictionaryLayer, pre: Tensor): Tensor {
  const a = dict.activation;
  if (a.kind === 'relu') return g.relu(pre);
  if (a.kind === 'jumprelu') {
    if (!layer.threshold) throw new Error(`dictionary layer ${layer.layer}: JumpReLU without a threshold`);
    let keep = g.greater(pre, g.constant(layer.threshold));
    if (a.rectify) keep = g.and(keep, g.greater(pre, g.scalar(0)));
    return g.where(keep, pre, 0);
  }
  const k = Math.min(a.k, dict.dTc);
  const [values, indices] = g.node(
    'TopK',
    [pre, g.ints([k])],
    [
      [1, 'T', k],
      [1, 'T', k],
    ],
    ['float32', 'int64'],
    { axis: -1, largest: 1, sorted: 1 },
  );
  const kept = a.rectify ? g.relu(values) : values;
  return g.node('ScatterElements', [g.mul(pre, 0), indices, kept], [pre.shape], ['float32'], { axis: -1 })[0];
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
  const tokens = g.input('tokens', 'int32', [1, 'T']);
  const past: KvPair[] | undefined = sig.past
    ? Array.from({ length: config.nLayers }, (_, l) => ({
        k: g.input(`past:k:${l}`, 'float32', [1, config.nKvHeads, 'P', config.dHead]),
        v: g.input(`past:v:${l}`, 'float32', [1, config.nKvHeads, 'P', config.dHead]),
      }))
    : undefined;
  const frozen = new Map<string, Tensor>();
  for (const { key, shape } of frozenKeys(config, dict, mode === 'clean' ? 'free' : mode)) {
    frozen.set(key, g.input(`freeze:${key}`, 'float32', shape));
  }
  const steer = new Map<string, Tensor>();
  for (const h of sig.steer) steer.set(h, g.input(`add:${h}`, 'float32', [1, 'T', d]));

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
    if (mode === 'constrained') return g.input(`delta:${i}`, 'float32', [1, 'T', n]);
    const feat = g.input(`feat:${i}`, 'int64', [n]);
    const mask = g.input(`mask:${i}`, 'float32', [1, 'T', n]);
    const value = g.input(`value:${i}`, 'float32', [1, 'T', n]);
    const { acts: all } = buildEncodeGraph(g, dict, i, x);
    const acts = g.node('Gather', [all, feat], [[1, 'T', n]], ['float32'], {
      axis: 2,
    })[0];
    outputs[`acts:${i}`] = acts;
    return g.mul(mask, g.sub(value, acts));
  };

  const hook = (name: HookName, v: Tensor): Tensor => {
    let out = frozen.get(name) ?? v;
    const add = steer.get(name);
    if (add) out = g.add(out, add);
    if (record && (name.endsWith('attn.hook_pattern') || name.endsWith('hook_scale')))
      outputs[`state:${name}`] = out;
    for (const i of byInput.get(name) ?? []) {
      if (record) outputs[`state:in:${i}`] = out;
      skipIn.set(dict.layers[i].layer, out);
      if (!intervened.has(i)) continue;
      const delta = featureDelta(i, out); // [1, T, N]
      const nOut = dict.kind === 'clt' ? dict.layers.length - i : 1;
      const dec = g.input(`dec:${i}`, 'float32', [`N${i}`, nOut * d]);
      const contrib = g.matmul(delta, dec); // [1, T, nOut·d]
      for (let o = 0; o < nOut; o++) {
        const h = outputHookOf(i + o);
        const part = nOut === 1 ? contrib : g.slice(contrib, -1, o * d, (o + 1) * d);
        pending.set(h, [...(pending.get(h) ?? []), part]);
      }
    }
    const m = /^blocks\.(\d+)\./.exec(name);
    if (m && name === mlpFreezeHook(dict, Number(m[1]))) {
      const l = Number(m[1]);
      if (record) outputs[`state:mlp:${l}`] = out;
      const fr = frozen.get(`mlp:${l}`);
      if (fr) {
        out = fr;
        const xNew = skipIn.get(l);
        const xClean = frozen.get(`skipin:${l}`);
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
    postNormScale: (l, which, s) => {
      const key = `blocks.${l}.${which}.scale`;
      if (record) outputs[`state:${key}`] = s;
      return frozen.get(key) ?? s;
    },
  });
  if (pending.size > 0)
    throw new Error(`interventions at ${[...pending.keys()].join(', ')} were never applied`);
  outputs.logits = res.logits;
  for (const h of sig.cache) {
    const t = res.hooks.get(h);
    if (!t) throw new Error(`hook '${h}' does not exist in this model`);
    outputs[`hook:${h}`] = t;
  }
  res.present?.forEach((kv, l) => {
    outputs[`present:k:${l}`] = kv.k;
    outputs[`present:v:${l}`] = kv.v;
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
  x: Tensor = g.input('x', 'float32', [1, 'T', dict.dModel]),
): { acts: Tensor } {
  const layer = dict.layers[i];
  const input = dict.applyBDecToInput ? g.sub(x, g.constant(layer.bDec)) : x;
  const pre = g.add(g.matmul(input, g.mT(g.constant(layer.wEnc))), g.constant(layer.bEnc)); // [1, T, dTc]
  return { acts: activationOf(g, dict, layer, pre) };
}
