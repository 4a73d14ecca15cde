import { describe, expect, it } from 'vitest';
import { differenceOfMeans, meanDifference, patchInterventions } from '../src/intervention/patch.ts';
import {
  parseFeatureGroup,
  parseInterventionSpec,
  parseSetSpec,
  parseSteerSpec,
  parsePatchPositions,
  parseSteerDiffSpec,
  parseSteerVectorSpec,
  resolvePositions,
} from '../src/intervention/spec.ts';
import { type F32, f32 } from '../src/tensor/host.ts';
import { setup, TOKENS } from './intervention-fixtures.ts';

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const actAt = (acts: F32, i: number, p: number, f: number) => {
  const [, T, dTc] = acts.shape;
  return acts.data[(i * T + p) * dTc + f];
};

describe('spec parsing', () => {
  it('parses --set with indices, negative indices and slices', () => {
    expect(parseSetSpec('3:-1:120=0')).toEqual({ layer: 3, pos: -1, feature: 120, value: 0 });
    expect(parseSetSpec('0:2..:7=-2.5')).toEqual({ layer: 0, pos: { start: 2 }, feature: 7, value: -2.5 });
    expect(parseSetSpec('1:1..4:0=1e1')).toEqual({
      layer: 1,
      pos: { start: 1, end: 4 },
      feature: 0,
      value: 10,
    });
    expect(parseSetSpec('1:..:0=1')).toEqual({ layer: 1, pos: { start: 0 }, feature: 0, value: 1 });
    expect(() => parseSetSpec('1:2=3')).toThrow(/expected LAYER:POS:FEATURE=VALUE/);
    expect(() => parseSetSpec('1:2:3=abc')).toThrow(/not a number/);
  });

  it('parses --steer L:F*S[@P] and --patch-positions FROM:TO', () => {
    expect(parseSteerSpec('3:120*8')).toEqual({ layer: 3, feature: 120, scale: 8 });
    expect(parseSteerSpec('0:7*-2.5@-1')).toEqual({ layer: 0, feature: 7, scale: -2.5, pos: -1 });
    expect(parseSteerSpec('1:0*1e1@2..')).toEqual({ layer: 1, feature: 0, scale: 10, pos: { start: 2 } });
    expect(parseSteerSpec('1:0*1@1..4').pos).toEqual({ start: 1, end: 4 });
    expect(() => parseSteerSpec('3:120')).toThrow(/expected LAYER:FEATURE\*SCALE/);
    expect(() => parseSteerSpec('3:120*abc')).toThrow(/not a number/);
    expect(parsePatchPositions('-1:-1')).toEqual({ from: -1, to: -1 });
    expect(parsePatchPositions(' 3 : 4 ')).toEqual({ from: 3, to: 4 });
    expect(() => parsePatchPositions('3')).toThrow(/expected FROM:TO/);
  });

  it('parses --steer-diff L*S[@P] and --steer-vector L:FILE[#TENSOR]*S[@P]', () => {
    expect(parseSteerDiffSpec('2*-1')).toEqual({ layer: 2, scale: -1 });
    expect(parseSteerDiffSpec(' 0 * 4.5 @ -1 ')).toEqual({ layer: 0, scale: 4.5, pos: -1 });
    expect(parseSteerDiffSpec('3*1e1@1..')).toEqual({ layer: 3, scale: 10, pos: { start: 1 } });
    expect(() => parseSteerDiffSpec('2')).toThrow(/--steer-diff '2': expected LAYER\*SCALE/);
    expect(() => parseSteerDiffSpec('a*2')).toThrow(/expected LAYER\*SCALE/);
    expect(() => parseSteerDiffSpec('2*x')).toThrow(/scale 'x' is not a number/);
    expect(parseSteerVectorSpec('1:dir/v.safetensors*2')).toEqual({
      layer: 1,
      file: 'dir/v.safetensors',
      scale: 2,
    });
    expect(parseSteerVectorSpec('3:out.safetensors#steer_diff_L3*-1@-1')).toEqual({
      layer: 3,
      file: 'out.safetensors',
      tensor: 'steer_diff_L3',
      scale: -1,
      pos: -1,
    });
    expect(() => parseSteerVectorSpec('v.safetensors*2')).toThrow(/expected LAYER:FILE\[#TENSOR\]\*SCALE/);
    expect(() => parseSteerVectorSpec('1:v.safetensors*NaN')).toThrow(/scale 'NaN' is not a number/);
  });

  it('resolves positions and names positions beyond the prompt', () => {
    expect(resolvePositions(-1, 5, 'x')).toEqual([4]);
    expect(resolvePositions({ start: 3 }, 5, 'x')).toEqual([3, 4]);
    expect(resolvePositions([0, -2], 5, 'x')).toEqual([0, 3]);
    expect(() => resolvePositions(5, 5, 'x')).toThrow(/position 5 is beyond the 5-token prompt/);
    expect(() => resolvePositions(-6, 5, 'x')).toThrow(/beyond/);
    expect(() => resolvePositions({ start: 1, end: 9 }, 5, 'x')).toThrow(/does not fit/);
  });

  it('parses supernode group files in every form and rejects malformed ones', () => {
    const members = [
      { layer: 1, feature: 20, pos: 3 },
      { layer: 0, feature: 4, pos: 2 },
    ];
    expect(parseFeatureGroup({ label: 'say Austin', nodeIds: ['1_20_3', '0_4_2'] })).toEqual({
      label: 'say Austin',
      members,
    });
    expect(parseFeatureGroup(['say Austin', '1_20_3', '0_4_2'])).toEqual({ label: 'say Austin', members });
    expect(parseFeatureGroup({ label: 'g', members: [{ layer: 1, pos: 3, feature: 20 }] }).members).toEqual([
      members[0],
    ]);
    expect(() => parseFeatureGroup({ label: 'g', nodeIds: [] })).toThrow(/malformed supernode/);
    expect(() => parseFeatureGroup({ label: 'g', nodeIds: ['E_3_1'] })).toThrow(
      /'E_3_1' is not a feature node id/,
    );
    expect(() => parseFeatureGroup('nope')).toThrow(/malformed supernode/);
    expect(() => parseFeatureGroup(['only a label'])).toThrow(/malformed supernode/);
  });

  it('validates JSON specs from the API', async () => {
    const json = {
      features: [{ layer: 0, pos: { start: 2 }, feature: 3, value: 1.5 }],
      scales: [{ group: { label: 'g', members: [{ layer: 1, pos: 2, feature: 4 }] }, factor: -2 }],
      steer: [{ hook: 'blocks.1.hook_resid_post', vector: Array(16).fill(0.1), pos: -1 }],
    };
    const spec = parseInterventionSpec(JSON.parse(JSON.stringify(json)));
    expect(spec).toEqual(json);
    const { iv } = await setup('qwen2');
    const r = await iv.intervene(TOKENS, spec, { mode: 'frozen-attention' });
    expect(r.report.applied.length).toBe(TOKENS.length - 2 + 1);
    expect(() => parseInterventionSpec({ steer: [{ hook: 'blocks.0.nope', vector: [1] }] })).toThrow(
      /steer\.0\.hook: unknown hook point/,
    );
    expect(() => parseInterventionSpec({ features: [{ layer: 0.5, pos: 1, feature: 1, value: 1 }] })).toThrow(
      /features\.0\.layer/,
    );
    expect(() => parseInterventionSpec({ features: [{ layer: 0, pos: 1, feature: 1, value: 'x' }] })).toThrow(
      /features\.0\.value/,
    );
  });
});

describe('bad specs give clear errors', () => {
  it('names the feature, position, layer, value, hook and mode at fault', async () => {
    const { iv, model } = await setup('llama');
    const run = (features: { layer: number; pos: number; feature: number; value: number }[]) =>
      iv.intervene(TOKENS, { features }, { mode: 'free' });
    await expect(run([{ layer: 0, pos: 1, feature: 24, value: 1 }])).rejects.toThrow(
      /feature index 24 is out of range \[0, 24\)/,
    );
    await expect(run([{ layer: 0, pos: 7, feature: 1, value: 1 }])).rejects.toThrow(
      /position 7 is beyond the 7-token prompt/,
    );
    await expect(run([{ layer: 5, pos: 1, feature: 1, value: 1 }])).rejects.toThrow(
      /unknown layer 5 \(the dictionary has layers 0, 1\)/,
    );
    await expect(run([{ layer: 0, pos: 1, feature: 1, value: Number.NaN }])).rejects.toThrow(
      /not a finite number/,
    );
    await expect(
      iv.intervene(
        TOKENS,
        { steer: [{ hook: 'blocks.0.hook_resid_post', vector: new Float32Array(3) }] },
        { mode: 'free' },
      ),
    ).rejects.toThrow(/vector has 3 values, expected 16/);
    await expect(
      iv.intervene(
        TOKENS,
        { steer: [{ hook: 'blocks.9.hook_resid_post', vector: new Float32Array(16) }] },
        { mode: 'free' },
      ),
    ).rejects.toThrow(/names layer 9, the model has 2/);
    await expect(iv.intervene(TOKENS, {}, { mode: 'frozen' as 'free' })).rejects.toThrow(
      /unknown mode 'frozen'/,
    );
    await expect(
      iv.intervene(
        TOKENS,
        { steer: [{ hook: 'hook_pos_embed', vector: new Float32Array(16) }] },
        { mode: 'free' },
      ),
    ).rejects.toThrow(/no learned positions/);
    await expect(iv.intervene(TOKENS, {}, { mode: 'free', topK: 0 })).rejects.toThrow(
      /topK must be a positive integer/,
    );
    await expect(iv.intervene(new Int32Array(0), {}, { mode: 'free' })).rejects.toThrow(
      /empty token sequence/,
    );
    await expect(iv.intervene(Int32Array.of(1, 999), {}, { mode: 'free' })).rejects.toThrow(
      /token id 999 at position 1 is outside \[0, /,
    );
    await expect(iv.intervene(new Int32Array(model.config.nCtx + 1), {}, { mode: 'free' })).rejects.toThrow(
      /context length/,
    );
    const group = { label: 'g', members: [{ layer: 0, pos: 9, feature: 1 }] };
    await expect(iv.intervene(TOKENS, { scales: [{ group, factor: 2 }] }, { mode: 'free' })).rejects.toThrow(
      /supernode 'g': position 9 is beyond/,
    );
  });

  it('constrained mode needs a transcoder for every layer', async () => {
    const { iv } = await setup('qwen2');
    const partial = { ...iv.dict, layers: iv.dict.layers.slice(1) };
    const { Intervener } = await import('../src/intervention/intervener.ts');
    const iv2 = Intervener.create(iv.model, partial);
    await expect(iv2.intervene(TOKENS, {}, { mode: 'constrained' })).rejects.toThrow(/every layer 0\.\.1/);
    expect(() => Intervener.create(iv.model, { ...iv.dict, dModel: 8 })).toThrow(/d_model 8/);
  });
});

describe('supernodes, patching, steering and mode comparison', () => {
  it('scaling a supernode sets every member to factor × its clean activation; 0 ablates', async () => {
    const { iv } = await setup('gemma2');
    const acts = await iv.activations(TOKENS);
    const members = [
      { layer: 0, pos: 2, feature: 1 },
      { layer: 1, pos: 4, feature: 6 },
    ];
    const group = { label: 'g', members };
    const scaled = await iv.intervene(TOKENS, { scales: [{ group, factor: -2 }] }, { mode: 'constrained' });
    const explicit = await iv.intervene(
      TOKENS,
      { features: members.map((m) => ({ ...m, value: -2 * actAt(acts, m.layer, m.pos, m.feature) })) },
      { mode: 'constrained' },
    );
    expect(maxAbsDiff(scaled.logits.data, explicit.logits.data)).toBe(0);
    expect(scaled.report.applied.map((a) => a.value)).toEqual(
      members.map((m) => -2 * actAt(acts, m.layer, m.pos, m.feature)),
    );
    const ablated = await iv.intervene(TOKENS, { scales: [{ group, factor: 0 }] }, { mode: 'free' });
    expect(ablated.report.applied.every((a) => a.value === 0)).toBe(true);
  });

  it('patching writes the features active on prompt B into prompt A (and zeroes A-only features)', async () => {
    const { iv } = await setup('qwen3', { act: { kind: 'relu' } });
    const a = TOKENS;
    const b = Int32Array.of(1, 8, 2, 30, 12);
    const actsA = await iv.activations(a);
    const actsB = await iv.activations(b);
    const patch = await patchInterventions(iv, b, a, { positions: [{ from: -1, to: -1 }], layers: [0] });
    const dTc = iv.dict.dTc;
    for (let f = 0; f < dTc; f++) {
      const vb = actAt(actsB, 0, b.length - 1, f);
      const va = actAt(actsA, 0, a.length - 1, f);
      const got = patch.find((p) => p.feature === f);
      if (vb !== 0) expect(got?.value).toBe(vb);
      else if (va !== 0) expect(got?.value).toBe(0);
      else expect(got).toBeUndefined();
    }
    expect(patch.every((p) => p.layer === 0 && p.pos === a.length - 1)).toBe(true);
    // In free mode the patched layer-0 activations at that position become B's exactly.
    const r = await iv.intervene(a, { features: patch }, { mode: 'free', hooks: ['blocks.0.mlp.hook_in'] });
    for (const x of r.report.applied)
      expect(x.current + x.delta).toBeCloseTo(actAt(actsB, 0, b.length - 1, x.feature), 5);
    // A supernode from B's graph: only its members, at their own positions.
    const group = { label: 'g', members: [{ layer: 1, pos: 4, feature: 3 }] };
    const one = await patchInterventions(iv, b, a, { positions: [{ from: 4, to: 6 }], group, factor: 2 });
    expect(one).toEqual([{ layer: 1, pos: 6, feature: 3, value: 2 * actAt(actsB, 1, 4, 3) }]);
    await expect(patchInterventions(iv, b, a, { positions: [{ from: 2, to: 6 }], group })).rejects.toThrow(
      /member position 4 is not a patched source position/,
    );
  });

  it('steering by a difference of means at any hook shifts the residual by exactly that vector', async () => {
    const { iv, model } = await setup('gpt2');
    const hook = 'blocks.0.hook_resid_post' as const;
    const v = await differenceOfMeans(
      model,
      hook,
      [Int32Array.of(1, 4, 5)],
      [Int32Array.of(1, 6, 7), Int32Array.of(2, 3)],
    );
    expect(v).toHaveLength(model.config.dModel);
    const r = await iv.intervene(
      TOKENS,
      { steer: [{ hook, vector: v, pos: [2, 3], scale: 0.5 }] },
      { mode: 'free', hooks: [hook] },
    );
    const clean = await model.run(TOKENS, { hooks: [hook] });
    const d = model.config.dModel;
    const base = (clean.cache.get(hook) as F32).data;
    for (let p = 0; p < TOKENS.length; p++) {
      for (let j = 0; j < d; j++) {
        const expected = base[p * d + j] + (p === 2 || p === 3 ? 0.5 * v[j] : 0);
        expect(r.hooks[hook].data[p * d + j]).toBeCloseTo(expected, 5);
      }
    }
  });

  it('the difference of means is the mean of A rows minus the mean of B rows, taken at the chosen position', async () => {
    const { model } = await setup('llama');
    const hook = 'blocks.1.hook_resid_post' as const;
    const a = [Int32Array.of(1, 4, 5), Int32Array.of(1, 8, 9, 10)];
    const b = [Int32Array.of(1, 6, 7), Int32Array.of(2, 3), Int32Array.of(1, 12, 13, 14, 15)];
    const d = model.config.dModel;
    const rowAt = async (p: Int32Array, pos: number) => {
      const v = (await model.run(p, { hooks: [hook] })).cache.get(hook) as F32;
      const q = pos < 0 ? p.length + pos : pos;
      return Array.from(v.data.subarray(q * d, (q + 1) * d));
    };
    for (const pos of [-1, -2]) {
      const ra = await Promise.all(a.map((p) => rowAt(p, pos)));
      const rb = await Promise.all(b.map((p) => rowAt(p, pos)));
      const expected = Array.from(
        { length: d },
        (_, j) => (ra[0][j] + ra[1][j]) / 2 - (rb[0][j] + rb[1][j] + rb[2][j]) / 3,
      );
      const v = await differenceOfMeans(model, hook, a, b, pos);
      expect(maxAbsDiff(v, expected)).toBeLessThan(1e-5);
      expect(Math.max(...expected.map(Math.abs))).toBeGreaterThan(1e-2);
    }
    expect(Array.from(meanDifference(f32([2, 2], [1, 2, 3, 6]), f32([1, 2], [0, 1])))).toEqual([2, 3]);
    expect(() => meanDifference(f32([0, 2]), f32([1, 2], [0, 1]))).toThrow(/at least one row/);
    expect(() => meanDifference(f32([1, 3], [1, 2, 3]), f32([1, 2], [0, 1]))).toThrow(
      /\[nA, d\] and \[nB, d\]/,
    );
    await expect(differenceOfMeans(model, hook, a, [])).rejects.toThrow(/at least one prompt/);
    await expect(differenceOfMeans(model, hook, a, b, -4)).rejects.toThrow(
      /position -4 is beyond the 3-token prompt/,
    );
  });

  it('steering with scale 0 changes nothing, in every mode and while generating', async () => {
    const { iv, model } = await setup('gpt2');
    const hook = 'blocks.1.hook_resid_post' as const;
    const v = await differenceOfMeans(model, hook, [Int32Array.of(1, 4, 5)], [Int32Array.of(1, 6, 7)]);
    const spec = { steer: [{ hook, vector: v, scale: 0 }] };
    for (const mode of ['constrained', 'frozen-attention', 'free'] as const) {
      const r = await iv.intervene(TOKENS, spec, { mode });
      // The intervened graph differs from the clean one, so float sums may round differently.
      expect(maxAbsDiff(r.logits.data, r.cleanLogits.data), mode).toBeLessThan(1e-5);
      const moved = await iv.intervene(TOKENS, { steer: [{ hook, vector: v, scale: 1 }] }, { mode });
      expect(maxAbsDiff(moved.logits.data, moved.cleanLogits.data), mode).toBeGreaterThan(1e-3);
    }
    const gen = await iv.generate(TOKENS, spec, { mode: 'free', maxNewTokens: 3 });
    expect(gen.report.intervened.tokens).toEqual(gen.report.clean.tokens);
    expect(maxAbsDiff(gen.logits.data, gen.cleanLogits.data)).toBeLessThan(1e-5);
  });

  it('compares modes side by side from one clean run', async () => {
    const { iv } = await setup('llama');
    const spec = { features: [{ layer: 0, pos: 3, feature: 2, value: 6 }] };
    const cmp = await iv.compareModes(TOKENS, spec, ['constrained', 'frozen-attention', 'free'], { topK: 3 });
    expect(cmp.runs.map((r) => r.report.mode)).toEqual(['constrained', 'frozen-attention', 'free']);
    expect(cmp.pairs.map((p) => `${p.a}/${p.b}`)).toEqual([
      'constrained/frozen-attention',
      'constrained/free',
      'frozen-attention/free',
    ]);
    const alone = await iv.intervene(TOKENS, spec, { mode: 'free' });
    expect(maxAbsDiff(cmp.runs[2].logits.data, alone.logits.data)).toBe(0);
    // Positions before the intervention agree in every mode; later ones differ between modes.
    for (const pair of cmp.pairs) {
      for (const p of pair.positions.slice(0, 3)) expect(p.kl).toBeLessThan(1e-9);
      expect(pair.positions.slice(3).some((p) => p.kl > 1e-8)).toBe(true);
    }
    const pos = cmp.runs[0].report.positions[3];
    expect(pos.clean).toHaveLength(3);
    expect(pos.intervened[0].prob).toBeGreaterThanOrEqual(pos.intervened[1].prob);
    expect(JSON.parse(JSON.stringify(cmp.runs[0].report))).toEqual(cmp.runs[0].report);
  });
});
