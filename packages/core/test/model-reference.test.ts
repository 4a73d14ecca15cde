import { describe, expect, it } from 'vitest';
import { parseHfConfig } from '../src/io/config.ts';
import type { ModelConfig } from '../src/model/config.ts';
import { type BlockHook, blockHook, modelHooks } from '../src/model/hooks.ts';
import { activate, referenceForward, ropeInvFreq } from '../src/model/reference.ts';
import type { ModelWeights } from '../src/model/weights.ts';
import { f32 } from '../src/tensor/host.ts';
import { makeRandomCheckpoint } from './fixtures/checkpoints.ts';

const TOKENS = [1, 5, 9, 17, 4, 30, 11];

function close(a: ArrayLike<number>, b: ArrayLike<number>, tol: number): void {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  expect(m).toBeLessThanOrEqual(tol);
}

describe('reference forward: structure and invariants', () => {
  for (const arch of ['gpt2', 'llama', 'gemma2', 'qwen2', 'qwen3'] as const) {
    it(`${arch}: every hook, shapes, softmax rows, residual sums`, () => {
      const { config, weights } = makeRandomCheckpoint(arch, {}, 3);
      const T = TOKENS.length;
      const { logits, hooks } = referenceForward(config, weights, TOKENS);
      expect(logits.shape).toEqual([T, config.dVocab]);
      expect(logits.data.every(Number.isFinite)).toBe(true);
      const expected: string[] = modelHooks(config);
      if (arch === 'gpt2') expect(expected).toContain('hook_pos_embed');
      expect(expected.some((h) => h.endsWith('mlp.hook_pre_linear'))).toBe(config.gatedMlp);
      expect([...hooks.keys()].sort()).toEqual(expected.sort());
      for (let l = 0; l < config.nLayers; l++) {
        const get = (h: BlockHook) => hooks.get(blockHook(l, h))!;
        const pat = get('attn.hook_pattern');
        expect(pat.shape).toEqual([config.nHeads, T, T]);
        for (let h = 0; h < config.nHeads; h++) {
          for (let i = 0; i < T; i++) {
            let s = 0;
            for (let j = 0; j < T; j++) {
              const p = pat.data[h * T * T + i * T + j];
              if (j > i) expect(p).toBe(0);
              s += p;
            }
            expect(s).toBeCloseTo(1, 6);
          }
        }
        expect(get('ln1.hook_scale').shape).toEqual([T, 1]);
        const pre = get('hook_resid_pre').data;
        const mid = get('hook_resid_mid').data;
        const post = get('hook_resid_post').data;
        const attnOut = get('hook_attn_out').data;
        const mlpOut = get('hook_mlp_out').data;
        close(
          mid,
          pre.map((v, i) => v + attnOut[i]),
          1e-5,
        );
        close(
          post,
          mid.map((v, i) => v + mlpOut[i]),
          1e-5,
        );
        if (l + 1 < config.nLayers) close(hooks.get(blockHook(l + 1, 'hook_resid_pre'))!.data, post, 0);
        // normalized * scale recovers the (centred, for LayerNorm) input.
        const norm = get('ln2.hook_normalized').data;
        const scale = get('ln2.hook_scale').data;
        const d = config.dModel;
        for (let t = 0; t < T; t++) {
          let mean = 0;
          if (config.norm === 'layernorm') for (let i = 0; i < d; i++) mean += mid[t * d + i] / d;
          for (let i = 0; i < d; i++)
            expect(norm[t * d + i] * scale[t]).toBeCloseTo(mid[t * d + i] - mean, 4);
        }
        // mlp.hook_in is the normalised input times the norm weight (plus bias).
        const L = weights.layers[l];
        const mlpIn = get('mlp.hook_in').data;
        for (let k = 0; k < T * d; k++) {
          expect(mlpIn[k]).toBeCloseTo(norm[k] * L.ln2.w.data[k % d] + (L.ln2.b?.data[k % d] ?? 0), 5);
        }
        if (config.postNorms) expect(get('mlp.hook_out').data).not.toEqual(mlpOut);
        else expect(get('mlp.hook_out').data).toEqual(mlpOut);
      }
    });
  }

  it('is causal: a later token never changes earlier positions', () => {
    const { config, weights } = makeRandomCheckpoint('llama', {}, 4);
    const a = referenceForward(config, weights, [1, 5, 9, 17]);
    const b = referenceForward(config, weights, [1, 5, 9, 40]);
    const V = config.dVocab;
    close(a.logits.data.subarray(0, 3 * V), b.logits.data.subarray(0, 3 * V), 1e-6);
    expect(a.logits.data.subarray(3 * V)).not.toEqual(b.logits.data.subarray(3 * V));
  });

  it('GQA equals full multi-head attention with each KV head repeated for its group', () => {
    const { config, weights } = makeRandomCheckpoint('qwen3', {}, 5);
    const group = config.nHeads / config.nKvHeads;
    const dh = config.dHead;
    const d = config.dModel;
    const repeat = (w: ModelWeights['layers'][number]['attn']['wK']) => {
      const out = new Float32Array(d * config.nHeads * dh);
      for (let r = 0; r < d; r++) {
        for (let h = 0; h < config.nHeads; h++) {
          const kv = Math.floor(h / group);
          for (let c = 0; c < dh; c++)
            out[r * config.nHeads * dh + h * dh + c] = w.data[r * config.nKvHeads * dh + kv * dh + c];
        }
      }
      return f32([d, config.nHeads * dh], out);
    };
    const mha: ModelWeights = {
      ...weights,
      layers: weights.layers.map((L) => ({
        ...L,
        attn: { ...L.attn, wK: repeat(L.attn.wK), wV: repeat(L.attn.wV) },
      })),
    };
    const a = referenceForward(config, weights, TOKENS);
    const b = referenceForward({ ...config, nKvHeads: config.nHeads }, mha, TOKENS);
    close(a.logits.data, b.logits.data, 1e-6);
  });

  it('Gemma-2: sliding window on even layers only, soft-capped logits', () => {
    const { config, weights } = makeRandomCheckpoint('gemma2', {}, 6);
    expect(config.slidingWindowLayers).toEqual([0]);
    const T = TOKENS.length;
    const { logits, hooks } = referenceForward(config, weights, TOKENS);
    const p0 = hooks.get('blocks.0.attn.hook_pattern')!.data;
    const p1 = hooks.get('blocks.1.attn.hook_pattern')!.data;
    for (let i = 0; i < T; i++) {
      for (let j = 0; j <= i; j++) {
        if (i - j >= 3) expect(p0[i * T + j]).toBe(0);
        else expect(p0[i * T + j]).toBeGreaterThan(0);
        expect(p1[i * T + j]).toBeGreaterThan(0);
      }
    }
    const raw = referenceForward({ ...config, finalSoftcap: undefined }, weights, TOKENS).logits.data;
    expect(Math.max(...raw.map(Math.abs))).toBeGreaterThan(3);
    close(
      logits.data,
      raw.map((v) => 3 * Math.tanh(v / 3)),
      1e-6,
    );
    const embed = hooks.get('hook_embed')!.data;
    expect(embed[0]).toBeCloseTo(weights.embed.data[TOKENS[0] * config.dModel] * Math.sqrt(config.dModel), 5);
  });

  it('llama3 rope scaling: low frequencies divided by factor, high kept, middle smoothed', () => {
    const base = makeRandomCheckpoint('llama', { dHead: 8 }).config;
    const inv = ropeInvFreq(base); // theta 1e4, dim 8: 1, 0.1, 0.01, 0.001; wavelengths 6.28 … 6283
    // original context 8, low 1, high 4: wavelength > 8 is divided by 4; 2 ≤ 6.28 ≤ 8 is smoothed.
    const smooth = (8 / (2 * Math.PI) - 1) / (4 - 1);
    expect(inv[0]).toBeCloseTo((1 - smooth) / 4 + smooth, 12);
    expect(inv[1]).toBeCloseTo(0.1 / 4, 12);
    expect(inv[3]).toBeCloseTo(0.001 / 4, 12);
    const linear = ropeInvFreq({ ...base, rope: { theta: 100, scaling: { type: 'linear', factor: 2 } } });
    close(
      linear,
      [0, 1, 2, 3].map((i) => 100 ** (-i / 4) / 2),
      1e-15,
    );
  });

  it('activations match their definitions', () => {
    expect(activate('gelu', 1)).toBeCloseTo(0.8413447460685429, 12);
    expect(activate('gelu', -3)).toBeCloseTo(-0.0040495, 6);
    expect(activate('gelu_new', 1)).toBeCloseTo(0.8411919906082768, 12);
    expect(activate('silu', 2)).toBeCloseTo(2 / (1 + Math.exp(-2)), 12);
    expect(activate('relu', -1)).toBe(0);
  });

  it('rejects bad tokens and empty input', () => {
    const { config, weights } = makeRandomCheckpoint('gpt2');
    expect(() => referenceForward(config, weights, [])).toThrow(/empty/);
    expect(() => referenceForward(config, weights, [config.dVocab])).toThrow(/outside/);
    expect(() => referenceForward(config, weights, new Array(config.nCtx + 1).fill(1))).toThrow(
      /exceed nCtx/,
    );
  });
});

