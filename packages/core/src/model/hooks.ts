/**
 * Hook points, named and defined exactly as TransformerLens defines them, so that transcoders trained
 * elsewhere (circuit-tracer, SAELens, GemmaScope) read and write the same tensors here.
 *
 *   hook_embed                    token embedding (× embedScale for Gemma)                         [T, dModel]
 *   hook_pos_embed                learned positional embedding (GPT-2 only)                        [T, dModel]
 *   blocks.{l}.hook_resid_pre     residual stream entering block l                                 [T, dModel]
 *   blocks.{l}.ln1.hook_scale     the pre-attention norm's denominator (sqrt(var+eps) / rms)       [T, 1]
 *   blocks.{l}.ln1.hook_normalized  x/scale (centred first for LayerNorm), before weight and bias  [T, dModel]
 *   blocks.{l}.attn.hook_pattern  attention probabilities                                          [H, T, T]
 *   blocks.{l}.hook_attn_out      attention output as added to the residual (Gemma-2: after post-norm) [T, dModel]
 *   blocks.{l}.hook_resid_mid     residual after attention                                         [T, dModel]
 *   blocks.{l}.ln2.hook_scale     the pre-MLP norm's denominator                                   [T, 1]
 *   blocks.{l}.ln2.hook_normalized  x/scale before the norm's weight and bias                      [T, dModel]
 *   blocks.{l}.mlp.hook_in        the MLP's actual input, after the norm's weight (and bias)       [T, dModel]
 *   blocks.{l}.mlp.hook_out       the MLP's output before any post-norm                            [T, dModel]
 *   blocks.{l}.hook_mlp_out       MLP output as added to the residual (Gemma-2: after post-norm)   [T, dModel]
 *   blocks.{l}.hook_resid_post    residual leaving block l                                         [T, dModel]
 *   ln_final.hook_scale           final norm's denominator                                         [T, 1]
 *   ln_final.hook_normalized      final norm output before weight and bias                         [T, dModel]
 */
export type BlockHook =
  | 'hook_resid_pre'
  | 'ln1.hook_scale'
  | 'ln1.hook_normalized'
  | 'attn.hook_pattern'
  | 'hook_attn_out'
  | 'hook_resid_mid'
  | 'ln2.hook_scale'
  | 'ln2.hook_normalized'
  | 'mlp.hook_in'
  | 'mlp.hook_out'
  | 'hook_mlp_out'
  | 'hook_resid_post';

export type GlobalHook = 'hook_embed' | 'hook_pos_embed' | 'ln_final.hook_scale' | 'ln_final.hook_normalized';

export type HookName = GlobalHook | `blocks.${number}.${BlockHook}`;

export const BLOCK_HOOKS: readonly BlockHook[] = [
  'hook_resid_pre',
  'ln1.hook_scale',
  'ln1.hook_normalized',
  'attn.hook_pattern',
  'hook_attn_out',
  'hook_resid_mid',
  'ln2.hook_scale',
  'ln2.hook_normalized',
  'mlp.hook_in',
  'mlp.hook_out',
  'hook_mlp_out',
  'hook_resid_post',
];

export function blockHook(layer: number, hook: BlockHook): HookName {
  return `blocks.${layer}.${hook}`;
}

/** Splits `blocks.3.hook_mlp_out` into { layer: 3, hook: 'hook_mlp_out' }; global hooks have layer -1. */
export function parseHookName(name: string): { layer: number; hook: BlockHook | GlobalHook } {
  const m = /^blocks\.(\d+)\.(.+)$/.exec(name);
  if (m) {
    const hook = m[2] as BlockHook;
    if (!BLOCK_HOOKS.includes(hook)) throw new Error(`unknown hook point '${name}'`);
    return { layer: Number(m[1]), hook };
  }
  if (['hook_embed', 'hook_pos_embed', 'ln_final.hook_scale', 'ln_final.hook_normalized'].includes(name)) {
    return { layer: -1, hook: name as GlobalHook };
  }
  throw new Error(`unknown hook point '${name}'`);
}
