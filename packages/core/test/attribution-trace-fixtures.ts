/** Random transcoders for the tracing tests (generated from a seed, never stored). */
import {
  type ActivationSpec,
  type Dictionary,
  type DictionaryHooks,
  type DictionaryKind,
  type DictionaryLayer,
  memoryDecoder,
} from '../src/dictionary/types.ts';
import type { ModelConfig } from '../src/model/config.ts';
import { type F32, f32 } from '../src/tensor/host.ts';

function rand(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5;
  };
}

function randT(shape: number[], r: () => number, scale = 1): F32 {
  const t = f32(shape);
  for (let i = 0; i < t.data.length; i++) t.data[i] = r() * scale;
  return t;
}

export interface DictCase {
  kind: DictionaryKind;
  activation: ActivationSpec;
  skip: boolean;
  hooks: DictionaryHooks;
}

export function randomDictionary(config: ModelConfig, c: DictCase, seed: number, dTc = 24): Dictionary {
  const L = config.nLayers;
  const d = config.dModel;
  const r = rand(seed);
  const layers: DictionaryLayer[] = Array.from({ length: L }, (_, i) => ({
    layer: i,
    wEnc: randT([dTc, d], r, 2),
    bEnc: randT([dTc], r, 0.2),
    wDec: randT(c.kind === 'clt' ? [dTc, L - i, d] : [dTc, d], r, 0.5),
    bDec: randT([d], r, 0.2),
    threshold:
      c.activation.kind === 'jumprelu'
        ? f32(
            [dTc],
            Array.from({ length: dTc }, () => (r() + 0.5) * 0.3),
          )
        : undefined,
    wSkip: c.skip ? randT([d, d], r, 0.5) : undefined,
  }));
  return {
    kind: c.kind,
    dModel: d,
    dTc,
    layers,
    activation: c.activation,
    hooks: c.hooks,
    dtype: 'float32',
    applyBDecToInput: false,
    decoder: memoryDecoder(layers),
    lazyDecoder: false,
    meta: { scan: `random-${c.kind}-${seed}` },
    close: async () => {},
  };
}
