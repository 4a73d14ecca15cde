import { describe, expect, it } from 'vitest';
import { referenceEncode } from '../src/dictionary/reference.ts';
import { type Dictionary, memoryDecoder } from '../src/dictionary/types.ts';
import { Intervener } from '../src/intervention/intervener.ts';
import type { Architecture } from '../src/model/config.ts';
import { blockHook, type HookName } from '../src/model/hooks.ts';
import { type F32, f32 } from '../src/tensor/host.ts';
import { rng } from './fixtures/checkpoints.ts';
import { ARCHS, type DictOptions, setup, TOKENS } from './intervention-fixtures.ts';

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** An active feature of dictionary layer i at position p (the largest). */
function activeFeature(acts: F32, i: number, p: number): { f: number; a: number } {
  const [, T, dTc] = acts.shape;
  let best = 0;
  for (let f = 1; f < dTc; f++)
    if (acts.data[(i * T + p) * dTc + f] > acts.data[(i * T + p) * dTc + best]) best = f;
  const a = acts.data[(i * T + p) * dTc + best];
  expect(a).toBeGreaterThan(0);
  return { f: best, a };
}

const FROZEN = ['attn.hook_pattern', 'ln.hook_scale', 'mlp'] as const;

/**
 * Constrained mode is the attribution's linear frozen model: the change of any hook value h under a delta Δ
 * on feature f at (layer l, pos p) satisfies ⟨c, Δh⟩ = Σ_o ⟨∂⟨c,h⟩/∂out_{l+o}[p], Δ·W_dec[f, o]⟩ for any c.
 */
async function checkAgainstVjp(
  arch: Architecture,
  o: DictOptions,
  layer: number,
  targets: HookName[],
  freeze: readonly ('attn.hook_pattern' | 'ln.hook_scale' | 'mlp')[] = FROZEN,
) {
  const { model, dict, iv } = await setup(arch, o);
  const acts = await iv.activations(TOKENS);
  const p = 3;
  const { f, a } = activeFeature(acts, layer, p);
  const delta = 1.7;
  const clean = await model.run(TOKENS, { hooks: targets });
  const res = await iv.intervene(
    TOKENS,
    { features: [{ layer, pos: p, feature: f, value: a + delta }] },
    {
      mode: 'constrained',
      hooks: targets,
    },
  );
  expect(res.report.applied).toHaveLength(1);
  expect(res.report.applied[0].delta).toBeCloseTo(delta, 5);
  // Each position's union holds both top-k lists, with the same numbers on each side.
  for (const pos of res.report.positions) {
    const ids = new Set([...pos.clean, ...pos.intervened].map((t) => t.id));
    expect(new Set(pos.union.map((t) => t.id))).toEqual(ids);
    for (const t of pos.clean) expect(pos.union.find((u) => u.id === t.id)?.cleanProb).toBe(t.prob);
    for (const t of pos.intervened) expect(pos.union.find((u) => u.id === t.id)?.intervenedProb).toBe(t.prob);
  }
  const r = rng(11);
  const T = TOKENS.length;
  const d = model.config.dModel;
  const nOut = dict.kind === 'clt' ? dict.layers.length - layer : 1;
  const outHooks = Array.from({ length: nOut }, (_, k) => blockHook(layer + k, dict.hooks.output));
  for (const target of targets) {
    const c = f32([1, T, d]);
    for (let i = 0; i < c.data.length; i++) c.data[i] = r() - 0.5;
    const { grads } = await model.vjp({
      tokens: TOKENS,
      seeds: [{ hook: target, cotangent: c }],
      wrt: outHooks,
      freeze,
    });
    const change = Float32Array.from(
      res.hooks[target].data,
      (v, i) => v - (clean.cache.get(target) as F32).data[i],
    );
    let expected = 0;
    const w = dict.layers[layer].wDec as F32;
    outHooks.forEach((h, k) => {
      const gRow = (grads.get(h) as F32).data.subarray(p * d, (p + 1) * d);
      const dec = w.data.subarray((f * nOut + k) * d, (f * nOut + k + 1) * d);
      expected += delta * dot(gRow, dec);
    });
    const actual = dot(c.data, change);
    expect(Math.abs(expected)).toBeGreaterThan(1e-4);
    expect(Math.abs(actual - expected)).toBeLessThan(1e-4 * Math.max(1, Math.abs(expected)));
  }
}

