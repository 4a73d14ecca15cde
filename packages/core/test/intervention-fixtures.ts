/** Shared fixtures of the intervention tests: a random model of each architecture with a random transcoder. */
import {
  type ActivationSpec,
  type Dictionary,
  type DictionaryHooks,
  type DictionaryKind,
  type DictionaryLayer,
  memoryDecoder,
} from '../src/dictionary/types.ts';
import { Intervener } from '../src/intervention/intervener.ts';
import type { Architecture } from '../src/model/config.ts';
import { Model } from '../src/model/model.ts';
import { nodeRuntime } from '../src/node/runtime.ts';
import { type F32, f32 } from '../src/tensor/host.ts';
import { makeRandomCheckpoint, rng } from './fixtures/checkpoints.ts';

const rt = nodeRuntime();
export const ARCHS: Architecture[] = ['gpt2', 'llama', 'gemma2', 'qwen2', 'qwen3'];
export const TOKENS = Int32Array.of(1, 5, 9, 3, 17, 4, 11);

export interface DictOptions {
  kind?: DictionaryKind;
  act?: ActivationSpec;
  skip?: boolean;
  hooks?: DictionaryHooks;
  dTc?: number;
  seed?: number;
}

/** A random transcoder for a model: thresholds low enough that many features fire. */
export function randomDictionary(nLayers: number, dModel: number, o: DictOptions = {}): Dictionary {
  const kind = o.kind ?? 'plt';
  const act = o.act ?? { kind: 'jumprelu', rectify: false };
  const dTc = o.dTc ?? 24;
  const r = rng(o.seed ?? 7);
  const mat = (shape: number[], s: number): F32 => {
    const t = f32(shape);
    for (let i = 0; i < t.data.length; i++) t.data[i] = (r() * 2 - 1) * s;
    return t;
  };
  const layers: DictionaryLayer[] = Array.from({ length: nLayers }, (_, l) => ({
    layer: l,
    wEnc: mat([dTc, dModel], 1 / Math.sqrt(dModel)),
    bEnc: mat([dTc], 0.2),
    wDec: mat(kind === 'clt' ? [dTc, nLayers - l, dModel] : [dTc, dModel], 0.5),
    bDec: mat([dModel], 0.1),
    threshold:
      act.kind === 'jumprelu'
        ? f32(
            [dTc],
            Array.from({ length: dTc }, () => r() * 0.1),
          )
        : undefined,
    wSkip: o.skip ? mat([dModel, dModel], 0.2) : undefined,
  }));
  return {
    kind,
    dModel,
    dTc,
    layers,
    activation: act,
    hooks: o.hooks ?? { input: 'mlp.hook_in', output: 'hook_mlp_out' },
    dtype: 'float32',
    applyBDecToInput: false,
    decoder: memoryDecoder(layers),
    lazyDecoder: false,
    meta: {},
    close: async () => {},
  };
}

export async function setup(arch: Architecture, o: DictOptions = {}) {
  const { config, weights } = makeRandomCheckpoint(arch, {}, 3);
  const model = await Model.create(config, weights, undefined, rt);
  const dict = randomDictionary(config.nLayers, config.dModel, o);
  return { model, dict, iv: Intervener.create(model, dict) };
}
