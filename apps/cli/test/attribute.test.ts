import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  attribute,
  importGraphJson,
  importRawGraph,
  loadCheckpoint,
  loadDictionary,
  Model,
  toDense,
  writeDictionary,
} from '@loupe/core';
import { nodeFiles, nodeRuntime } from '@loupe/core/node';
import { afterAll, describe, expect, it } from 'vitest';
import { randomDictionary } from '../../../packages/core/test/attribution-trace-fixtures.ts';
import {
  removeFixtureDirs,
  writeRandomCheckpoint,
} from '../../../packages/core/test/fixtures/checkpoints.ts';
import { loupe } from './helpers.ts';

afterAll(removeFixtureDirs);

describe('loupe attribute', () => {
  it('writes graph JSON and the raw graph, identical to attribute() called directly', async () => {
    const ck = await writeRandomCheckpoint('llama', { seed: 3 });
    const tcDir = join(ck.dir, 'transcoders');
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
    await writeDictionary(tcDir, nodeFiles(), dict);
    const out = join(ck.dir, 'graph.json');
    const raw = join(ck.dir, 'graph.safetensors');
    const c = await loupe([
      'attribute',
      '--model',
      ck.dir,
      '--transcoders',
      tcDir,
      '--tokens',
      '5,9,3,12,7',
      '--out',
      out,
      '--raw',
      raw,
      '--batch-size',
      '16',
    ]);
    expect(c.err).not.toMatch(/loupe attribute:/);
    expect(c.code).toBe(0);
    expect(c.out).toMatch(/graph\.json: \d+ nodes, \d+ links/);
    expect(c.err).toMatch(/attribute: 100%/);

    const json = importGraphJson(await readFile(out, 'utf8'));
    expect(json.nodes.length).toBeGreaterThan(0);
    const fromCli = await importRawGraph(new Uint8Array(await readFile(raw)));

    const loaded = await loadCheckpoint(ck.dir, nodeFiles());
    const rt = nodeRuntime();
    const model = await Model.create(loaded.config, loaded.weights, loaded.tokenizer, rt);
    const direct = await attribute(
      model,
      await loadDictionary(tcDir, nodeFiles()),
      { tokens: [5, 9, 3, 12, 7] },
      { modelName: 'transcoders' },
    );
    await rt.release();
    expect(Array.from(fromCli.inputTokens)).toEqual(Array.from(direct.inputTokens));
    expect(fromCli.inputTokens[0]).toBe(loaded.tokenizer?.bosId);
    expect(Array.from(fromCli.selectedFeatures)).toEqual(Array.from(direct.selectedFeatures));
    expect(toDense(fromCli.adjacency).data).toEqual(toDense(direct.adjacency).data);
  });

  it('rejects bad command lines with exit code 2', async () => {
    const base = ['--model', 'm', '--transcoders', 't', '--tokens', '1,2'];
    const cases: [string[], RegExp][] = [
      [[...base, '--out', 'g.txt'], /--out: must end in .json/],
      [[...base, '--out', 'g.json', '--max-feature-nodes', '0'], /--max-feature-nodes/],
      [[...base, '--out', 'g.json', '--desired-logit-prob', '1.5'], /--desired-logit-prob/],
      [
        ['--model', 'm', '--transcoders', 't', '--out', 'g.json'],
        /exactly one of --prompt TEXT or --tokens IDS/,
      ],
      [[...base, '--out', 'g.json', '--raw', 'r.bin'], /--raw: must end in .safetensors/],
    ];
    for (const [args, message] of cases) {
      const c = await loupe(['attribute', ...args]);
      expect(c.code).toBe(2);
      expect(c.err).toMatch(message);
    }
  });
});