describe('reference forward: a GPT-2 layer computed by hand', () => {
  // d=2, one head, LayerNorm on 2 values maps any row [a, b] to ±[1, -1]·|a-b|/2 / sqrt((a-b)²/4 + eps).
  const eps = 1e-5;
  const config: ModelConfig = parseHfConfig({
    architectures: ['GPT2LMHeadModel'],
    vocab_size: 2,
    n_embd: 2,
    n_head: 1,
    n_layer: 1,
    n_positions: 2,
    n_inner: 2,
    layer_norm_epsilon: eps,
    activation_function: 'relu',
  });
  const I = f32([2, 2], [1, 0, 0, 1]);
  const weights: ModelWeights = {
    embed: f32([2, 2], [1, -1, 3, 1]),
    posEmbed: f32([2, 2], [0, 0, 0, 0]),
    layers: [
      {
        ln1: { w: f32([2], [1, 1]), b: f32([2], [0, 0]) },
        attn: {
          wQ: f32([2, 2], [0, 0, 0, 0]), // q = k = 0: uniform attention over the causal prefix
          wK: f32([2, 2], [0, 0, 0, 0]),
          wV: I,
          wO: f32([2, 2], [0.5, 0, 0, 0.5]),
          bQ: f32([2], [0, 0]),
          bK: f32([2], [0, 0]),
          bV: f32([2], [0, 0]),
          bO: f32([2], [1, 0]),
        },
        ln2: { w: f32([2], [2, 2]), b: f32([2], [0.5, 0.5]) },
        mlp: { wIn: I, bIn: f32([2], [0, 0]), wOut: I, bOut: f32([2], [0, 0]) },
      },
    ],
    lnFinal: { w: f32([2], [1, 1]), b: f32([2], [0, 0]) },
    unembed: I,
  };
  const ln = (a: number, b: number) => {
    const c = (a - b) / 2;
    const s = Math.sqrt(c * c + eps);
    return [c / s, -c / s];
  };

  it('matches the hand computation', () => {
    const { logits, hooks } = referenceForward(config, weights, [0, 1]);
    // Both rows of the embedding, [1,-1] and [3,1], have a - b = 2, so ln1 gives the same row twice.
    const n1 = ln(1, -1);
    expect([...hooks.get('blocks.0.attn.hook_pattern')!.data]).toEqual([1, 0, 0.5, 0.5]);
    const attnOut = [0.5 * n1[0] + 1, 0.5 * n1[1]];
    close(hooks.get('blocks.0.hook_attn_out')!.data, [...attnOut, ...attnOut], 1e-6);
    const mid = [1 + attnOut[0], -1 + attnOut[1], 3 + attnOut[0], 1 + attnOut[1]];
    close(hooks.get('blocks.0.hook_resid_mid')!.data, mid, 1e-6);
    const expectLogits: number[] = [];
    for (let t = 0; t < 2; t++) {
      const n2 = ln(mid[2 * t], mid[2 * t + 1]);
      const hidden = n2.map((v) => Math.max(0, 2 * v + 0.5));
      const post = [mid[2 * t] + hidden[0], mid[2 * t + 1] + hidden[1]];
      close(hooks.get('blocks.0.hook_resid_post')!.data.subarray(2 * t, 2 * t + 2), post, 1e-6);
      expectLogits.push(...ln(post[0], post[1]));
    }
    close(logits.data, expectLogits, 1e-6);
    close(hooks.get('ln_final.hook_normalized')!.data, expectLogits, 1e-6);
  });
});
