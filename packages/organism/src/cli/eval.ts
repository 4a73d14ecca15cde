/**
 * pnpm organism:eval [--model DIR] [--seed N] [--json FILE] [--limit N]
 * Loads a checkpoint through the same path as any external one and prints greedy per-task accuracy on the
 * curriculum's eval sets (held-out items included). --limit keeps the first N items of each task (quick looks).
 */
import path from 'node:path';
import { loadCheckpoint, Model } from '@loupe/core';
import { nodeFiles, nodeRuntime } from '@loupe/core/node';
import { evalSets } from '../curriculum/index.ts';
import { evaluate, formatTable } from '../eval/score.ts';
import { greedyGenerate } from '../generate.ts';
import { loadTokenizer } from '../tokenizer.ts';
import { parseArgs } from './args.ts';

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2), {
    model: 'string',
    seed: 'int',
    json: 'string',
    limit: 'int',
  });
  const repoRoot = path.resolve(import.meta.dirname, '../../../..');
  const dir = path.resolve(
    (args.model as string | undefined) ?? path.join(repoRoot, 'packages/organism/models/organism-m'),
  );
  const files = nodeFiles();
  const readJson = async (name: string): Promise<Record<string, unknown>> => {
    const p = files.join(dir, name);
    if (!(await files.exists(p)))
      throw new Error(`${p} does not exist (train first: pnpm organism:train --size m)`);
    const v: unknown = JSON.parse(await files.readText(p));
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${p} is not a JSON object`);
    return v as Record<string, unknown>;
  };
  const tok = loadTokenizer({
    tokenizer: await readJson('tokenizer.json'),
    config: await readJson('tokenizer_config.json'),
  });
  const ckpt = await loadCheckpoint(dir, files);
  const model = await Model.create(ckpt.config, ckpt.weights, ckpt.tokenizer, nodeRuntime());
  const limit = args.limit as number | undefined;
  const sets = evalSets((args.seed as number | undefined) ?? 1);
  if (limit !== undefined)
    for (const k of Object.keys(sets) as (keyof typeof sets)[]) sets[k] = sets[k].slice(0, limit);
  const { rows } = await evaluate(sets, tok, greedyGenerate(model, [tok.eosId]));
  console.log(formatTable(rows));
  if (args.json)
    await files.writeFile(path.resolve(args.json as string), `${JSON.stringify(rows, null, 2)}\n`);
}

main().catch((e: unknown) => {
  console.error(`organism:eval: ${(e as Error).message}`);
  process.exit(1);
});
