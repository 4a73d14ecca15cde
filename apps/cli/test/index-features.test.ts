import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FeatureIndexReader, importGraphJson, labelFeature, parseNodeId } from '@loupe/core';
import { nodeFiles } from '@loupe/core/node';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OUT_DIR_ENV } from '../src/output.ts';
import { loupe } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'cli-index-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeEach(() => {
  process.env[OUT_DIR_ENV] = join(dir, 'out');
});
afterEach(() => {
  delete process.env[OUT_DIR_ENV];
});

const small = ['--batches', '2', '--batch-seqs', '4'];

describe('loupe index-features and clerps in attribute', () => {
  it('builds an index beside a shipped dictionary’s outputs, and attribute labels its features from it', async () => {
    const c = await loupe([
      'index-features',
      '--model',
      'organism-s',
      '--transcoders',
      'organism-s/plt',
      ...small,
    ]);
    expect(c.err).not.toMatch(/loupe index-features:/);
    expect(c.code).toBe(0);
    const index = join(dir, 'out', 'features', 'organism-s-plt-2048');
    expect(c.out).toContain(`${index}: 8192 features of 4 layers over 8 contexts`);
    const labels = JSON.parse(await readFile(join(index, 'labels.json'), 'utf8')) as Record<string, string[]>;
    const reader = await FeatureIndexReader.open(nodeFiles(), index);
    try {
      expect(reader.layers()).toEqual([0, 1, 2, 3]);
      const live = labels['1'].findIndex((l) => l.startsWith('fires on'));
      expect(live).toBeGreaterThanOrEqual(0);
      expect(labels['1'][live]).toBe(labelFeature(await reader.read(1, live)));
      expect(labels['1'][live]).toMatch(/^fires on '.+' \(as in '.+'\); promotes /);
    } finally {
      await reader.close();
    }

    const out = join(dir, 'graph.json');
    const a = await loupe([
      'attribute',
      '--model',
      'organism-s',
      '--transcoders',
      'organism-s/plt',
      '--prompt',
      '36+59=',
      '--out',
      out,
      '--top-features',
      '0',
    ]);
    expect(a.code).toBe(0);
    expect(a.out).toContain(`clerps: feature labels from ${index}`);
    const j = importGraphJson(await readFile(out, 'utf8'));
    const features = j.nodes.filter((n) => n.feature_type === 'per layer transcoder');
    expect(features.length).toBeGreaterThan(0);
    for (const n of features) {
      const id = parseNodeId(n.node_id);
      if (id.kind !== 'indexed') throw new Error(`feature id ${n.node_id}`);
      expect(n.clerp).toBe(labels[String(id.layer)][id.index]);
    }
  });

  it('--index names an index; without one the clerps stay empty and say so', async () => {
    const index = join(dir, 'clt-index');
    const c = await loupe([
      'index-features',
      '--model',
      'organism-s',
      '--transcoders',
      'organism-s/clt',
      '--out',
      index,
      ...small,
    ]);
    expect(c.code).toBe(0);
    expect(existsSync(join(index, 'index.json.gz'))).toBe(true);
    const base = [
      'attribute',
      '--model',
      'organism-s',
      '--transcoders',
      'organism-s/clt',
      '--prompt',
      '1+2=',
    ];
    const out = join(dir, 'clt.json');
    const a = await loupe([...base, '--index', index, '--out', out, '--top-features', '0']);
    expect(a.code).toBe(0);
    const j = importGraphJson(await readFile(out, 'utf8'));
    expect(
      j.nodes.filter((n) => n.feature_type === 'cross layer transcoder').every((n) => n.clerp !== ''),
    ).toBe(true);
    const none = await loupe([...base, '--out', join(dir, 'none.json'), '--top-features', '0']);
    expect(none.code).toBe(0);
    expect(none.out).toContain('clerps: empty (no feature index; build one with loupe index-features)');
    const missing = await loupe([...base, '--index', join(dir, 'nope'), '--out', join(dir, 'x.json')]);
    expect(missing.code).toBe(1);
    expect(missing.err).toContain(`--index ${join(dir, 'nope')}: no labels.json or index.json.gz there`);
  });

  it('rejects bad command lines', async () => {
    const base = ['index-features', '--model', 'organism-s', '--transcoders', 'organism-s/plt'];
    for (const [args, message] of [
      [['--batches', '0'], /--batches: --batches must be a positive integer/],
      [['--batch-seqs', 'x'], /--batch-seqs must be a positive integer/],
      [['--seed', '-1'], /--seed/],
    ] as [string[], RegExp][]) {
      const c = await loupe([...base, ...args]);
      expect(c.code, args.join(' ')).toBe(2);
      expect(c.err).toMatch(message);
    }
    const text = await loupe([...base, '--text', join(dir, 'missing.txt')]);
    expect(text.code).toBe(1);
    expect(text.err).toMatch(/--text .*missing\.txt: does not exist/);
  });
});
