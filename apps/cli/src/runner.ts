/** What `forward` needs from a model: one run with a set of hooks cached. */
import {
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
