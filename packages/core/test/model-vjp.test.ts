import { describe, expect, it } from 'vitest';
import type { HookName } from '../src/model/hooks.ts';
import { initWeights } from '../src/model/init.ts';
import { type AddSpec, type FreezeSpec, Model } from '../src/model/model.ts';
import type { FreezeKind } from '../src/model/replacement.ts';
import { nodeRuntime } from '../src/node/runtime.ts';
import { f32 } from '../src/tensor/host.ts';
import { tinyConfig } from './model-configs.ts';

const rt = nodeRuntime();
const tokens = Int32Array.from([3, 1, 4, 1, 5, 9, 2]);
const T = tokens.length;

function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 2 - 1;
  });
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** Adds direction v ([T, d]) scaled by eps at `hook`, one AddSpec per position. */
function perturb(hook: HookName, v: Float32Array, d: number, eps: number): AddSpec[] {
  return Array.from({ length: T }, (_, p) => ({
    hook,
    pos: p,
    vector: v.subarray(p * d, (p + 1) * d).map((x) => x * eps),
  }));
}

const seedHooks: HookName[] = ['blocks.1.mlp.hook_in', 'ln_final.hook_normalized'];
const wrtHooks: HookName[] = ['hook_embed', 'blocks.0.hook_mlp_out', 'blocks.1.hook_attn_out'];

async function checkVjp(arch: 'llama' | 'gpt2' | 'qwen3', freeze: FreezeKind[]) {
  const config = tinyConfig(arch);
  const d = config.dModel;
  const model = await Model.create(
    config,
    initWeights(config, { seed: 3, std: 0.3, randomNorms: true }),
    undefined,
    rt,
  );
  const B = 2;
  // Different seeds per batch element, at two hooks, as attribution injects them.
  const seeds = seedHooks.map((hook, i) => ({ hook, cotangent: f32([B, T, d], rand(B * T * d, 100 + i)) }));
  const vjp = await model.vjp({ tokens, batch: B, seeds, wrt: wrtHooks, freeze });

  // Frozen quantities are pinned at their clean values in the finite-difference runs.
  const clean = await model.run(tokens, {
    hooks: [0, 1].flatMap((l) => [
      `blocks.${l}.attn.hook_pattern`,
      `blocks.${l}.ln1.hook_scale`,
      `blocks.${l}.ln2.hook_scale`,
      `blocks.${l}.hook_mlp_out`,
    ]) as HookName[],
  });
  const pinned: FreezeSpec[] = [];
  for (const [h, value] of clean.cache) {
    const kind = h.endsWith('hook_pattern')
      ? 'attn.hook_pattern'
      : h.endsWith('hook_scale')
        ? 'ln.hook_scale'
        : 'mlp';
    if (freeze.includes(kind)) pinned.push({ hook: h, value });
  }
  if (freeze.includes('ln.hook_scale')) {
    const fin = await model.run(tokens, { hooks: ['ln_final.hook_scale'] });
    pinned.push({
      hook: 'ln_final.hook_scale',
      value: fin.cache.get('ln_final.hook_scale') as ReturnType<typeof f32>,
    });
  }

  const objective = async (add: AddSpec[], b: number) => {
    // A perturbation at a frozen MLP output must still pass: freezing replaces the value, adding comes after.
    const r = await model.run(tokens, { hooks: seedHooks, add, freeze: pinned });
    return seeds.reduce((s, seed, i) => {
      const v = r.cache.get(seedHooks[i]) as ReturnType<typeof f32>;
      return s + dot(seed.cotangent.data.subarray(b * T * d, (b + 1) * T * d), v.data);
    }, 0);
  };
  const eps = 3e-3; // the random test models are strongly curved: truncation error at 1e-2 is ~1%
  for (const [k, hook] of wrtHooks.entries()) {
    const g = vjp.grads.get(hook);
    expect(g?.shape).toEqual([B, T, d]);
    const v = rand(T * d, 7 + k);
    for (let b = 0; b < B; b++) {
      const analytic = dot(g?.data.subarray(b * T * d, (b + 1) * T * d) ?? [], v);
      const fd =
        ((await objective(perturb(hook, v, d, eps), b)) - (await objective(perturb(hook, v, d, -eps), b))) /
        (2 * eps);
      expect(Math.abs(analytic - fd), `${hook} batch ${b}: ${analytic} vs ${fd}`).toBeLessThan(
        3e-3 * (1 + Math.abs(fd)),
      );
    }
  }
  return vjp;
}

