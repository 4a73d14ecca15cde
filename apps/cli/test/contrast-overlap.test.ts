import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  contrastFeatures,
  featureOverlap,
  Intervener,
  loadCheckpoint,
  loadDictionary,
  Model,
  prepareTokens,
  promptActivations,
} from '@loupe/core';
import { nodeFiles, nodeRuntime } from '@loupe/core/node';
import { shippedModelDir } from '@loupe/organism/node';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveDictionaryDir } from '../src/model-option.ts';
import { loupe } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'cli-contrast-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const base = ['--model', 'organism-s', '--transcoders', 'organism-s/plt'];

/** The library's activations of organism-s's PLT at a position for each prompt. */
async function activations(prompts: string[], pos: number) {
  const ckpt = await loadCheckpoint(shippedModelDir('organism-s'), nodeFiles());
  const dict = await loadDictionary(resolveDictionaryDir('organism-s/plt'), nodeFiles());
  const rt = nodeRuntime();
  try {
    const iv = Intervener.create(await Model.create(ckpt.config, ckpt.weights, ckpt.tokenizer, rt), dict);
    const tokens = prompts.map((text) => prepareTokens({ text }, ckpt.config.dVocab, ckpt.tokenizer));
    return await promptActivations(iv, tokens, pos);
  } finally {
    await dict.close();
    await rt.release();
  }
}

describe('loupe contrast', () => {
  it('lists the features separating sums from sentences, as contrastFeatures ranks them', async () => {
    const a = ['36+59=', '12+13=', '41+7='];
    const b = ['the capital of Texas is', 'the opposite of small is'];
    const out = join(dir, 'contrast.json');
    const c = await loupe([
      'contrast',
      ...base,
      ...a.flatMap((p) => ['--a', p]),
      ...b.flatMap((p) => ['--b', p]),
      '--top',
      '5',
      '--out',
      out,
    ]);
    expect(c.err).not.toMatch(/loupe contrast:/);
    expect(c.code).toBe(0);
    const json = JSON.parse(await readFile(out, 'utf8'));
    expect(json.features).toHaveLength(5);
    // A sum's "=" and a sentence's last word share little: some feature separates them perfectly.
    expect([0, 1]).toContain(json.features[0].auc);
    const expected = contrastFeatures(await activations(a, -1), await activations(b, -1), { top: 5 });
    expect(json.features.map((f: { layer: number; feature: number }) => `${f.layer}:${f.feature}`)).toEqual(
      expected.map((f) => `${f.layer}:${f.feature}`),
    );
    expect(json.features[0].meanB).toBeCloseTo(expected[0].meanB, 5);
    expect(c.out).toMatch(new RegExp(`^ {2}${expected[0].layer}:${expected[0].feature} +AUC`, 'm'));
  });
});

describe('loupe overlap', () => {
  it('gives each layer’s overlap within the set and against the baseline, as featureOverlap does', async () => {
    const set = ['the opposite of small is', 'le contraire de petit est'];
    const baseline = ['the capital of Texas is'];
    const out = join(dir, 'overlap.json');
    const c = await loupe([
      'overlap',
      ...base,
      ...set.flatMap((p) => ['--prompt', p]),
      '--baseline',
      baseline[0],
      '--pos',
      '-2',
      '--out',
      out,
    ]);
    expect(c.code).toBe(0);
    const json = JSON.parse(await readFile(out, 'utf8'));
    const expected = featureOverlap(await activations(set, -2), await activations(baseline, -2));
    expect(json.layers).toHaveLength(4);
    json.layers.forEach((l: { layer: number; overlap: number; baseline: number }, i: number) => {
      expect(l.layer).toBe(expected[i].layer);
      expect(l.overlap).toBeCloseTo(expected[i].overlap, 10);
      expect(l.baseline).toBeCloseTo(expected[i].baseline, 10);
    });
    expect(c.out).toMatch(/^ {2}layer 3: \d\.\d{3} vs \d\.\d{3}$/m);
  });
});

describe('bad prompt sets', () => {
  it('are refused with a clear message', async () => {
    const cases: [string[], RegExp][] = [
      [['contrast', ...base, '--a', 'x'], /--b: required: --b TEXT/],
      [['contrast', ...base, '--a', 'x', '--b', 'y'], /three prompts together/],
      [['contrast', ...base, '--a', 'x', '--a', 'z', '--b', 'y', '--pos', '2'], /counted from the end/],
      [['overlap', ...base, '--prompt', 'x', '--baseline', 'y'], /at least two prompts/],
      [['overlap', ...base, '--prompt', 'x', '--prompt', 'z'], /--baseline: required/],
    ];
    for (const [args, message] of cases) {
      const c = await loupe(args);
      expect(c.code, args.join(' ')).toBe(2);
      expect(c.err).toMatch(message);
    }
    const long = await loupe([
      'overlap',
      ...base,
      '--prompt',
      'a b',
      '--prompt',
      'c d',
      '--baseline',
      'e',
      '--pos',
      '-40',
    ]);
    expect(long.code).toBe(1);
    expect(long.err).toMatch(/beyond/);
  });
});
