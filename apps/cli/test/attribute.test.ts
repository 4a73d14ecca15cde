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
} from '@loupe/core';
import { nodeFiles, nodeRuntime } from '@loupe/core/node';
import { afterAll, describe, expect, it } from 'vitest';
import { writeAttributeFixture, removeFixtureDirs } from '@loupe/core/testing';
import { loupe } from './helpers.ts';

afterAll(removeFixtureDirs);

describe('loupe attribute', () => {
  it('writes graph JSON and the raw graph, identical to attribute() called directly', async () => {
    const f = await writeAttributeFixture(3);
    const out = join(f.model, 'graph.json');
    const raw = join(f.model, 'graph.safetensors');
    const c = await loupe([
      'attribute',
      '--model',
      f.model,
      '--transcoders',
      f.transcoders,
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

    const loaded = await loadCheckpoint(f.model, nodeFiles());
    const rt = nodeRuntime();
    const model = await Model.create(loaded.config, loaded.weights, loaded.tokenizer, rt);
    const direct = await attribute(
      model,
      await loadDictionary(f.transcoders, nodeFiles()),
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
      [
        [...base, '--out', 'g.json', '--raw', 'r.safetensors', '--raw-layout', 'sparse'],
        /--raw-layout: must be one of dense, dense-f16, csr/,
      ],
      [[...base, '--out', 'g.json', '--raw-layout', 'csr'], /--raw-layout needs --raw RAW.safetensors/],
      [[...base, '--out', 'g.json', '--threads', '0'], /--threads: threads must be a positive integer/],
      [[...base, '--out', 'g.json', '--threads', 'two'], /--threads: threads must be a positive integer/],
      [[...base, '--out', 'g.json', '--threads', '1000'], /--threads: threads must be at most 256/],
    ];
    for (const [args, message] of cases) {
      const c = await loupe(['attribute', ...args]);
      expect(c.code).toBe(2);
      expect(c.err).toMatch(message);
    }
  });

  it('writes the raw graph in the float16 and CSR layouts, equal to the dense one', async () => {
    const f = await writeAttributeFixture(3);
    const run = async (layout: string) => {
      const raw = join(f.model, `graph-${layout}.safetensors`);
      const c = await loupe([
        'attribute',
        '--model',
        f.model,
        '--transcoders',
        f.transcoders,
        '--tokens',
        '5,9,3,12,7',
        '--out',
        join(f.model, `graph-${layout}.json`),
        '--raw',
        raw,
        '--raw-layout',
        layout,
      ]);
      expect(c.code).toBe(0);
      return importRawGraph(new Uint8Array(await readFile(raw)));
    };
    const dense = await run('dense');
    const csr = await run('csr');
    const half = await run('dense-f16');
    expect(dense.adjacency.kind).toBe('dense');
    expect(csr.adjacency.kind).toBe('csr');
    const want = toDense(dense.adjacency).data;
    expect(toDense(csr.adjacency).data).toEqual(want);
    expect({ ...csr, adjacency: null }).toEqual({ ...dense, adjacency: null });
    const got = toDense(half.adjacency).data;
    want.forEach((v, i) => {
      // float16: 11 significant bits, and values below its normal range keep an absolute 2^-24.
      expect(Math.abs(got[i] - v)).toBeLessThanOrEqual(Math.abs(v) * 2 ** -11 + 2 ** -24);
    });
  });
});
