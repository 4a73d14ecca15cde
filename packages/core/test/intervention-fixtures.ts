/** Shared fixtures of the intervention tests: a random model of each architecture with a random transcoder. */
import type { ActivationSpec, Dictionary, DictionaryHooks, DictionaryKind } from '../src/dictionary/types.ts';
import { Intervener } from '../src/intervention/intervener.ts';
import type { Architecture } from '../src/model/config.ts';
import { Model } from '../src/model/model.ts';
import { nodeRuntime } from '../src/node/runtime.ts';
import { makeRandomCheckpoint } from './fixtures/checkpoints.ts';
import { makeRandomDictionary } from './fixtures/dictionaries.ts';

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
  return makeRandomDictionary({
    kind: o.kind,
    activation: o.act,
    skip: o.skip,
    hooks: o.hooks ?? { input: 'mlp.hook_in', output: 'hook_mlp_out' },
    nLayers,
    dModel,
    dTc: o.dTc ?? 24,
    seed: o.seed ?? 7,
    scale: { wEnc: 1 / Math.sqrt(dModel), bEnc: 0.2, wDec: 0.5, bDec: 0.1, wSkip: 0.2 },
    threshold: (u) => u * 0.1,
  });
}

export async function setup(arch: Architecture, o: DictOptions = {}) {
  const { config, weights } = makeRandomCheckpoint(arch, {}, 3);
  const model = await Model.create(config, weights, undefined, rt);
  const dict = randomDictionary(config.nLayers, config.dModel, o);
  return { model, dict, iv: Intervener.create(model, dict) };
}