describe('Model.vjp agrees with central finite differences', () => {
  it('full nonlinear model (llama: RoPE, GQA, SwiGLU)', async () => {
    await checkVjp('llama', []);
  });
  it('full nonlinear model (gpt2: LayerNorm, learned positions)', async () => {
    await checkVjp('gpt2', []);
  });
  it('frozen model: patterns, norm scales and MLP outputs detached (gpt2, qwen3)', async () => {
    const all: FreezeKind[] = ['attn.hook_pattern', 'ln.hook_scale', 'mlp'];
    await checkVjp('gpt2', all);
    await checkVjp('qwen3', all);
  });
  it('freezing changes the gradient, and a frozen-out path gives zeros', async () => {
    const config = tinyConfig('llama');
    const model = await Model.create(config, initWeights(config, { seed: 3, std: 0.3 }), undefined, rt);
    const seeds = [
      { hook: 'blocks.1.hook_resid_post' as HookName, batch: 0, pos: T - 1, vector: rand(config.dModel, 5) },
    ];
    const full = await model.vjp({
      tokens,
      seeds,
      wrt: ['blocks.0.hook_resid_pre', 'blocks.1.ln2.hook_scale'],
    });
    const frozen = await model.vjp({
      tokens,
      seeds,
      wrt: ['blocks.0.hook_resid_pre', 'blocks.1.ln2.hook_scale'],
      freeze: ['attn.hook_pattern', 'ln.hook_scale', 'mlp'],
    });
    const a = full.grads.get('blocks.0.hook_resid_pre')?.data ?? [];
    const b = frozen.grads.get('blocks.0.hook_resid_pre')?.data ?? [];
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i] - b[i]));
    expect(diff).toBeGreaterThan(1e-3);
    expect([...(frozen.grads.get('blocks.1.ln2.hook_scale')?.data ?? [1])].every((x) => x === 0)).toBe(true);
    expect([...(full.grads.get('blocks.1.ln2.hook_scale')?.data ?? [0])].some((x) => x !== 0)).toBe(true);
  });
});

describe('pinned linearised VJPs', () => {
  it('equal the frozen VJP and no longer depend on the tokens (no forward pass needed)', async () => {
    const config = tinyConfig('gpt2');
    const model = await Model.create(
      config,
      initWeights(config, { seed: 4, std: 0.3, randomNorms: true }),
      undefined,
      rt,
    );
    const pinHooks = [0, 1].flatMap((l) => [
      `blocks.${l}.attn.hook_pattern`,
      `blocks.${l}.ln1.hook_scale`,
      `blocks.${l}.ln2.hook_scale`,
    ]) as HookName[];
    pinHooks.push('ln_final.hook_scale');
    const clean = await model.run(tokens, { hooks: pinHooks });
    const pinned = pinHooks.map((hook) => ({ hook, value: clean.cache.get(hook) as ReturnType<typeof f32> }));
    const freeze: FreezeKind[] = ['attn.hook_pattern', 'ln.hook_scale', 'mlp'];
    const B = 3;
    const seeds = [
      {
        hook: 'ln_final.hook_normalized' as HookName,
        cotangent: f32([B, T, config.dModel], rand(B * T * config.dModel, 1)),
      },
    ];
    const wrt: HookName[] = ['hook_embed', 'blocks.0.hook_mlp_out'];
    const ref = await model.vjp({ tokens, batch: B, seeds, wrt, freeze });
    const fast = await model.vjp({ tokens, batch: B, seeds, wrt, freeze, pinned });
    const fuzzed = await model.vjp({
      tokens: tokens.map((t) => (t * 5 + 3) % config.dVocab),
      batch: B,
      seeds,
      wrt,
      freeze,
      pinned,
    });
    expect(fast.logits).toBeUndefined();
    for (const h of wrt) {
      const a = ref.grads.get(h)?.data ?? [];
      for (const other of [fast, fuzzed]) {
        const b = other.grads.get(h)?.data ?? [];
        expect(b.length).toBe(a.length);
        for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThan(1e-5);
      }
    }
  });
});

