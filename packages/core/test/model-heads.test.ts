import { describe, expect, it } from 'vitest';
import { blockHook, HEAD_HOOKS, type HookName, hookDims } from '../src/model/hooks.ts';
import { initWeights } from '../src/model/init.ts';
import { type FreezeSpec, Model } from '../src/model/model.ts';
import { referenceForward } from '../src/model/reference.ts';
import { nodeRuntime } from '../src/node/runtime.ts';
import { f32, type F32 } from '../src/tensor/host.ts';
import { ARCHITECTURES, tinyConfig } from './model-configs.ts';

// Per-head and MLP-internal hooks used for patching and ablation, checked against the plain-TS reference
// forward with the same edit written the obvious way (a loop over the head's slice).

const rt = nodeRuntime();

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Copies head `h` of `from` into `into`, both row-major with the head on `axis` of `shape`. */
function setHead(
  into: Float64Array | Float32Array,
  from: ArrayLike<number>,
  shape: number[],
  axis: number,
  h: number,
) {
  const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const n = shape[axis];
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < inner; i++) {
      const k = (o * n + h) * inner + i;
      into[k] = from[k];
    }
}

const headAxis = (hook: HookName) => (hook.endsWith('hook_pattern') ? 0 : 1);

describe.each(ARCHITECTURES)('%s: per-head and MLP-internal hooks', (arch) => {
  const config = tinyConfig(arch);
  const weights = initWeights(config, { seed: 11, std: 0.3, randomNorms: true });
  const a = Int32Array.from([1, 5, 9, 3, 3, 17, 39]);
  const b = Int32Array.from([2, 8, 30, 12, 7, 4, 21]);
  const T = a.length;
  const L = 1;

  it('patching one head with another prompt matches the reference forward with that head replaced', async () => {
    const model = await Model.create(config, weights, undefined, rt);
    for (const hook of [...HEAD_HOOKS, 'attn.hook_pattern'] as const) {
      const name = blockHook(L, hook);
      const shape = hookDims(config, name, T);
      const donor = (await model.run(b, { hooks: [name] })).cache.get(name) as F32;
      const head = shape[headAxis(name)] - 1;
      const patched = await model.run(a, {
        hooks: [name, blockHook(L, 'hook_attn_out')],
        freeze: [{ hook: name, value: donor, heads: [head] }],
      });
      const ref = referenceForward(config, weights, a, {
        hook: (n, v) => {
          if (n === name) setHead(v, donor.data, shape, headAxis(name), head);
        },
      });
      const clean = referenceForward(config, weights, a);
      expect(maxDiff(patched.logits.data, ref.logits.data), name).toBeLessThan(1e-4);
      // The patch took effect (the logits moved) and left the other heads as they were.
      expect(maxDiff(ref.logits.data, clean.logits.data), name).toBeGreaterThan(1e-3);
      const got = patched.cache.get(name) as F32;
      expect(maxDiff(got.data, ref.hooks.get(name)?.data ?? []), name).toBeLessThan(1e-4);
      const attnOut = blockHook(L, 'hook_attn_out');
      expect(
        maxDiff(patched.cache.get(attnOut)?.data ?? [], ref.hooks.get(attnOut)?.data ?? []),
      ).toBeLessThan(1e-4);
    }
  });

  it('zero-ablating a head (hook_z) or a query head (hook_pattern) matches the reference', async () => {
    const model = await Model.create(config, weights, undefined, rt);
    for (const [hook, head] of [
      ['attn.hook_z', 0],
      ['attn.hook_pattern', 2],
    ] as const) {
      const name = blockHook(0, hook);
      const shape = hookDims(config, name, T);
      const zeros = f32(shape);
      const ablated = await model.run(a, { freeze: [{ hook: name, value: zeros, heads: [head] }] });
      const ref = referenceForward(config, weights, a, {
        hook: (n, v) => {
          if (n === name) setHead(v, zeros.data, shape, headAxis(name), head);
        },
      });
      expect(maxDiff(ablated.logits.data, ref.logits.data), name).toBeLessThan(1e-4);
    }
  });

  it('a batch patches each sequence with its own donor at several heads', async () => {
    const model = await Model.create(config, weights, undefined, rt);
    const name = blockHook(L, 'attn.hook_z');
    const shape = hookDims(config, name, T);
    const donorA = (await model.run(b, { hooks: [name] })).cache.get(name) as F32;
    const donorB = (await model.run(a, { hooks: [name] })).cache.get(name) as F32;
    const value = f32([2, ...shape], Float32Array.from([...donorA.data, ...donorB.data]));
    const freeze: FreezeSpec[] = [{ hook: name, value, heads: [0, 3] }];
    const batch = await model.run([a, b], { freeze });
    for (const [i, seq, donor] of [
      [0, a, donorA],
      [1, b, donorB],
    ] as const) {
      const ref = referenceForward(config, weights, seq, {
        hook: (n, v) => {
          if (n !== name) return;
          setHead(v, donor.data, shape, 1, 0);
          setHead(v, donor.data, shape, 1, 3);
        },
      });
      const n = ref.logits.data.length;
      expect(maxDiff(batch.logits.data.subarray(i * n, (i + 1) * n), ref.logits.data)).toBeLessThan(1e-4);
    }
  });

  it('MLP neurons: freezing hook_post and adding at hook_pre match the reference', async () => {
    const model = await Model.create(config, weights, undefined, rt);
    const post = blockHook(0, 'mlp.hook_post');
    const pre = blockHook(L, 'mlp.hook_pre');
    const cleanPost = (await model.run(a, { hooks: [post] })).cache.get(post) as F32;
    const ablatedPost = Float32Array.from(cleanPost.data);
    for (let t = 0; t < T; t++) ablatedPost[t * config.dMlp + 5] = 0; // neuron 5 off everywhere
    const vector = Float32Array.from({ length: config.dMlp }, (_, i) => (i % 3) - 1);
    const ours = await model.run(a, {
      hooks: [pre],
      freeze: [{ hook: post, value: f32([T, config.dMlp], ablatedPost) }],
      add: [{ hook: pre, pos: 4, vector }],
    });
    const ref = referenceForward(config, weights, a, {
      hook: (n, v) => {
        if (n === post) v.set(ablatedPost);
        if (n === pre) for (let i = 0; i < config.dMlp; i++) v[4 * config.dMlp + i] += vector[i];
      },
    });
    expect(maxDiff(ours.logits.data, ref.logits.data)).toBeLessThan(1e-4);
    expect(maxDiff(ours.cache.get(pre)?.data ?? [], ref.hooks.get(pre)?.data ?? [])).toBeLessThan(1e-4);
  });

  it('generation with a patched head starts from the patched run', async () => {
    const model = await Model.create(config, weights, undefined, rt);
    const name = blockHook(L, 'attn.hook_v');
    const donor = (await model.run(b, { hooks: [name] })).cache.get(name) as F32;
    const freeze: FreezeSpec[] = [{ hook: name, value: donor, heads: [config.nKvHeads - 1] }];
    const gen = await model.generate(a, { maxNewTokens: 2, freeze });
    const run = await model.run(a, { freeze });
    const V = config.dVocab;
    expect(maxDiff(gen.logits.data.subarray(0, V), run.logits.data.subarray((T - 1) * V))).toBeLessThan(1e-4);
  });

  it('bad head selections are clear errors', async () => {
    const model = await Model.create(config, weights, undefined, rt);
    const z = blockHook(0, 'attn.hook_z');
    const value = f32(hookDims(config, z, T));
    await expect(model.run(a, { freeze: [{ hook: z, value, heads: [config.nHeads] }] })).rejects.toThrow(
      /head 4 outside \[0, 4\)/,
    );
    await expect(model.run(a, { freeze: [{ hook: z, value, heads: [] }] })).rejects.toThrow(/heads is empty/);
    const resid = blockHook(0, 'hook_resid_mid');
    await expect(
      model.run(a, { freeze: [{ hook: resid, value: f32([T, config.dModel]), heads: [0] }] }),
    ).rejects.toThrow(/per-head hooks/);
    await expect(model.run(a, { freeze: [{ hook: z, value: f32([T, config.dModel]) }] })).rejects.toThrow(
      /is not \[/,
    );
  });
});