describe('constrained mode = direct effects in the frozen linear model', () => {
  for (const arch of ARCHS) {
    it(`${arch}: PLT change at every later hook equals Δ·W_dec·∂target/∂mlp_out (Model.vjp oracle)`, async () => {
      await checkAgainstVjp(arch, {}, 0, [
        'blocks.1.mlp.hook_in',
        'blocks.1.hook_resid_mid',
        'ln_final.hook_normalized',
      ]);
    });
  }
  it('gemma2: transcoder writing mlp.hook_out, before the (frozen-scale) post-norm', async () => {
    // Model.vjp's 'mlp' freeze detaches hook_mlp_out, which would also cut mlp.hook_out; no MLP lies between
    // layer 0's output and layer 1's input, so the oracle needs only patterns and scales frozen.
    await checkAgainstVjp(
      'gemma2',
      { hooks: { input: 'mlp.hook_in', output: 'mlp.hook_out' } },
      0,
      ['blocks.1.mlp.hook_in'],
      ['attn.hook_pattern', 'ln.hook_scale'],
    );
  });
  it('llama: CLT writes to layers l..L−1', async () => {
    await checkAgainstVjp('llama', { kind: 'clt' }, 0, ['blocks.1.mlp.hook_in', 'ln_final.hook_normalized']);
  });

  it('is exactly linear with a skip transcoder: doubling Δ doubles every change, including later pre-activations', async () => {
    const { dict, iv } = await setup('qwen3', { skip: true });
    const acts = await iv.activations(TOKENS);
    const { f, a } = activeFeature(acts, 0, 2);
    const hooks: HookName[] = ['blocks.1.mlp.hook_in', 'ln_final.hook_normalized'];
    const none = await iv.intervene(TOKENS, {}, { mode: 'constrained', hooks });
    const once = await iv.intervene(
      TOKENS,
      { features: [{ layer: 0, pos: 2, feature: f, value: 2 * a }] },
      { mode: 'constrained', hooks },
    );
    const twice = await iv.intervene(
      TOKENS,
      { features: [{ layer: 0, pos: 2, feature: f, value: 3 * a }] },
      { mode: 'constrained', hooks },
    );
    for (const h of hooks) {
      const d1 = Float32Array.from(once.hooks[h].data, (v, i) => v - none.hooks[h].data[i]);
      const d2 = Float32Array.from(twice.hooks[h].data, (v, i) => v - none.hooks[h].data[i]);
      expect(Math.max(...d1.map(Math.abs))).toBeGreaterThan(1e-3);
      expect(
        maxAbsDiff(
          d2,
          d1.map((x) => 2 * x),
        ),
      ).toBeLessThan(1e-4);
      // Positions before the intervention are untouched (causality).
      expect(maxAbsDiff(d1.subarray(0, 2 * dict.dModel), new Float32Array(2 * dict.dModel))).toBeLessThan(
        1e-6,
      );
    }
    // Later-layer pre-activations move linearly too (plain-TS encoder on the recorded inputs).
    const pre = (r: typeof none) => referenceEncode(dict, 1, r.hooks['blocks.1.mlp.hook_in']).pre.data;
    const p0 = pre(none);
    const e1 = Float32Array.from(pre(once), (v, i) => v - p0[i]);
    const e2 = Float32Array.from(pre(twice), (v, i) => v - p0[i]);
    expect(
      maxAbsDiff(
        e2,
        e1.map((x) => 2 * x),
      ),
    ).toBeLessThan(1e-4);
  });

  it('no interventions: every mode reproduces the clean logits', async () => {
    const { iv } = await setup('gemma2');
    for (const mode of ['constrained', 'frozen-attention', 'free'] as const) {
      const r = await iv.intervene(TOKENS, {}, { mode });
      expect(maxAbsDiff(r.logits.data, r.cleanLogits.data)).toBeLessThan(1e-5);
    }
  });
});