describe('interventions and bad input', () => {
  const config = tinyConfig('qwen2');
  const weights = initWeights(config, { seed: 11, std: 0.3 });

  it('add at one position changes that row downstream and nothing before it', async () => {
    const model = await Model.create(config, weights, undefined, rt);
    const clean = await model.run(tokens, { hooks: ['blocks.1.hook_resid_pre'] });
    const vec = rand(config.dModel, 9);
    const hit = await model.run(tokens, {
      hooks: ['blocks.1.hook_resid_pre'],
      add: [{ hook: 'blocks.0.hook_resid_post', pos: 4, vector: vec }],
    });
    const c = clean.cache.get('blocks.1.hook_resid_pre')?.data ?? new Float32Array();
    const h = hit.cache.get('blocks.1.hook_resid_pre')?.data ?? new Float32Array();
    const d = config.dModel;
    for (let p = 0; p < T; p++) {
      for (let i = 0; i < d; i++) {
        expect(h[p * d + i]).toBeCloseTo(c[p * d + i] + (p === 4 ? vec[i] : 0), 5);
      }
    }
    const V = config.dVocab;
    for (let i = 0; i < 4 * V; i++) expect(hit.logits.data[i]).toBeCloseTo(clean.logits.data[i], 5);
    expect(Math.abs(hit.logits.data[5 * V] - clean.logits.data[5 * V])).toBeGreaterThan(1e-6);
  });

  it('freezing a hook at its clean value is a no-op; freezing attention output to zero skips attention', async () => {
    const model = await Model.create(config, weights, undefined, rt);
    const clean = await model.run(tokens, {
      hooks: ['blocks.0.attn.hook_pattern', 'blocks.0.hook_resid_pre'],
    });
    const same = await model.run(tokens, {
      freeze: [
        {
          hook: 'blocks.0.attn.hook_pattern',
          value: clean.cache.get('blocks.0.attn.hook_pattern') as ReturnType<typeof f32>,
        },
      ],
    });
    for (let i = 0; i < same.logits.data.length; i++)
      expect(same.logits.data[i]).toBeCloseTo(clean.logits.data[i], 5);
    const zeroed = await model.run(tokens, {
      hooks: ['blocks.0.hook_resid_mid'],
      freeze: [{ hook: 'blocks.0.hook_attn_out', value: f32([T, config.dModel]) }],
    });
    expect([...(zeroed.cache.get('blocks.0.hook_resid_mid')?.data ?? [])]).toEqual([
      ...(clean.cache.get('blocks.0.hook_resid_pre')?.data ?? []),
    ]);
  });

  it('rejects bad tokens, hooks, shapes and positions with clear errors', async () => {
    const model = await Model.create(config, weights, undefined, rt);
    await expect(model.run(new Int32Array(0))).rejects.toThrow(/empty/);
    await expect(model.run(Int32Array.from([1, 99]))).rejects.toThrow(/outside/);
    await expect(model.run(new Int32Array(config.nCtx + 1))).rejects.toThrow(/context length/);
    await expect(model.run(tokens, { hooks: ['blocks.7.hook_resid_pre'] })).rejects.toThrow(/layers/);
    await expect(model.run(tokens, { hooks: ['blocks.0.nope' as HookName] })).rejects.toThrow(/unknown hook/);
    await expect(
      model.run(tokens, { add: [{ hook: 'hook_embed', pos: T, vector: new Float32Array(config.dModel) }] }),
    ).rejects.toThrow(/position/);
    await expect(
      model.run(tokens, { add: [{ hook: 'hook_embed', vector: new Float32Array(3) }] }),
    ).rejects.toThrow(/values/);
    await expect(model.run(tokens, { freeze: [{ hook: 'hook_embed', value: f32([2, 2]) }] })).rejects.toThrow(
      /shape/,
    );
    await expect(model.run([tokens, tokens.subarray(1)])).rejects.toThrow(/length/);
    const huge = Array.from({ length: 2 ** 31 / (4 * config.dVocab * 4) + 1 }, () => tokens.subarray(0, 4));
    await expect(model.run(huge)).rejects.toThrow(/GiB of logits/);
  });
});
