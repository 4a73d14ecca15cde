import { argmax, type Model } from '@loupe/core';
import type { Generate } from './eval/score.ts';

/**
 * Greedy decoding on a compiled Model: one forward pass per new token over the whole sequence (contexts are
 * at most 64 tokens, so re-running the prefix costs less than managing a cache). Stops at any `stopIds`.
 */
export function greedyGenerate(model: Model, stopIds: readonly number[]): Generate {
  const V = model.config.dVocab;
  return async (promptIds, maxNewTokens) => {
    if (promptIds.length === 0) throw new Error('greedyGenerate: empty prompt');
    const seq = [...promptIds];
    const out: number[] = [];
    const budget = Math.min(maxNewTokens, model.config.nCtx - seq.length);
    for (let i = 0; i < budget; i++) {
      const { logits } = await model.run(Int32Array.from(seq));
      const next = argmax(logits.data.subarray((seq.length - 1) * V, seq.length * V));
      out.push(next);
      if (stopIds.includes(next)) break;
      seq.push(next);
    }
    return out;
  };
}
