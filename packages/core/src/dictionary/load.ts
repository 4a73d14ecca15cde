import type { FileAccess } from '../io/files.ts';
import type { ModelConfig } from '../model/config.ts';
import { BLOCK_HOOKS, isResidualHook } from '../model/hooks.ts';
import { type ReadOptions, readCircuitTracer } from './formats/circuit-tracer.ts';
import { type WriteOptions, writeCircuitTracer } from './formats/circuit-tracer-write.ts';
import { readGemmaScopeSae } from './formats/gemmascope.ts';
import { readSaeLens, writeSaeLens } from './formats/saelens.ts';
import type { Dictionary } from './types.ts';

export type DictionaryFormat = 'circuit-tracer' | 'saelens' | 'gemmascope';

export interface LoadOptions extends ReadOptions {
  /** GemmaScope SAEs only: the full hook name when the path does not say it. */
  hook?: string;
}

/** Which format a directory holds, from its marker file. */
export async function detectDictionaryFormat(dir: string, files: FileAccess): Promise<DictionaryFormat> {
  if (await files.exists(files.join(dir, 'config.yaml'))) return 'circuit-tracer';
  if (await files.exists(files.join(dir, 'cfg.json'))) return 'saelens';
  if (await files.exists(files.join(dir, 'params.npz'))) return 'gemmascope';
  throw new Error(
    `${dir}: no dictionary found (expected config.yaml for circuit-tracer, cfg.json for SAELens or params.npz for GemmaScope)`,
  );
}

/** Loads a PLT, CLT or SAE from a directory in any supported format. */
export async function loadDictionary(
  dir: string,
  files: FileAccess,
  opts: LoadOptions = {},
): Promise<Dictionary> {
  const format = await detectDictionaryFormat(dir, files);
  if (format === 'circuit-tracer') return readCircuitTracer(files, dir, opts);
  if (format === 'saelens') return readSaeLens(files, dir, opts);
  return readGemmaScopeSae(files, dir, { hook: opts.hook });
}

/** Writes transcoders in circuit-tracer's layout and SAEs in SAELens's (GemmaScope is read-only). */
export async function writeDictionary(
  dir: string,
  files: FileAccess,
  dict: Dictionary,
  format: Exclude<DictionaryFormat, 'gemmascope'> = dict.kind === 'sae' ? 'saelens' : 'circuit-tracer',
  opts: WriteOptions = {},
): Promise<void> {
  if (format === 'saelens') return writeSaeLens(files, dir, dict, opts);
  return writeCircuitTracer(files, dir, dict, opts);
}

/**
 * The one check that a dictionary fits a model (a clear error when it does not): the same d_model; hooks that
 * carry a [T, d_model] activation, the input read no later in the block than the output is written; every
 * layer inside the model. A transcoder covers layers 0..L−1 in order, as attribution and constrained
 * interventions need, unless `everyLayer` is false (evaluating or intervening on a few layers); an SAE has one
 * layer.
 */
export function validateAgainstModel(
  dict: Dictionary,
  cfg: ModelConfig,
  opts: { everyLayer?: boolean } = {},
): void {
  if (dict.dModel !== cfg.dModel) {
    throw new Error(`dictionary d_model ${dict.dModel} does not match the model's d_model ${cfg.dModel}`);
  }
  for (const hook of [dict.hooks.input, dict.hooks.output]) {
    if (!BLOCK_HOOKS.includes(hook)) throw new Error(`dictionary hook '${hook}' is not a known block hook`);
    if (!isResidualHook(hook)) {
      throw new Error(`dictionary hook '${hook}' does not carry a [T, d_model] activation`);
    }
  }
  if (BLOCK_HOOKS.indexOf(dict.hooks.input) > BLOCK_HOOKS.indexOf(dict.hooks.output)) {
    throw new Error(`dictionary reads ${dict.hooks.input}, after the hook it writes (${dict.hooks.output})`);
  }
  if (dict.layers.length === 0) throw new Error('the dictionary has no layers');
  for (const { layer } of dict.layers) {
    if (!(layer >= 0 && layer < cfg.nLayers)) {
      const what = dict.kind === 'sae' ? 'SAE hook layer' : 'dictionary layer';
      throw new Error(`${what} ${layer} is outside a model with ${cfg.nLayers} layers`);
    }
  }
  if (dict.kind === 'sae' || opts.everyLayer === false) return;
  if (dict.layers.length !== cfg.nLayers) {
    throw new Error(
      `${dict.kind.toUpperCase()} has ${dict.layers.length} layers but the model has ${cfg.nLayers}; a transcoder needs one per layer`,
    );
  }
  dict.layers.forEach(({ layer }, i) => {
    if (layer !== i)
      throw new Error(`transcoder layer ${i} reads model layer ${layer}; layers must be 0..L−1 in order`);
  });
}
