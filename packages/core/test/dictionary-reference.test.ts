import { describe, expect, it } from 'vitest';
import {
  type ActivationSpec,
  applyActivation,
  coalesceSparse,
  type Dictionary,
  type DictionaryKind,
  referenceAttributionComponents,
  referenceDecode,
  referenceEncode,
  sparseFromDense,
} from '../src/dictionary/index.ts';
import { f32 } from '../src/tensor/host.ts';
import { rng } from './fixtures/checkpoints.ts';
import { makeRandomDictionary, randomTensor } from './fixtures/dictionaries.ts';

/** Thresholds either side of zero, so negative pre-activations can survive. */
function makeDict(
  kind: DictionaryKind,
  activation: ActivationSpec,
  skip: boolean,
  nLayers = 3,
  dModel = 5,
  dTc = 7,
): Dictionary {
  return makeRandomDictionary({
    kind,
    activation,
    skip,
    nLayers,
    dModel,
    dTc,
    seed: kind.length * 31 + nLayers,
    threshold: (u) => (u - 0.5) * 0.2,
  });
}

describe('activation functions', () => {
  const pre = Float32Array.from([-1, 0.05, 0.3, 2, -0.2, 0.1, 0.1, 5]); // two rows of 4
  it('ReLU', () => {
    expect(Array.from(applyActivation(pre, 4, { kind: 'relu' }))).toEqual(
      [0, 0.05, 0.3, 2, 0, 0.1, 0.1, 5].map(Math.fround),
    );
  });
  it('JumpReLU keeps x where x > θ (strictly), raw or rectified', () => {
    const th = Float32Array.from([-2, 0.05, 0.2, 3]);
    expect(Array.from(applyActivation(pre, 4, { kind: 'jumprelu', rectify: false }, th))).toEqual(
      [-1, 0, 0.3, 0, -0.2, 0.1, 0, 5].map(Math.fround),
    );
    expect(Array.from(applyActivation(pre, 4, { kind: 'jumprelu', rectify: true }, th))).toEqual(
      [0, 0, 0.3, 0, 0, 0.1, 0, 5].map(Math.fround),
    );
    expect(() => applyActivation(pre, 4, { kind: 'jumprelu', rectify: false })).toThrow(/threshold/);
  });
  it('TopK keeps the k largest per row (ties → lower index), optionally rectified', () => {
    expect(Array.from(applyActivation(pre, 4, { kind: 'topk', k: 2, rectify: false }))).toEqual(
      [0, 0, 0.3, 2, 0, 0.1, 0, 5].map(Math.fround),
    );
    const neg = Float32Array.from([-3, -1, -2, -4]);
    expect(Array.from(applyActivation(neg, 4, { kind: 'topk', k: 1, rectify: false }))).toEqual([
      0, -1, 0, 0,
    ]);
    expect(Array.from(applyActivation(neg, 4, { kind: 'topk', k: 1, rectify: true }))).toEqual([0, 0, 0, 0]);
  });
});

describe('encode/decode reference', () => {
  it('applyBDecToInput subtracts b_dec before encoding (SAELens)', () => {
    const dict = makeDict('sae', { kind: 'relu' }, false);
    const x = randomTensor([3, 5], rng(9));
    const shifted = f32(
      [3, 5],
      x.data.map((v, i) => v - dict.layers[0].bDec.data[i % 5]),
    );
    const a = referenceEncode({ ...dict, applyBDecToInput: true }, 0, x);
    const b = referenceEncode(dict, 0, shifted);
    expect(a.pre.data).toEqual(b.pre.data);
  });

  it('CLT decoding writes W_dec_l[:, k−l] into every later layer', async () => {
    const dict = makeDict('clt', { kind: 'relu' }, false, 3, 2, 2);
    const t = 1;
    const acts = [f32([t, 2], [1, 0]), f32([t, 2], [0, 0]), f32([t, 2], [0, 0])];
    const out = await referenceDecode(dict, acts);
    const w = dict.layers[0].wDec!.data; // [2 features, 3 outputs, 2]
    for (let k = 0; k < 3; k++) {
      for (let j = 0; j < 2; j++) {
        expect(out[k].data[j]).toBeCloseTo(w[(0 * 3 + k) * 2 + j] + dict.layers[k].bDec.data[j], 6);
      }
    }
  });
});

