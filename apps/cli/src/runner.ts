/** What `forward` needs from a model: one run with a set of hooks cached. */
import {
  BLOCK_HOOKS,
  type Checkpoint,
  type F32,
  type HookName,
  Model,
  type ModelConfig,
  type ModelWeights,
  type Runtime,
  referenceForward,
} from '@loupe/core';

export interface ForwardRunner {
  run(tokens: Int32Array, hooks: readonly HookName[]): Promise<{ logits: F32; cache: Map<HookName, F32> }>;
  close(): Promise<void>;
}

/** Every hook point of a model, in TransformerLens cache order. */
export function allHooks(config: ModelConfig): HookName[] {
  const out: HookName[] = ['hook_embed'];
  if (config.positional === 'learned') out.push('hook_pos_embed');
  for (let l = 0; l < config.nLayers; l++) for (const h of BLOCK_HOOKS) out.push(`blocks.${l}.${h}`);
  out.push('ln_final.hook_scale', 'ln_final.hook_normalized');
  return out;
}

export async function compiledRunner(ckpt: Checkpoint, runtime: Runtime): Promise<ForwardRunner> {
  const model = await Model.create(ckpt.config, ckpt.weights, ckpt.tokenizer, runtime);
  return {
    async run(tokens, hooks) {
      const r = await model.run(tokens, { hooks });
      return { logits: r.logits, cache: r.cache };
    },
    close: () => runtime.release(),
  };
}

/** The plain-TypeScript oracle: slow, but independent of the compiled graph (useful to cross-check it). */
export function referenceRunner(config: ModelConfig, weights: ModelWeights): ForwardRunner {
  return {
    async run(tokens) {
      const r = referenceForward(config, weights, tokens);
      return { logits: r.logits, cache: r.hooks };
    },
    close: async () => {},
  };
}
