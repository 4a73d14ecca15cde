import type { Model } from '@loupe/core';
import type { Generate } from './eval/score.ts';

function argmaxRow(logits: Float32Array, row: number, V: number): number {
  let best = 0;
  const off = row * V;
  for (let v = 1; v < V; v++) if (logits[off + v] > logits[off + best]) best = v;
  return best;
}

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
      const next = argmaxRow(logits.data, seq.length - 1, V);
      out.push(next);
      if (stopIds.includes(next)) break;
      seq.push(next);
    }
    return out;
  };
}