describe('frozen-attention and free modes', () => {
  it('layer-0 intervention equals adding Δ·W_dec at the output hook (with clean patterns when frozen)', async () => {
    const { model, dict, iv } = await setup('llama');
    const acts = await iv.activations(TOKENS);
    const { f, a } = activeFeature(acts, 0, 4);
    const w = dict.layers[0].wDec as F32;
    const d = model.config.dModel;
    const vector = w.data.slice(f * d, (f + 1) * d).map((x) => x * (-2 * a - a));
    const patterns = Array.from({ length: model.config.nLayers }, (_, l) =>
      blockHook(l, 'attn.hook_pattern'),
    );
    const clean = await model.run(TOKENS, { hooks: patterns });
    const add = [{ hook: blockHook(0, 'hook_mlp_out'), pos: 4, vector }];
    const free = await iv.intervene(
      TOKENS,
      { features: [{ layer: 0, pos: 4, feature: f, value: -2 * a }] },
      { mode: 'free' },
    );
    const expectFree = await model.run(TOKENS, { add });
    expect(maxAbsDiff(free.logits.data, expectFree.logits.data)).toBeLessThan(1e-4);
    const frozen = await iv.intervene(
      TOKENS,
      { features: [{ layer: 0, pos: 4, feature: f, value: -2 * a }] },
      { mode: 'frozen-attention' },
    );
    const freeze = patterns.map((h) => ({ hook: h, value: clean.cache.get(h) as F32 }));
    const expectFrozen = await model.run(TOKENS, { add, freeze });
    expect(maxAbsDiff(frozen.logits.data, expectFrozen.logits.data)).toBeLessThan(1e-4);
    expect(maxAbsDiff(free.logits.data, frozen.logits.data)).toBeGreaterThan(1e-4);
  });

  it('recomputes later activations on the perturbed residual: Δ = v − a_current', async () => {
    const { dict, iv } = await setup('qwen2', { act: { kind: 'relu' } });
    const acts = await iv.activations(TOKENS);
    const { f: f0, a: a0 } = activeFeature(acts, 0, 2);
    const { f: f1 } = activeFeature(acts, 1, 5);
    const spec = {
      features: [
        { layer: 0, pos: 2, feature: f0, value: 4 * a0 },
        { layer: 1, pos: 5, feature: f1, value: 0.5 },
      ],
    };
    for (const mode of ['free', 'frozen-attention'] as const) {
      const r = await iv.intervene(TOKENS, spec, { mode, hooks: ['blocks.1.mlp.hook_in'] });
      const current = referenceEncode(dict, 1, r.hooks['blocks.1.mlp.hook_in']).acts.data[5 * dict.dTc + f1];
      const applied = r.report.applied.find((x) => x.layer === 1) as (typeof r.report.applied)[number];
      expect(applied.current).toBeCloseTo(current, 4);
      expect(applied.current).not.toBeCloseTo(applied.clean, 4);
      expect(applied.delta).toBeCloseTo(0.5 - current, 4);
    }
    const c = await iv.intervene(TOKENS, spec, { mode: 'constrained' });
    const applied = c.report.applied.find((x) => x.layer === 1) as (typeof c.report.applied)[number];
    expect(applied.current).toBe(applied.clean);
  });

  it('setting a layer-0 feature to its own value changes nothing', async () => {
    const { iv } = await setup('gpt2', { act: { kind: 'topk', k: 4, rectify: false } });
    const acts = await iv.activations(TOKENS);
    const { f, a } = activeFeature(acts, 0, 1);
    const r = await iv.intervene(
      TOKENS,
      { features: [{ layer: 0, pos: 1, feature: f, value: a }] },
      { mode: 'free' },
    );
    expect(r.report.applied[0].delta).toBeCloseTo(0, 5);
    expect(maxAbsDiff(r.logits.data, r.cleanLogits.data)).toBeLessThan(1e-5);
  });
});

describe('SAE interventions', () => {
  it('an SAE feature edit is Δ·W_dec added at its own hook (free), and linear in the frozen model (constrained)', async () => {
    const { model, dict: plt } = await setup('qwen3');
    const hook = blockHook(1, 'hook_resid_mid');
    const layers = [{ ...plt.layers[1], layer: 1 }];
    const sae: Dictionary = {
      ...plt,
      kind: 'sae',
      layers,
      hooks: { input: 'hook_resid_mid', output: 'hook_resid_mid' },
      decoder: memoryDecoder(layers),
    };
    const iv = Intervener.create(model, sae);
    const acts = await iv.activations(TOKENS);
    const { f, a } = activeFeature(acts, 0, 3);
    const d = model.config.dModel;
    const w = layers[0].wDec as F32;
    const spec = { features: [{ layer: 1, pos: 3, feature: f, value: 0 }] };
    const free = await iv.intervene(TOKENS, spec, { mode: 'free' });
    const vector = w.data.slice(f * d, (f + 1) * d).map((x) => -a * x);
    const expected = await model.run(TOKENS, { add: [{ hook, pos: 3, vector }] });
    expect(maxAbsDiff(free.logits.data, expected.logits.data)).toBeLessThan(1e-4);

    const target = 'ln_final.hook_normalized' as const;
    const base = await iv.intervene(TOKENS, {}, { mode: 'constrained', hooks: [target] });
    const res = await iv.intervene(TOKENS, spec, { mode: 'constrained', hooks: [target] });
    const c = f32([1, TOKENS.length, d]);
    const r = rng(5);
    for (let i = 0; i < c.data.length; i++) c.data[i] = r() - 0.5;
    const { grads } = await model.vjp({
      tokens: TOKENS,
      seeds: [{ hook: target, cotangent: c }],
      wrt: [hook],
      freeze: FROZEN,
    });
    const g = (grads.get(hook) as F32).data.subarray(3 * d, 4 * d);
    const change = Float32Array.from(res.hooks[target].data, (v, i) => v - base.hooks[target].data[i]);
    expect(Math.abs(dot(c.data, change) - dot(g, vector))).toBeLessThan(
      1e-4 * Math.max(1, Math.abs(dot(g, vector))),
    );
  });
});
