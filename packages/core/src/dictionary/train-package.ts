import { f32, type F32 } from '../tensor/host.ts';
import { type Dictionary, type DictionaryLayer, memoryDecoder } from './types.ts';
import type { Resolved } from './train-options.ts';
/** Folds the normalisation scales back and packages the trained parameters as a Dictionary. */
export function dictionaryFromParameters(
  r: Pick<Resolved, 'kind' | 'width' | 'hooks' | 'layers'>,
  d: number,
  params: Record<string, F32>,
  theta: Float64Array, // [L] in normalised pre-activation units (unchanged by the fold)
  inScale: Float64Array,
  outScale: Float64Array,
  meta: Record<string, unknown> = {},
): Dictionary {
  const L = r.layers.length;
  const w = r.width;
  const slice = (t: F32, l: number, n: number) => t.data.subarray(l * n, (l + 1) * n);
  const layers: DictionaryLayer[] = r.layers.map((layer, l) => {
    const wEnc = Float32Array.from(slice(params.wEnc, l, w * d), (v) => v / inScale[l]);
    const bDec = Float32Array.from(slice(params.bDec, l, d), (v) => v * outScale[l]);
    let wDec: F32;
    if (r.kind === 'clt') {
      const src = params[`wDec${l}`].data; // [w, L − l, d]
      const out = new Float32Array(src.length);
      const nOut = L - l;
      for (let f = 0; f < w; f++) {
        for (let o = 0; o < nOut; o++) {
          const at = (f * nOut + o) * d;
          for (let j = 0; j < d; j++) out[at + j] = src[at + j] * outScale[l + o];
        }
      }
      wDec = f32([w, nOut, d], out);
    } else
      wDec = f32(
        [w, d],
        Float32Array.from(slice(params.wDec, l, w * d), (v) => v * outScale[l]),
      );
    return {
      layer,
      wEnc: f32([w, d], wEnc),
      bEnc: f32([w], Float32Array.from(slice(params.bEnc, l, w))),
      wDec,
      bDec: f32([d], bDec),
      threshold: f32([w], new Float32Array(w).fill(Math.max(theta[l], 0))),
    };
  });
  return {
    kind: r.kind,
    dModel: d,
    dTc: w,
    layers,
    // θ > 0, so rectifying or not is the same function; SAELens's JumpReLU is the rectifying one.
    activation: { kind: 'jumprelu', rectify: r.kind === 'sae' },
    hooks: r.hooks,
    dtype: 'float32',
    applyBDecToInput: false,
    decoder: memoryDecoder(layers),
    lazyDecoder: false,
    meta,
    close: async () => {},
  };
}
