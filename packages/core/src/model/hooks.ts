/**
 * Hook points: named sites in the forward pass whose values can be cached, replaced (patched, ablated) or
 * added to. The names are TransformerLens's, with TransformerLens's semantics, except the two that
 * circuit-tracer adds by wrapping each MLP (marked CT below), so that dictionaries trained against either
 * library (circuit-tracer, SAELens, GemmaScope) read and write the same tensors here.
 * Shapes are for one sequence of T tokens; a batch adds a leading B.
 *
 *   hook_embed                    token embedding (× embedScale for Gemma)                         [T, dModel]
 *   hook_pos_embed                learned positional embedding (GPT-2 only)                        [T, dModel]
 *   blocks.{l}.hook_resid_pre     residual stream entering block l                                 [T, dModel]
 *   blocks.{l}.ln1.hook_scale     the pre-attention norm's denominator (sqrt(var+eps) / rms)       [T, 1]
 *   blocks.{l}.ln1.hook_normalized  x/scale (centred first for LayerNorm), before weight and bias  [T, dModel]
 *   blocks.{l}.attn.hook_q        per-head queries: projection (+ bias), before q-norm and rotary  [T, nHeads, dHead]
 *   blocks.{l}.attn.hook_k        per-KV-head keys, likewise                                       [T, nKvHeads, dHead]
 *   blocks.{l}.attn.hook_v        per-KV-head values                                               [T, nKvHeads, dHead]
 *   blocks.{l}.attn.hook_pattern  attention probabilities                                          [nHeads, T, T]
 *   blocks.{l}.attn.hook_z        per-head pattern-weighted values, the input of the output projection [T, nHeads, dHead]
 *   blocks.{l}.hook_attn_out      attention output as added to the residual (Gemma-2: after post-norm) [T, dModel]
 *   blocks.{l}.hook_resid_mid     residual after attention                                         [T, dModel]
 *   blocks.{l}.ln2.hook_scale     the pre-MLP norm's denominator                                   [T, 1]
 *   blocks.{l}.ln2.hook_normalized  x/scale before the norm's weight and bias                      [T, dModel]
 *   blocks.{l}.mlp.hook_in    CT  the MLP's actual input, after the norm's weight (and bias)       [T, dModel]
 *   blocks.{l}.mlp.hook_pre       the activation function's input (gated MLPs: the gate projection) [T, dMlp]
 *   blocks.{l}.mlp.hook_pre_linear  gated MLPs only: the linear (up) projection                    [T, dMlp]
 *   blocks.{l}.mlp.hook_post      the hidden layer, input of the output projection                 [T, dMlp]
 *   blocks.{l}.mlp.hook_out   CT  the MLP's output before any post-norm                            [T, dModel]
 *   blocks.{l}.hook_mlp_out       MLP output as added to the residual (Gemma-2: after post-norm)   [T, dModel]
 *   blocks.{l}.hook_resid_post    residual leaving block l                                         [T, dModel]
 *   ln_final.hook_scale           final norm's denominator                                         [T, 1]
 *   ln_final.hook_normalized      final norm output before weight and bias                         [T, dModel]
 *
 * With grouped-query attention, hook_k and hook_v have one entry per KV head, as TransformerLens's
 * grouped-query attention records them; query head h reads KV head floor(h / (nHeads / nKvHeads)).
 */
import type { ModelConfig } from './config.ts';

/** Block hooks in the order the forward pass reaches them (dictionaries rely on input before output). */
export const BLOCK_HOOKS = [
  'hook_resid_pre',
  'ln1.hook_scale',
  'ln1.hook_normalized',
  'attn.hook_q',
  'attn.hook_k',
  'attn.hook_v',
  'attn.hook_pattern',
  'attn.hook_z',
  'hook_attn_out',
  'hook_resid_mid',
  'ln2.hook_scale',
  'ln2.hook_normalized',
  'mlp.hook_in',
  'mlp.hook_pre',
  'mlp.hook_pre_linear',
  'mlp.hook_post',
  'mlp.hook_out',
  'hook_mlp_out',
  'hook_resid_post',
] as const;

