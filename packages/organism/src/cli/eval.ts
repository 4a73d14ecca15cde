/**
 * pnpm organism:eval [--model DIR|organism-s|organism-m] [--seed N] [--json FILE] [--limit N]
 * Loads a checkpoint through the same path as any external one and prints greedy per-task accuracy on the
 * curriculum's eval sets (held-out items included). --limit keeps the first N items of each task (quick looks).
 */
import path from 'node:path';
import { nodeFiles, nodeRuntime } from '@loupe/core/node';
import { evaluateCheckpoint } from '../eval/run.ts';
import { formatTable } from '../eval/score.ts';
import { resolveModelDir } from '../shipped.ts';
import { type ParsedArgs, runCommand } from './args.ts';

async function main(args: ParsedArgs): Promise<void> {
  const dir = resolveModelDir((args.model as string | undefined) ?? 'organism-m');
  const files = nodeFiles();
  if (!(await files.exists(files.join(dir, 'config.json'))))
    throw new Error(`${dir} has no config.json (train first: pnpm organism:train --size m)`);
  const rows = await evaluateCheckpoint(dir, files, nodeRuntime(), {
    seed: args.seed as number | undefined,
    limit: args.limit as number | undefined,
  });
  console.log(formatTable(rows));
  if (args.json)
    await files.writeFile(path.resolve(args.json as string), `${JSON.stringify(rows, null, 2)}\n`);
}

runCommand(
  'organism:eval',
  {
    model: 'string',
    seed: 'int',
    json: 'string',
    limit: 'int',
  },
  main,
);
