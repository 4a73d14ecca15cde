import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { writeDictionary } from '@loupe/core';
import { nodeFiles } from '@loupe/core/node';
import { afterAll, describe, expect, it } from 'vitest';
import { randomDictionary } from '../../../packages/core/test/attribution-trace-fixtures.ts';
import {
  removeFixtureDirs,
  writeRandomCheckpoint,
} from '../../../packages/core/test/fixtures/checkpoints.ts';
import { attributeParams, runAttribute } from '../src/handlers/attribute.ts';
import type { JobContext } from '../src/registry.ts';

afterAll(removeFixtureDirs);

const repoRoot = resolve(import.meta.dirname, '../../..');

async function fixture() {
  const ck = await writeRandomCheckpoint('llama', { seed: 3 });
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

function context(signal = new AbortController().signal) {
  const progress: number[] = [];
  const ctx: JobContext = {
    signal,
    progress: (p) => progress.push(p),
    log: () => {},
    jobId: 'j',
    workerId: 'w',
    attempt: 1,
  };
  return { ctx, progress };
}

describe('attribute handler', () => {
  it('produces exactly the graph JSON of `pnpm loupe attribute` on the same inputs', async () => {
    const f = await fixture();
    const out = join(f.model, 'graph.json');
    // The same command `pnpm loupe` runs (package.json: tsx apps/cli/src/main.ts), as a separate process.
    await promisify(execFile)(
      process.execPath,
      [
        '--import',
        'tsx',
        'apps/cli/src/main.ts',
        'attribute',
        '--model',
        f.model,
        '--transcoders',
        f.transcoders,
        '--tokens',
        '5,9,3,12,7',
        '--batch-size',
        '16',
        '--out',
        out,
      ],
      { cwd: repoRoot },
    );
    const fromCli = JSON.parse(await readFile(out, 'utf8'));

    const { ctx, progress } = context();
    const params = attributeParams.parse({ ...f, tokens: [5, 9, 3, 12, 7], batchSize: 16, slug: 'graph' });
    const stored = await runAttribute(params, ctx);
    expect(JSON.parse(JSON.stringify(stored.graph.graph))).toEqual(fromCli);
    expect(stored.graph.slug).toBe('graph');
    expect(stored.summary.nodes).toBe(fromCli.nodes.length);
    expect(stored.summary.links).toBe(fromCli.links.length);
    expect(stored.summary.tokens).toBe(6);
    expect(progress.at(-1)).toBe(100);
  });

  it('validates params like the CLI validates flags', () => {
    const base = { model: 'm', transcoders: 't' };
    expect(() => attributeParams.parse(base)).toThrow(/exactly one of prompt or tokens/);
    expect(() => attributeParams.parse({ ...base, prompt: 'a', tokens: [1] })).toThrow(/exactly one/);
    expect(() => attributeParams.parse({ ...base, tokens: [1], desiredLogitProb: 1.5 })).toThrow();
    expect(() => attributeParams.parse({ ...base, tokens: [1], maxFeatureNodes: 0 })).toThrow();
    expect(attributeParams.parse({ ...base, prompt: 'hi' })).toMatchObject({
      maxFeatureNodes: 'all',
      maxNLogits: 10,
      desiredLogitProb: 0.95,
      batchSize: 64,
      nodeThreshold: 0.8,
      edgeThreshold: 0.98,
    });
  });

  it('names a missing model directory and stops when cancelled', async () => {
    const missing = attributeParams.parse({
      model: '/nonexistent/model',
      transcoders: '/nonexistent/tc',
      tokens: [1],
    });
    await expect(runAttribute(missing, context().ctx)).rejects.toThrow(/\/nonexistent\/model/);
    const f = await fixture();
    const ac = new AbortController();
    ac.abort(new Error('cancelled by test'));
    const params = attributeParams.parse({ ...f, tokens: [5, 9, 3] });
    await expect(runAttribute(params, context(ac.signal).ctx)).rejects.toThrow(/cancelled by test/);
  });
});
