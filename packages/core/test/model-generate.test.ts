import { describe, expect, it } from 'vitest';
import { initWeights } from '../src/model/init.ts';
import { type AddSpec, Model } from '../src/model/model.ts';
import { nodeRuntime } from '../src/node/runtime.ts';
import { tinyConfig } from './model-configs.ts';

const rt = nodeRuntime();
const prompt = Int32Array.from([2, 7, 1, 8, 2]);

/** Greedy decoding by re-running the whole sequence each step: the no-cache oracle. */
async function greedyRecompute(model: Model, n: number, add?: AddSpec[]) {
  const seq = [...prompt];
  const rows: Float32Array[] = [];
  const V = model.config.dVocab;
  for (let i = 0; i < n; i++) {
    const { logits } = await model.run(Int32Array.from(seq), { add });
    const row = logits.data.slice((seq.length - 1) * V, seq.length * V);
    rows.push(row);
    let best = 0;
    for (let j = 1; j < V; j++) if (row[j] > row[best]) best = j;
    seq.push(best);
  }
  return { tokens: seq.slice(prompt.length), rows };
}

describe.each(['llama', 'gemma2', 'gpt2'] as const)('%s: generation with a KV cache', (arch) => {
  const config = tinyConfig(arch);
  const weights = initWeights(config, { seed: 5, std: 0.3, randomNorms: true });

  it('greedy decoding equals re-running the full sequence, with and without an added vector', async () => {
    const model = await Model.create(config, weights, undefined, rt);
    for (const add of [
      undefined,
      [{ hook: 'blocks.0.hook_resid_post' as const, vector: new Float32Array(config.dModel).fill(0.5) }],
    ]) {
      const n = 6;
      const gen = await model.generate(prompt, { maxNewTokens: n, add });
      const oracle = await greedyRecompute(model, n, add);
      expect([...gen.tokens]).toEqual(oracle.tokens);
      const V = config.dVocab;
      for (let i = 0; i < n; i++) {
        const row = gen.logits.data.subarray(i * V, (i + 1) * V);
        for (let j = 0; j < V; j++) expect(Math.abs(row[j] - oracle.rows[i][j])).toBeLessThan(1e-4);
      }
    }
  });
});

describe('sampling', () => {
  const config = tinyConfig('qwen2');
  const weights = initWeights(config, { seed: 5, std: 0.5 });

  it('is reproducible per seed and varies across seeds; bad options are rejected', async () => {
    const model = await Model.create(config, weights, undefined, rt);
    const a = await model.generate(prompt, { maxNewTokens: 8, temperature: 2, seed: 1 });
    const b = await model.generate(prompt, { maxNewTokens: 8, temperature: 2, seed: 1 });
    expect([...a.tokens]).toEqual([...b.tokens]);
    const others = await Promise.all(
      [2, 3, 4].map((seed) => model.generate(prompt, { maxNewTokens: 8, temperature: 2, seed })),
    );
    expect(others.some((o) => o.tokens.join() !== a.tokens.join())).toBe(true);
    const top1 = await model.generate(prompt, { maxNewTokens: 4, temperature: 1, topK: 1, seed: 9 });
    const greedy = await model.generate(prompt, { maxNewTokens: 4 });
    expect([...top1.tokens]).toEqual([...greedy.tokens]);
    const stopAt = greedy.tokens[1];
    const stopped = await model.generate(prompt, { maxNewTokens: 4, stopTokens: [stopAt] });
    expect(stopped.tokens.length).toBe(greedy.tokens.indexOf(stopAt) + 1);
    await expect(model.generate(prompt, { maxNewTokens: config.nCtx })).rejects.toThrow(/context length/);
    await expect(model.generate(prompt, { maxNewTokens: 0 })).rejects.toThrow(/positive/);
  });
});
