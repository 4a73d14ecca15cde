import { describe, expect, it } from 'vitest';
import { initWeights } from '../src/model/init.ts';
import { Model } from '../src/model/model.ts';
import { nodeRuntime } from '../src/node/runtime.ts';
import { f32, i32 } from '../src/tensor/host.ts';
import { TrainingSession } from '../src/train/training.ts';
import { transformerTrainingSpec, weightsFromParameters } from '../src/train/transformer.ts';
import { tinyConfig } from './model-configs.ts';

const rt = nodeRuntime();

describe('TrainingSession', () => {
  it('one graph per step matches a plain-JS AdamW with weight decay and clipping', async () => {
    // loss = mean over rows of Σ_j (x·W + b − y)_j², W [2, 3] decays, b [3] does not.
    const x = [0.5, -1, 2, 0.25, -0.75, 1.5];
    const y = [1, 0, -1, 0.5, 2, 0, -1, 1, 0.5];
    const W0 = [0.1, -0.2, 0.3, 0.4, -0.5, 0.6];
    const b0 = [0.05, -0.05, 0.1];
    const opt = { lr: 0.05, beta1: 0.8, beta2: 0.95, eps: 1e-6, weightDecay: 0.1, clipNorm: 1 };
    const session = await TrainingSession.create(
      rt,
      {
        params: { W: f32([2, 3], W0), b: f32([3], b0) },
        inputs: { x: { dtype: 'float32', shape: ['N', 2] }, y: { dtype: 'float32', shape: ['N', 3] } },
        loss: (g, p, d) => {
          const r = g.sub(g.add(g.matmul(d.x, p.W), p.b), d.y);
          return g.reduceMean(g.reduceSum(g.mul(r, r), [1], false), [0], false);
        },
      },
      opt,
    );
    const W = Float64Array.from(W0);
    const b = Float64Array.from(b0);
    const mW = new Float64Array(6);
    const vW = new Float64Array(6);
    const mb = new Float64Array(3);
    const vb = new Float64Array(3);
    for (let t = 1; t <= 3; t++) {
      const gW = new Float64Array(6);
      const gb = new Float64Array(3);
      let loss = 0;
      for (let n = 0; n < 3; n++) {
        for (let j = 0; j < 3; j++) {
          const r = x[n * 2] * W[j] + x[n * 2 + 1] * W[3 + j] + b[j] - y[n * 3 + j];
          loss += (r * r) / 3;
          gb[j] += (2 * r) / 3;
          gW[j] += ((2 * r) / 3) * x[n * 2];
          gW[3 + j] += ((2 * r) / 3) * x[n * 2 + 1];
        }
      }
      let norm = 0;
      for (const v of [...gW, ...gb]) norm += v * v;
      norm = Math.sqrt(norm);
      const coef = Math.min(1, opt.clipNorm / (norm + 1e-6));
      const upd = (p: Float64Array, m: Float64Array, v: Float64Array, gr: Float64Array, decay: boolean) => {
        for (let i = 0; i < p.length; i++) {
          const gi = gr[i] * coef;
          if (decay) p[i] *= 1 - opt.lr * opt.weightDecay;
          m[i] = opt.beta1 * m[i] + (1 - opt.beta1) * gi;
          v[i] = opt.beta2 * v[i] + (1 - opt.beta2) * gi * gi;
          p[i] -=
            (opt.lr * (m[i] / (1 - opt.beta1 ** t))) / (Math.sqrt(v[i] / (1 - opt.beta2 ** t)) + opt.eps);
        }
      };
      const res = await session.step({ x: f32([3, 2], x), y: f32([3, 3], y) });
      expect(res.loss).toBeCloseTo(loss, 5);
      expect(res.gradNorm).toBeCloseTo(norm, 4);
      expect(norm).toBeGreaterThan(opt.clipNorm); // clipping is exercised
      upd(W, mW, vW, gW, true);
      upd(b, mb, vb, gb, false);
      const p = session.getParameters();
      for (let i = 0; i < 6; i++) expect(p.W.data[i]).toBeCloseTo(W[i], 5);
      for (let i = 0; i < 3; i++) expect(p.b.data[i]).toBeCloseTo(b[i], 5);
    }
    expect(session.stepCount).toBe(3);
    expect(() => session.setParameters({ W: f32([3, 2]) })).toThrow(/shape/);
  });

  it.each(['llama', 'gpt2'] as const)(
    '%s: training steps decrease the loss, and the trained weights run in Model',
    async (arch) => {
      const config = tinyConfig(arch);
      const weights = initWeights(config, { seed: 1 });
      const spec = transformerTrainingSpec(config, weights, { masked: true });
      const session = await TrainingSession.create(rt, spec, { lr: 1e-2, clipNorm: 1 });
      // A periodic sequence: next-token prediction is learnable from the previous token.
      const B = 4;
      const T = 12;
      const seq = Array.from({ length: B * (T + 1) }, (_, i) => (i * 7) % 13);
      const tokens = i32(
        [B, T],
        Array.from({ length: B * T }, (_, k) => seq[Math.floor(k / T) * (T + 1) + (k % T)]),
      );
      const targets = i32(
        [B, T],
        Array.from({ length: B * T }, (_, k) => seq[Math.floor(k / T) * (T + 1) + (k % T) + 1]),
      );
      const mask = f32(
        [B, T],
        Array.from({ length: B * T }, (_, k) => (k % T === 0 ? 0 : 1)),
      );
      const batch = { tokens, targets, mask };
      const first = await session.evaluate(batch);
      expect(first).toBeGreaterThan(Math.log(config.dVocab) - 0.5);
      let last = first;
      for (let s = 0; s < 40; s++) last = (await session.step(batch)).loss;
      const after = await session.evaluate(batch);
      expect(after).toBeLessThan(0.5 * first);
      expect(after).toBeLessThanOrEqual(last + 1e-3);

      // The exported weights reproduce the trained loss through the inference path.
      const trained = weightsFromParameters(config, weights, session.getParameters());
      const model = await Model.create(config, trained, undefined, rt);
      const out = await model.run(Array.from({ length: B }, (_, b) => tokens.data.slice(b * T, (b + 1) * T)));
      const V = config.dVocab;
      let nll = 0;
      let count = 0;
      for (let k = 0; k < B * T; k++) {
        if (mask.data[k] === 0) continue;
        const row = out.logits.data.subarray(k * V, (k + 1) * V);
        const mx = Math.max(...row);
        const lse = mx + Math.log(row.reduce((s, v) => s + Math.exp(v - mx), 0));
        nll += lse - row[targets.data[k]];
        count++;
      }
      expect(nll / count).toBeCloseTo(after, 4);
    },
  );
});
