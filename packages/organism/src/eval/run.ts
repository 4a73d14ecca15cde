import { type FileAccess, loadCheckpoint, Model, type Runtime } from '@loupe/core';
import { evalSets } from '../curriculum/index.ts';
import { greedyGenerate } from '../generate.ts';
import { loadTokenizer } from '../tokenizer.ts';
import { type AccuracyRow, evaluate } from './score.ts';

export interface EvalRunOptions {
  /** The curriculum seed whose held-out splits are scored; the shipped organisms use 1. */
  seed?: number;
  /** Keeps the first N items of each task (quick looks). */
  limit?: number;
}

async function readJsonObject(files: FileAccess, p: string): Promise<Record<string, unknown>> {
  if (!(await files.exists(p))) throw new Error(`${p} does not exist`);
  let v: unknown;
  try {
    v = JSON.parse(await files.readText(p));
  } catch (e) {
    throw new Error(`${p}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${p} is not a JSON object`);
  return v as Record<string, unknown>;
}

/**
 * Loads a checkpoint directory through `loadCheckpoint` and `Model.create` (the path every external
 * checkpoint takes) and scores it greedily on the curriculum's eval sets.
 */
export async function evaluateCheckpoint(
  dir: string,
  files: FileAccess,
  runtime: Runtime,
  options: EvalRunOptions = {},
): Promise<AccuracyRow[]> {
  const tok = loadTokenizer({
    tokenizer: await readJsonObject(files, files.join(dir, 'tokenizer.json')),
    config: await readJsonObject(files, files.join(dir, 'tokenizer_config.json')),
  });
  const ckpt = await loadCheckpoint(dir, files);
  const model = await Model.create(ckpt.config, ckpt.weights, ckpt.tokenizer, runtime);
  const sets = evalSets(options.seed ?? 1);
  if (options.limit !== undefined) {
    for (const k of Object.keys(sets) as (keyof typeof sets)[]) sets[k] = sets[k].slice(0, options.limit);
  }
  const { rows } = await evaluate(sets, tok, greedyGenerate(model, [tok.eosId]));
  return rows;
}
