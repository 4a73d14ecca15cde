import { describe, expect, it } from 'vitest';
import {
  type ActivationSpec,
  buildDictionaryGraph,
  computeAttributionComponents,
  type Dictionary,
  type DictionaryKind,
  loadDictionary,
  referenceAttributionComponents,
  referenceDecode,
  referenceEncode,
  runDictionary,
  topBottomIndices,
  topLogitEffects,
  writeDictionary,
} from '../src/dictionary/index.ts';
import { memoryFiles } from '../src/browser/files.ts';
import { nodeRuntime } from '../src/node/runtime.ts';
import { f32 } from '../src/tensor/host.ts';
import { rng } from './fixtures/checkpoints.ts';
import { makeRandomDictionary, randomTensor } from './fixtures/dictionaries.ts';

const rt = nodeRuntime();

/** 3 layers (an SAE 1) of 6 → 10; thresholds either side of zero, so negative pre-activations can survive. */
function makeDict(
  kind: DictionaryKind,
  activation: ActivationSpec,
  skip: boolean,
  applyBDec = false,
): Dictionary {
  return makeRandomDictionary({
    kind,
    activation,
    skip,
    applyBDecToInput: applyBDec,
    nLayers: 3,
    dModel: 6,
    dTc: 10,
    seed: kind.length * 7 + (skip ? 1 : 0),
    threshold: (u) => (u - 0.5) * 0.3,
  });
}

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  expect(worst).toBeLessThan(tol);
}

describe('ONNX dictionary graph matches the plain-TS reference', () => {
  const cases: [string, Dictionary][] = [
    ['PLT JumpReLU + skip', makeDict('plt', { kind: 'jumprelu', rectify: false }, true)],
    ['PLT TopK', makeDict('plt', { kind: 'topk', k: 3, rectify: false }, false)],
    ['CLT ReLU + skip', makeDict('clt', { kind: 'relu' }, true)],
    ['CLT JumpReLU', makeDict('clt', { kind: 'jumprelu', rectify: false }, false)],
    [
      'SAE JumpReLU (rectified, b_dec subtracted)',
      makeDict('sae', { kind: 'jumprelu', rectify: true }, false, true),
    ],
    ['SAE TopK (rectified)', makeDict('sae', { kind: 'topk', k: 4, rectify: true }, false)],
  ];
  for (const [name, dict] of cases) {
    it(name, async () => {
      const nL = dict.layers.length;
      const T = 5;
      const x = randomTensor([nL, T, dict.dModel], rng(99));
      const out = await runDictionary(rt, dict, x);
      const layerIn = Array.from({ length: nL }, (_, l) =>
        f32([T, dict.dModel], x.data.slice(l * T * dict.dModel, (l + 1) * T * dict.dModel)),
      );
      const ref = layerIn.map((xi, l) => referenceEncode(dict, l, xi));
      close(out.pre.data, Float32Array.from(ref.flatMap((r) => Array.from(r.pre.data))));
      close(out.acts.data, Float32Array.from(ref.flatMap((r) => Array.from(r.acts.data))));
      const recon = await referenceDecode(
        dict,
        ref.map((r) => r.acts),
        layerIn,
      );
      expect(out.recon?.shape).toEqual([nL, T, dict.dModel]);
      close(out.recon!.data, Float32Array.from(recon.flatMap((r) => Array.from(r.data))));
    });
  }

  it('encode-only graphs work without in-memory decoders; reconstruction demands them', async () => {
    const dict = makeDict('plt', { kind: 'relu' }, false);
    const lazy = { ...dict, layers: dict.layers.map(({ wDec, ...l }) => l), lazyDecoder: true };
    expect(() => buildDictionaryGraph(lazy)).toThrow(/needs in-memory W_dec/);
    const x = randomTensor([3, 2, 6], rng(5));
    const out = await runDictionary(rt, lazy, x, { reconstruction: false });
    expect(out.recon).toBeUndefined();
    expect(out.acts.data).toEqual((await runDictionary(rt, dict, x)).acts.data);
    await expect(runDictionary(rt, dict, f32([2, 2, 6]))).rejects.toThrow(/expected x \[3, T, 6\]/);
  });
});

