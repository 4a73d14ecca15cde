import { describe, expect, it } from 'vitest';
import { modelHooks } from '../src/model/hooks.ts';
import { initWeights } from '../src/model/init.ts';
import { Model } from '../src/model/model.ts';
import { referenceForward } from '../src/model/reference.ts';
import { nodeRuntime } from '../src/node/runtime.ts';
import { ARCHITECTURES, tinyConfig } from './model-configs.ts';

const rt = nodeRuntime();

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe.each(ARCHITECTURES)('%s: compiled model matches the plain-TS reference', (arch) => {
  const config = tinyConfig(arch);
  const weights = initWeights(config, { seed: 7, std: 0.3, randomNorms: true });
  const tokens = Int32Array.from([1, 5, 9, 3, 3, 17, 39, 0, 22]);

  it('logits and every hook within 1e-4', async () => {
    const model = await Model.create(config, weights, undefined, rt);
    // Every hook point, the per-head (attn.hook_q/k/v/z/pattern) and MLP-internal ones included.
    const hooks = modelHooks(config);
    const ours = await model.run(tokens, { hooks });
    const ref = referenceForward(config, weights, tokens);
    expect(ours.logits.shape).toEqual([tokens.length, config.dVocab]);
    expect(maxDiff(ours.logits.data, ref.logits.data)).toBeLessThan(1e-4);
    for (const h of hooks) {
      const r = ref.hooks.get(h);
      if (!r) throw new Error(`reference lacks ${h}`);
      const o = ours.cache.get(h);
      expect(o?.shape, h).toEqual(r.shape);
      expect(maxDiff(o?.data ?? [], r.data), h).toBeLessThan(1e-4);
    }
  });

  it('a batch gives the same rows as single sequences', async () => {
    const model = await Model.create(config, weights, undefined, rt);
    const other = Int32Array.from([4, 4, 8, 15, 16, 23, 42 % config.dVocab, 2, 1]);
    const batch = await model.run([tokens, other], { hooks: ['blocks.1.attn.hook_pattern'] });
    const single = await model.run(other, { hooks: ['blocks.1.attn.hook_pattern'] });
    expect(batch.logits.shape).toEqual([2, tokens.length, config.dVocab]);
    const n = single.logits.data.length;
    expect(maxDiff(batch.logits.data.subarray(n), single.logits.data)).toBeLessThan(1e-5);
    const p = batch.cache.get('blocks.1.attn.hook_pattern');
    const ps = single.cache.get('blocks.1.attn.hook_pattern');
    expect(maxDiff(p?.data.subarray(ps?.data.length) ?? [], ps?.data ?? [1])).toBeLessThan(1e-6);
  });
});
