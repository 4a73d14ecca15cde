import { describe, expect, it } from 'vitest';
import type { HookName } from '../src/model/hooks.ts';
import { initWeights } from '../src/model/init.ts';
import { buildTransformer, constantWeights } from '../src/model/transformer.ts';
import { nodeRuntime } from '../src/node/runtime.ts';
import { GraphBuilder } from '../src/tensor/graph.ts';
import { f32, i32 } from '../src/tensor/host.ts';
import { tinyConfig } from './model-configs.ts';

const rt = nodeRuntime();

describe('buildTransformer composed by hand', () => {
  it('the MLP skip trick keeps the forward value and sends the gradient through the skip path only', async () => {
    const config = tinyConfig('llama');
    const d = config.dModel;
    const weights = initWeights(config, { seed: 2, std: 0.3 });
    const skipW = f32(
      [d, d],
      Array.from({ length: d * d }, (_, i) => Math.sin(i)),
    );
    const build = (linearise: boolean) => {
      const g = new GraphBuilder();
      const tokens = g.input('tokens', 'int32', ['B', 'T']);
      const seed = g.input('seed', 'float32', ['B', 'T', d]);
      const out = buildTransformer(g, config, constantWeights(g, weights), tokens, {
        detach: linearise ? ['mlp'] : [],
        mlpSkip: (_l, x) => g.matmul(x, g.constant(skipW)),
      });
      const hookIn = out.hooks.get('blocks.0.mlp.hook_in' as HookName);
      const hookOut = out.hooks.get('blocks.0.hook_mlp_out' as HookName);
      if (!hookIn || !hookOut) throw new Error('hooks missing');
      const [dIn] = g.grad([hookOut], [seed], [hookIn]);
      return g.compile({ logits: out.logits, dIn });
    };
    const T = 5;
    const feeds = {
      tokens: i32([1, T], [1, 2, 3, 4, 5]),
      seed: f32(
        [1, T, d],
        Array.from({ length: T * d }, (_, i) => Math.cos(i)),
      ),
    };
    const plain = await (await rt.load(build(false))).run(feeds);
    const lin = await (await rt.load(build(true))).run(feeds);
    for (let i = 0; i < plain.logits.data.length; i++)
      expect(lin.logits.data[i]).toBeCloseTo(plain.logits.data[i] as number, 5);
    // d<seed, x·W>/dx = seed · Wᵀ
    for (let t = 0; t < T; t++) {
      for (let i = 0; i < d; i++) {
        let want = 0;
        for (let j = 0; j < d; j++) want += (feeds.seed.data[t * d + j] as number) * skipW.data[i * d + j];
        expect(lin.dIn.data[t * d + i]).toBeCloseTo(want, 4);
      }
    }
    let differs = 0;
    for (let i = 0; i < lin.dIn.data.length; i++)
      differs = Math.max(differs, Math.abs((lin.dIn.data[i] as number) - (plain.dIn.data[i] as number)));
    expect(differs).toBeGreaterThan(1e-3);
  });

  it('Runtime.graph compiles once per key', async () => {
    let builds = 0;
    const build = () => {
      builds++;
      const g = new GraphBuilder();
      return g.compile({ y: g.exp(g.input('x', 'float32', [2])) });
    };
    const a = await rt.graph('builder-test-key', build);
    const b = await rt.graph('builder-test-key', build);
    expect(a).toBe(b);
    expect(builds).toBe(1);
  });
});