describe('attribution components (circuit-tracer compute_attribution_components)', () => {
  const cases: [DictionaryKind, ActivationSpec, boolean][] = [
    ['plt', { kind: 'jumprelu', rectify: false }, true],
    ['plt', { kind: 'topk', k: 3, rectify: false }, false],
    ['clt', { kind: 'relu' }, true],
    ['clt', { kind: 'jumprelu', rectify: false }, false],
  ];
  for (const [kind, act, skip] of cases) {
    it(`${kind} ${act.kind}${skip ? ' + skip' : ''}: identities hold`, async () => {
      const dict = makeDict(kind, act, skip);
      const nL = dict.layers.length;
      const T = 4;
      const d = dict.dModel;
      const inputs = randomTensor([nL, T, d], rng(42));
      const c = await referenceAttributionComponents(dict, inputs);
      const s = c.activations;
      const nActive = s.value.length;
      expect(nActive).toBeGreaterThan(0);

      // Canonical order and no activity at the zero position.
      expect(coalesceSparse(s)).toEqual(s);
      expect(s.pos.every((p) => p !== 0)).toBe(true);
      expect(c.encoderVecs.shape).toEqual([nActive, d]);
      for (let i = 0; i < nActive; i++) {
        const w = dict.layers[s.layer[i]].wEnc.data.subarray(s.feature[i] * d, (s.feature[i] + 1) * d);
        expect(Array.from(c.encoderVecs.data.subarray(i * d, (i + 1) * d))).toEqual(Array.from(w));
      }

      // Decoder count: one per active PLT feature; L − l per active CLT feature at layer l.
      let expected = 0;
      for (let i = 0; i < nActive; i++) expected += kind === 'clt' ? nL - s.layer[i] : 1;
      expect(c.decoderVecs.shape).toEqual([expected, d]);
      expect(c.encoderToDecoderMap.length).toBe(expected);
      const nDec = expected;
      for (let j = 0; j < nDec; j++) {
        const src = c.encoderToDecoderMap[j];
        expect(c.decoderLocations[nDec + j]).toBe(s.pos[src]);
        expect(c.decoderLocations[j]).toBeGreaterThanOrEqual(s.layer[src]);
      }

      // mlp_out = Σ a·W_dec + b_dec + skip + error, with the error taken against a dense decode.
      const dense = f32([nL, T, dict.dTc]);
      s.value.forEach((v, i) => {
        dense.data[(s.layer[i] * T + s.pos[i]) * dict.dTc + s.feature[i]] = v;
      });
      const layerActs = Array.from({ length: nL }, (_, l) =>
        f32([T, dict.dTc], dense.data.slice(l * T * dict.dTc, (l + 1) * T * dict.dTc)),
      );
      const layerIn = Array.from({ length: nL }, (_, l) =>
        f32([T, d], inputs.data.slice(l * T * d, (l + 1) * T * d)),
      );
      const decoded = await referenceDecode(dict, layerActs, layerIn);
      const sum = new Float32Array(nL * T * d);
      for (let k = 0; k < nL; k++) {
        for (let i = 0; i < T * d; i++) sum[k * T * d + i] = dict.layers[k].bDec.data[i % d];
        if (skip) {
          const w = dict.layers[k].wSkip!.data;
          for (let p = 0; p < T; p++)
            for (let o = 0; o < d; o++)
              for (let q = 0; q < d; q++)
                sum[(k * T + p) * d + o] += layerIn[k].data[p * d + q] * w[o * d + q];
        }
      }
      for (let j = 0; j < nDec; j++) {
        const k = c.decoderLocations[j];
        const p = c.decoderLocations[nDec + j];
        for (let o = 0; o < d; o++) sum[(k * T + p) * d + o] += c.decoderVecs.data[j * d + o];
      }
      for (let k = 0; k < nL; k++) {
        for (let i = 0; i < T * d; i++) {
          expect(c.reconstruction.data[k * T * d + i]).toBeCloseTo(sum[k * T * d + i], 5);
          expect(c.reconstruction.data[k * T * d + i]).toBeCloseTo(decoded[k].data[i], 5);
        }
      }
    });
  }

  it('rejects inputs of the wrong shape', async () => {
    const dict = makeDict('plt', { kind: 'relu' }, false);
    await expect(referenceAttributionComponents(dict, f32([2, 4, 5]))).rejects.toThrow(
      /expected inputs \[3, T, 5\]/,
    );
  });
});

describe('sparse activations', () => {
  it('sparseFromDense is canonical and coalesce sums duplicates', () => {
    const dense = f32([2, 2, 3], [0, 1, 0, 0, 0, 2, 3, 0, 0, 0, 4, 0]);
    const s = sparseFromDense(dense);
    expect(Array.from(s.layer)).toEqual([0, 0, 1, 1]);
    expect(Array.from(s.pos)).toEqual([0, 1, 0, 1]);
    expect(Array.from(s.feature)).toEqual([1, 2, 0, 1]);
    const shuffled = {
      ...s,
      layer: Int32Array.from([1, 0, 1, 0, 0]),
      pos: Int32Array.from([1, 1, 0, 0, 1]),
      feature: Int32Array.from([1, 2, 0, 1, 2]),
      value: Float32Array.from([4, 2, 3, 1, 5]),
    };
    const c = coalesceSparse(shuffled);
    expect(Array.from(c.value)).toEqual([1, 7, 3, 4]);
    expect(Array.from(c.feature)).toEqual([1, 2, 0, 1]);
  });
});