describe('ONNX attribution components match the reference', () => {
  const cases: [string, Dictionary][] = [
    ['PLT JumpReLU + skip', makeDict('plt', { kind: 'jumprelu', rectify: false }, true)],
    ['CLT ReLU + skip', makeDict('clt', { kind: 'relu' }, true)],
    ['PLT TopK', makeDict('plt', { kind: 'topk', k: 2, rectify: false }, false)],
  ];
  for (const [name, eager] of cases) {
    it(`${name}, with a lazy decoder`, async () => {
      const files = memoryFiles();
      await writeDictionary('d', files, eager);
      const dict = await loadDictionary('d', files, { lazyDecoder: true });
      const x = randomTensor([dict.layers.length, 6, dict.dModel], rng(3));
      const zero = { start: 0, end: 2 };
      const got = await computeAttributionComponents(rt, dict, x, zero);
      const want = await referenceAttributionComponents(eager, x, zero);
      expect(got.activations.value.length).toBeGreaterThan(0);
      expect(Array.from(got.activations.layer)).toEqual(Array.from(want.activations.layer));
      expect(Array.from(got.activations.pos)).toEqual(Array.from(want.activations.pos));
      expect(Array.from(got.activations.feature)).toEqual(Array.from(want.activations.feature));
      close(got.activations.value, want.activations.value);
      expect(got.encoderVecs.data).toEqual(want.encoderVecs.data);
      expect(got.decoderVecs.shape).toEqual(want.decoderVecs.shape);
      close(got.decoderVecs.data, want.decoderVecs.data);
      expect(got.encoderToDecoderMap).toEqual(want.encoderToDecoderMap);
      expect(got.decoderLocations).toEqual(want.decoderLocations);
      close(got.reconstruction.data, want.reconstruction.data);
      await dict.close();
    });
  }

  it('handles a prompt with no active features', async () => {
    const dict = makeDict('plt', { kind: 'relu' }, false);
    const x = randomTensor([3, 1, 6], rng(8));
    const got = await computeAttributionComponents(rt, dict, x);
    expect(got.activations.value.length).toBe(0);
    expect(got.decoderVecs.shape).toEqual([0, 6]);
    const want = await referenceAttributionComponents(dict, x);
    close(got.reconstruction.data, want.reconstruction.data);
  });
});

describe('logit effects', () => {
  it('top and bottom tokens of rows @ unembed match a JS ranking', async () => {
    const r = rng(11);
    const rows = randomTensor([3, 6], r);
    const unembed = randomTensor([6, 40], r);
    const got = await topLogitEffects(rt, rows, unembed, 5);
    for (let i = 0; i < 3; i++) {
      const eff = new Float32Array(40);
      for (let v = 0; v < 40; v++) {
        let s = 0;
        for (let j = 0; j < 6; j++) s += rows.data[i * 6 + j] * unembed.data[j * 40 + v];
        eff[v] = s;
      }
      const want = topBottomIndices(eff, 5);
      expect(Array.from(got.top.subarray(i * 5, (i + 1) * 5))).toEqual(want.top);
      expect(Array.from(got.bottom.subarray(i * 5, (i + 1) * 5))).toEqual(want.bottom);
      close(
        got.topValues.subarray(i * 5, (i + 1) * 5),
        Float32Array.from(want.top, (v) => eff[v]),
      );
    }
    await expect(topLogitEffects(rt, rows, f32([5, 40]), 5)).rejects.toThrow(
      /expected rows \[N, d\] and unembed \[d, V\]/,
    );
    await expect(topLogitEffects(rt, rows, unembed, 41)).rejects.toThrow(/k must be in \[1, 40\]/);
  });
});
