/** Random transcoders for the tracing tests (generated from a seed, never stored). */
import type { ActivationSpec, Dictionary, DictionaryHooks, DictionaryKind } from '../src/dictionary/types.ts';
import type { ModelConfig } from '../src/model/config.ts';
import { makeRandomDictionary } from './fixtures/dictionaries.ts';

export interface DictCase {
  kind: DictionaryKind;
  activation: ActivationSpec;
  skip: boolean;
  hooks: DictionaryHooks;
}

/** Strong encoders and thresholds in [0, 0.3), so that more than ten features fire on a short prompt. */
export function randomDictionary(config: ModelConfig, c: DictCase, seed: number, dTc = 24): Dictionary {
  return makeRandomDictionary({
    ...c,
    nLayers: config.nLayers,
    dModel: config.dModel,
    dTc,
    seed,
    scale: { wEnc: 1, bEnc: 0.1, wDec: 0.25, bDec: 0.1, wSkip: 0.25 },
    threshold: (u) => u * 0.3,
    meta: { scan: `random-${c.kind}-${seed}` },
  });
}
