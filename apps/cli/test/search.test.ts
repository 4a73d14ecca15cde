import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FeatureIndexReader, searchIndexByContext, searchIndexByToken } from '@loupe/core';
import { nodeFiles } from '@loupe/core/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loupe } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'cli-search-'));
const index = join(dir, 'index');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const model = ['--model', 'organism-s'];
const plt = ['--transcoders', 'organism-s/plt'];

beforeAll(async () => {
  const c = await loupe([
    'index-features',
    ...model,
    ...plt,
    '--batches',
    '2',
    '--batch-seqs',
    '4',
    '--out',
    index,
  ]);
  expect(c.code).toBe(0);
}, 120_000);

async function searchJson(args: string[]) {
  const out = join(dir, `${args.join('_').replace(/[^\w]/g, '')}.json`);
  const c = await loupe(['search', ...args, '--out', out]);
  expect(c.err).not.toMatch(/loupe search:/);
  expect(c.code).toBe(0);
  return { c, json: JSON.parse(await readFile(out, 'utf8')) };
}

describe('loupe search', () => {
  it('by token: the features whose example peaks fall on "+", as the library ranks them, and they fire on "+" in prompts', async () => {
    const { c, json } = await searchJson([
      ...model,
      '--index',
      index,
      '--token',
      '+',
      '--by',
      'fires',
      '--top',
      '3',
    ]);
    expect(json.mode).toBe('token');
    expect(json.token.token).toBe('+');
    const reader = await FeatureIndexReader.open(nodeFiles(), index);
    try {
      const expected = await searchIndexByToken(reader, '+', 'fires', { top: 3 });
      expect(json.features.map((f: { layer: number; feature: number }) => [f.layer, f.feature])).toEqual(
        expected.map((h) => [h.layer, h.feature]),
      );
      expect(json.features[0].fires.share).toBeGreaterThan(0.5);
    } finally {
      await reader.close();
    }
    expect(c.out).toContain("features that fire on '+'");
    expect(c.out).toMatch(/fires: \d+% of peaks/);
    // The same features, run through the model on prompts that end in "+", are active at the last token.
    const prompts = join(dir, 'plus.txt');
    writeFileSync(prompts, '36+\n\n12+\n7+\n');
    const p = await searchJson([...model, ...plt, '--index', index, '--prompts', prompts, '--top', '100000']);
    expect(p.json.prompts).toEqual(['36+', '12+', '7+']);
    const everywhere = new Set(
      p.json.features
        .filter((f: { fraction: number }) => f.fraction === 1)
        .map((f: { layer: number; feature: number }) => `${f.layer}:${f.feature}`),
    );
    for (const f of json.features) expect(everywhere.has(`${f.layer}:${f.feature}`)).toBe(true);
    expect(p.json.features[0].label).toEqual(expect.any(String));
  }, 120_000);

  it('by promoted token, by #ID, and by context with the matching snippet', async () => {
    const byId = await searchJson([
      ...model,
      '--index',
      index,
      '--token',
      '#204',
      '--by',
      'promotes',
      '--layer',
      '3',
    ]);
    expect(byId.json.token).toEqual({ query: '#204', id: 204, token: '+' });
    expect(byId.json.features.length).toBeGreaterThan(0);
    for (const f of byId.json.features) {
      expect(f.layer).toBe(3);
      expect(f.promotes.rank).toBeGreaterThanOrEqual(0);
    }
    const ctx = await searchJson(['--index', index, '--context', 'capital of', '--top', '5']);
    expect(ctx.json.mode).toBe('context');
    const reader = await FeatureIndexReader.open(nodeFiles(), index);
    try {
      const expected = await searchIndexByContext(reader, 'capital of', { top: 5 });
      expect(ctx.json.features.map((f: { activation: number }) => f.activation)).toEqual(
        expected.map((h) => h.activation),
      );
    } finally {
      await reader.close();
    }
    expect(ctx.json.features.length).toBeGreaterThan(0);
    for (const f of ctx.json.features) {
      expect(f.snippet.replace(/\s/g, '')).toContain('capitalof');
      expect(['capital', 'of']).toContain(f.token);
    }
  }, 120_000);

  it('at any position: the peak over a prompt’s tokens, so at least what the last token activates', async () => {
    const args = [
      ...model,
      ...plt,
      '--prompt',
      'the capital of Texas is',
      '--min-frac',
      '1',
      '--top',
      '100000',
    ];
    const last = await searchJson(args);
    const any = await searchJson([...args, '--pos', 'any']);
    expect(any.json.pos).toBe('any');
    const peak = new Map(
      any.json.features.map((f: { layer: number; feature: number; max: number }) => [
        `${f.layer}:${f.feature}`,
        f.max,
      ]),
    );
    for (const f of last.json.features)
      expect(peak.get(`${f.layer}:${f.feature}`)).toBeGreaterThanOrEqual(f.max);
    expect(any.json.features.length).toBeGreaterThan(last.json.features.length);
  }, 120_000);

  it('--help lists every flag', async () => {
    const c = await loupe(['search', '--help']);
    expect(c.code).toBe(0);
    for (const flag of [
      'model',
      'transcoders',
      'index',
      'token',
      'by',
      'context',
      'prompt',
      'prompts',
      'pos',
      'min-frac',
      'layer',
      'top',
      'out',
    ])
      expect(c.out).toContain(`--${flag} `);
  });

  it('rejects bad input with exit 2 and a clear message', async () => {
    const bin = join(dir, 'bin.txt');
    writeFileSync(bin, Uint8Array.of(0x36, 0, 0x2b));
    const blank = join(dir, 'blank.txt');
    writeFileSync(blank, '\n  \n');
    const cases: [string[], RegExp][] = [
      [[], /give a search: --token/],
      [['--token', '', ...model, '--index', index], /--token: the token is empty/],
      [['--token', 'banana', ...model, '--index', index], /'banana' is not in the vocabulary/],
      [['--token', '36+59', ...model, '--index', index], /not one token .* encodes as 3/],
      [['--token', '#99999', ...model, '--index', index], /outside the vocabulary/],
      [['--token', '+', '--index', index], /--model: required with --token/],
      [
        ['--context', 'x', '--index', join(dir, 'none')],
        /no feature index in .*none.*pnpm loupe index-features/,
      ],
      [['--context', 'x', '--token', '+', '--index', index], /one search at a time/],
      [['--context', 'x', '--index', index, '--by', 'fires'], /--by: only with --token/],
      [['--context', 'x', '--index', index, '--layer', '9'], /no layer 9 \(layers: 0, 1, 2, 3\)/],
      [['--prompts', join(dir, 'missing.txt'), ...model, ...plt], /--prompts .*missing.txt: does not exist/],
      [['--prompts', bin, ...model, ...plt], /not a text file/],
      [['--prompts', blank, ...model, ...plt], /no prompts \(one per line\)/],
      [['--prompt', 'a', ...model, ...plt, '--min-frac', '2'], /--min-frac: must be a fraction/],
      [['--prompt', 'a', ...model, ...plt, '--pos', '0'], /--pos: a position counted from the end/],
      [['--prompt', 'a', ...model], /--transcoders: required with --prompt/],
    ];
    for (const [args, message] of cases) {
      const c = await loupe(['search', ...args]);
      expect(c.code, args.join(' ')).toBe(2);
      expect(c.err, args.join(' ')).toMatch(message);
    }
  }, 120_000);
});
