import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { removeFixtureDirs } from '@loupe/core/testing';
import { attributeParams } from '@loupe/api/jobs';
import { runAttribute } from '../src/handlers/attribute.ts';
import { jobContext, runLoupe, someIds, writeAttributeFixture } from './helpers.ts';

afterAll(removeFixtureDirs);

describe('attribute handler', () => {
  it('produces exactly the graph JSON of `pnpm loupe attribute` on the same inputs', async () => {
    const f = await writeAttributeFixture(3);
    const out = join(f.model, 'graph.json');
    await runLoupe([
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
    ]);
    const fromCli = JSON.parse(await readFile(out, 'utf8'));

    const { ctx, percents } = jobContext(undefined, { model: f.model, dictionary: f.transcoders });
    const params = attributeParams.parse({
      ...someIds,
      tokens: [5, 9, 3, 12, 7],
      batchSize: 16,
      slug: 'graph',
    });
    const stored = await runAttribute(params, ctx);
    expect(JSON.parse(JSON.stringify(stored.graph.graph))).toEqual(fromCli);
    expect(stored.graph.slug).toBe('graph');
    expect(stored.summary.nodes).toBe(fromCli.nodes.length);
    expect(stored.summary.links).toBe(fromCli.links.length);
    expect(stored.summary.tokens).toBe(6);
    expect(percents.at(-1)).toBe(100);
  });

  it('adds inactive features exactly as `pnpm loupe attribute --include-inactive` does', async () => {
    const f = await writeAttributeFixture(3);
    const out = join(f.model, 'graph-inactive.json');
    const flags = ['--tokens', '5,9,3,12,7', '--batch-size', '16', '--include-inactive', '2', '--out', out];
    await runLoupe(['attribute', '--model', f.model, '--transcoders', f.transcoders, ...flags]);
    const fromCli = JSON.parse(await readFile(out, 'utf8'));
    const { ctx } = jobContext(undefined, { model: f.model, dictionary: f.transcoders });
    const params = attributeParams.parse({
      ...someIds,
      tokens: [5, 9, 3, 12, 7],
      batchSize: 16,
      includeInactive: 2,
      slug: 'graph-inactive',
    });
    const stored = JSON.parse(JSON.stringify((await runAttribute(params, ctx)).graph.graph));
    expect(stored).toEqual(fromCli);
    expect(stored.loupe.inactive.per_site).toBe(2);
    expect(stored.nodes.filter((nd: { inactive?: true }) => nd.inactive).length).toBeGreaterThan(0);
  });

  it('validates params like the CLI validates flags', () => {
    const base = someIds;
    expect(() => attributeParams.parse(base)).toThrow(/exactly one of prompt or tokens/);
    expect(() => attributeParams.parse({ ...base, prompt: 'a', tokens: [1] })).toThrow(/exactly one/);
    expect(() => attributeParams.parse({ ...base, tokens: [1], desiredLogitProb: 1.5 })).toThrow();
    expect(() => attributeParams.parse({ ...base, tokens: [1], maxFeatureNodes: 0 })).toThrow();
    expect(() => attributeParams.parse({ ...base, tokens: [1], includeInactive: -1 })).toThrow();
    expect(() => attributeParams.parse({ ...base, tokens: [1], includeInactive: 1.5 })).toThrow();
    expect(attributeParams.parse({ ...base, prompt: 'hi' })).toMatchObject({
      maxFeatureNodes: 'all',
      maxNLogits: 10,
      desiredLogitProb: 0.95,
      batchSize: 64,
      nodeThreshold: 0.8,
      edgeThreshold: 0.98,
      includeInactive: 0,
    });
  });

  it('names a missing model directory and stops when cancelled', async () => {
    const params1 = attributeParams.parse({ ...someIds, tokens: [1] });
    const missing = jobContext(undefined, { model: '/nonexistent/model', dictionary: '/nonexistent/tc' });
    await expect(runAttribute(params1, missing.ctx)).rejects.toThrow(/\/nonexistent\/model/);
    const f = await writeAttributeFixture(3);
    const ac = new AbortController();
    ac.abort(new Error('cancelled by test'));
    const params = attributeParams.parse({ ...someIds, tokens: [5, 9, 3] });
    const paths = { model: f.model, dictionary: f.transcoders };
    await expect(runAttribute(params, jobContext(ac.signal, paths).ctx)).rejects.toThrow(/cancelled by test/);
  });
});
