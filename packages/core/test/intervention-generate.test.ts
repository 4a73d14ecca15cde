import { describe, expect, it } from 'vitest';
import { decoderDirection } from '../src/intervention/patch.ts';
import type { InterventionMode, InterventionSpec } from '../src/intervention/spec.ts';
import type { F32 } from '../src/tensor/host.ts';
import { setup, TOKENS } from './intervention-fixtures.ts';

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const row = (t: F32, i: number) => t.data.subarray(i * t.shape[1], (i + 1) * t.shape[1]);

describe('generation with interventions', () => {
  for (const arch of ['llama', 'gemma2'] as const) {
    it(`${arch}: KV-cache generation equals step-by-step full re-runs (free mode, open-ended slices and steering)`, async () => {
      const { model, dict, iv } = await setup(arch, { kind: 'clt' });
      const prompt = TOKENS.subarray(0, 5);
      const steer = await decoderDirection(dict, 0, 3, { outputLayer: 1, scale: 2 });
      const spec: InterventionSpec = {
        features: [
          { layer: 0, pos: { start: 2 }, feature: 5, value: 3 },
          { layer: 1, pos: 1, feature: 7, value: 0 },
        ],
        steer: [steer],
      };
      const n = 4;
      const gen = await iv.generate(prompt, spec, { mode: 'free', maxNewTokens: n });
      const toks = gen.report.intervened.tokens;
      expect(toks).toHaveLength(n);
      expect(gen.logits.shape).toEqual([n, model.config.dVocab]);
      for (let i = 0; i < n; i++) {
        const seq = Int32Array.from([...prompt, ...toks.slice(0, i)]);
        const full = await iv.intervene(seq, spec, { mode: 'free' });
        expect(maxAbsDiff(row(gen.logits, i), row(full.logits, seq.length - 1))).toBeLessThan(1e-4);
        // The clean scores of the same prefix.
        expect(maxAbsDiff(row(gen.cleanLogits, i), row(full.cleanLogits, seq.length - 1))).toBeLessThan(1e-4);
      }
      // The interventions do something, and the clean continuation is the clean model's greedy one.
      expect(maxAbsDiff(gen.logits.data, gen.cleanLogits.data)).toBeGreaterThan(1e-3);
      const clean = await model.generate(prompt, { maxNewTokens: n });
      expect(gen.report.clean.tokens).toEqual([...clean.tokens]);
      const step0 = gen.report.intervened.steps[0];
      expect(step0.top[0].id).toBe(toks[0]);
      expect(step0.diffs[0].diff).toBeCloseTo(step0.diffs[0].intervened - step0.diffs[0].clean, 5);
    });
  }

  for (const mode of ['constrained', 'frozen-attention'] as InterventionMode[]) {
    it(`${mode}: the first generated token comes from the ${mode} prompt pass`, async () => {
      const { iv } = await setup('qwen3');
      const spec: InterventionSpec = { features: [{ layer: 0, pos: -1, feature: 2, value: 4 }] };
      const gen = await iv.generate(TOKENS, spec, { mode, maxNewTokens: 3 });
      const full = await iv.intervene(TOKENS, spec, { mode });
      expect(maxAbsDiff(row(gen.logits, 0), row(full.logits, TOKENS.length - 1))).toBeLessThan(1e-4);
    });
  }

  it('stops at a stop token, honours an aborted signal, and rejects bad lengths', async () => {
    const { iv, model } = await setup('qwen2');
    const first = await iv.generate(TOKENS, {}, { mode: 'free', maxNewTokens: 1 });
    const stop = first.report.intervened.tokens[0];
    const gen = await iv.generate(TOKENS, {}, { mode: 'free', maxNewTokens: 5, stopTokens: [stop] });
    expect(gen.report.intervened.tokens).toEqual([stop]);
    const ac = new AbortController();
    ac.abort();
    await expect(
      iv.generate(TOKENS, {}, { mode: 'free', maxNewTokens: 2, signal: ac.signal }),
    ).rejects.toThrow();
    await expect(iv.intervene(TOKENS, {}, { mode: 'free', signal: ac.signal })).rejects.toThrow();
    await expect(iv.generate(TOKENS, {}, { mode: 'free', maxNewTokens: 0 })).rejects.toThrow(
      /positive integer/,
    );
    await expect(iv.generate(TOKENS, {}, { mode: 'free', maxNewTokens: model.config.nCtx })).rejects.toThrow(
      /context length/,
    );
  });
});