export type BlockHook = (typeof BLOCK_HOOKS)[number];

export const GLOBAL_HOOKS = [
  'hook_embed',
  'hook_pos_embed',
  'ln_final.hook_scale',
  'ln_final.hook_normalized',
] as const;

export type GlobalHook = (typeof GLOBAL_HOOKS)[number];

export type HookName = GlobalHook | `blocks.${number}.${BlockHook}`;

/** The hooks with one slice per attention head, on their second-to-last axis ([T, heads, dHead]). */
export const HEAD_HOOKS: readonly BlockHook[] = ['attn.hook_q', 'attn.hook_k', 'attn.hook_v', 'attn.hook_z'];

/** Whether the hook is one of HEAD_HOOKS. */
export function isHeadHook(hook: BlockHook | GlobalHook): boolean {
  return HEAD_HOOKS.some((h) => h === hook);
}

export function blockHook(layer: number, hook: BlockHook): HookName {
  return `blocks.${layer}.${hook}`;
}

/** Splits `blocks.3.hook_mlp_out` into { layer: 3, hook: 'hook_mlp_out' }; global hooks have layer -1. */
export function parseHookName(name: string): { layer: number; hook: BlockHook | GlobalHook } {
  const m = /^blocks\.(\d+)\.(.+)$/.exec(name);
  if (m) {
    const hook = BLOCK_HOOKS.find((h) => h === m[2]);
    if (!hook) throw new Error(`unknown hook point '${name}'`);
    return { layer: Number(m[1]), hook };
  }
  const hook = GLOBAL_HOOKS.find((h) => h === name);
  if (!hook) throw new Error(`unknown hook point '${name}'`);
  return { layer: -1, hook };
}

/**
 * Whether a hook carries a [T, dModel] residual-space activation: the only hooks a dictionary reads or
 * writes and a steering vector is added to.
 */
export function isResidualHook(hook: BlockHook | GlobalHook): boolean {
  return !(
    hook.endsWith('hook_scale') ||
    hook === 'attn.hook_pattern' ||
    isHeadHook(hook) ||
    hook.startsWith('mlp.hook_p')
  );
}

/** Whether a model with this config has the hook point (learned positions and gated MLPs add one each). */
export function hasHook(config: ModelConfig, hook: BlockHook | GlobalHook): boolean {
  if (hook === 'hook_pos_embed') return config.positional === 'learned';
  if (hook === 'mlp.hook_pre_linear') return config.gatedMlp;
  return true;
}

/** Every hook point of a model with this config, in forward order. */
export function modelHooks(config: ModelConfig): HookName[] {
  const out: HookName[] = ['hook_embed'];
  if (hasHook(config, 'hook_pos_embed')) out.push('hook_pos_embed');
  for (let l = 0; l < config.nLayers; l++)
    for (const h of BLOCK_HOOKS) if (hasHook(config, h)) out.push(blockHook(l, h));
  out.push('ln_final.hook_scale', 'ln_final.hook_normalized');
  return out;
}

/**
 * The shape of a hook's value for one sequence of length T (a number, or a symbolic dimension name for
 * graph inputs); throws for a hook this config lacks.
 */
export function hookDims<D extends number | string>(
  config: ModelConfig,
  name: HookName,
  T: D,
): (number | D)[] {
  const { hook, layer } = parseHookName(name);
  if (layer >= config.nLayers) throw new Error(`hook '${name}': the model has ${config.nLayers} layers`);
  if (!hasHook(config, hook)) {
    const why = hook === 'hook_pos_embed' ? 'no learned positions' : 'the MLP is not gated';
    throw new Error(`hook '${name}': ${why}`);
  }
  if (hook === 'attn.hook_pattern') return [config.nHeads, T, T];
  if (hook === 'attn.hook_q' || hook === 'attn.hook_z') return [T, config.nHeads, config.dHead];
  if (hook === 'attn.hook_k' || hook === 'attn.hook_v') return [T, config.nKvHeads, config.dHead];
  if (hook.startsWith('mlp.hook_p')) return [T, config.dMlp];
  if (hook.endsWith('hook_scale')) return [T, 1];
  return [T, config.dModel];
}
