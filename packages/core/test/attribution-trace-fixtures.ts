/** Random transcoders for the tracing tests (generated from a seed, never stored). */
import { join } from 'node:path';
import { writeDictionary } from '../src/dictionary/load.ts';
import type { ActivationSpec, Dictionary, DictionaryHooks, DictionaryKind } from '../src/dictionary/types.ts';
import type { ModelConfig } from '../src/model/config.ts';
import { nodeFiles } from '../src/node/files.ts';
import { writeRandomCheckpoint } from './fixtures/checkpoints.ts';
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

/**
 * A random llama checkpoint on disk with a skip PLT written to `transcoders/` beside it: the input of the CLI
 * and worker attribute tests, which must trace the same graph from the same files.
 */
export async function writeAttributeFixture(seed: number): Promise<{ model: string; transcoders: string }> {
  const ck = await writeRandomCheckpoint('llama', { seed });
  const transcoders = join(ck.dir, 'transcoders');
  const dict = randomDictionary(
    ck.config,
    {
      kind: 'plt',
      activation: { kind: 'jumprelu', rectify: false },
      skip: true,
      hooks: { input: 'mlp.hook_in', output: 'mlp.hook_out' },
    },
    7,
    32,
  );
  await writeDictionary(transcoders, nodeFiles(), dict);
  return { model: ck.dir, transcoders };
}
