import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseSetSpec } from '@loupe/core';
import { shippedModelDir } from '@loupe/organism/node';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultDictionaryOut } from '../src/commands/train-dictionary.ts';
import { resolveDictionaryDir } from '../src/model-option.ts';
import { OUT_DIR_ENV } from '../src/output.ts';
import { loupe } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'cli-first-contact-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let outDir: string;
beforeEach(() => {
  outDir = mkdtempSync(join(dir, 'out-'));
  process.env[OUT_DIR_ENV] = outDir;
});
afterEach(() => {
  delete process.env[OUT_DIR_ENV];
});

describe('--transcoders names a shipped dictionary', () => {
  it('organism-s/plt and organism-m/clt resolve to the folders under dictionaries/, other values stay paths', () => {
    const s = resolveDictionaryDir('organism-s/plt');
    expect(resolve(s)).toBe(join(shippedModelDir('organism-s'), 'dictionaries', 'plt-2048'));
    expect(s).toBe(relative(process.cwd(), join(shippedModelDir('organism-s'), 'dictionaries', 'plt-2048')));
    expect(resolve(resolveDictionaryDir('organism-m/clt'))).toBe(
      join(shippedModelDir('organism-m'), 'dictionaries', 'clt-2048'),
    );
    expect(resolveDictionaryDir('organism-s/sae')).toBe('organism-s/sae');
    expect(resolveDictionaryDir('/data/plt')).toBe('/data/plt');
  });

  it('help lists the shipped names', async () => {
    for (const cmd of ['attribute', 'intervene']) {
      const h = await loupe([cmd, '--help']);
      expect(h.code).toBe(0);
      expect(h.out).toMatch(/organism-s\/plt, organism-s\/clt, organism-m\/plt, organism-m\/clt/);
    }
  });
});

describe('missing paths and empty folders read differently', () => {
  it('a path that does not exist says so; an empty folder has no dictionary', async () => {
    const empty = join(dir, 'empty');
    mkdirSync(empty, { recursive: true });
    for (const cmd of ['attribute', 'intervene']) {
      const extra = cmd === 'intervene' ? ['--set', '1:-1:0=0'] : [];
      const base = [cmd, '--model', 'organism-s', '--prompt', '36+59=', ...extra];
      const missing = await loupe([...base, '--transcoders', join(dir, 'nope')]);
      expect(missing.code).toBe(1);
      expect(missing.err).toContain(`--transcoders ${join(dir, 'nope')}: does not exist`);
      const none = await loupe([...base, '--transcoders', empty]);
      expect(none.code).toBe(1);
      expect(none.err).toMatch(/no dictionary found/);
      expect(none.err).not.toMatch(/does not exist/);
    }
    const train = await loupe([
      'train-dictionary',
      '--model',
      join(dir, 'nope'),
      '--kind',
      'plt',
      '--width',
      '8',
    ]);
    expect(train.code).toBe(1);
    expect(train.err).toMatch(/--model .*nope: does not exist/);
  });
});

describe('readable output and default output files', () => {
  it('forward prints the top next tokens and writes under the output folder by default', async () => {
    const c = await loupe(['forward', '--model', 'organism-s', '--prompt', '36+59=', '--top-k', '3']);
    expect(c.code).toBe(0);
    const line = c.out.split('\n').find((l) => l.startsWith('next token: '));
    expect(line?.match(/"[^"]*" \d+\.\d%/g)).toHaveLength(3);
    expect(existsSync(join(outDir, 'forward.safetensors'))).toBe(true);
  });

  it('rejects a bad --top-k', async () => {
    for (const k of ['0', '101', 'x']) {
      const c = await loupe(['forward', '--model', 'organism-s', '--prompt', 'a', '--top-k', k]);
      expect(c.code).toBe(2);
      expect(c.err).toMatch(/--top-k: must be a whole number between 1 and 100/);
    }
  });

  it('attribute prints the predictions and its most influential features as ids intervene accepts', async () => {
    const c = await loupe([
      'attribute',
      '--model',
      'organism-s',
      '--transcoders',
      'organism-s/plt',
      '--prompt',
      '36+59=',
      '--top-features',
      '4',
    ]);
    expect(c.err).not.toMatch(/loupe attribute:/);
    expect(c.code).toBe(0);
    expect(c.out).toMatch(/^next token: "95" \d+\.\d%/m);
    const ids = [...c.out.matchAll(/^ {2}(\d+:\d+:\d+) +influence +(\d+\.\d)%/gm)];
    expect(ids).toHaveLength(4);
    const shares = ids.map((m) => Number(m[2]));
    expect([...shares].sort((a, b) => b - a)).toEqual(shares);
    // The top feature fires on the prompt: intervene finds it at the activation attribute printed.
    const [, id, layer, pos, feature, act] =
      /^ {2}((\d+):(\d+):(\d+)) .*activation +(\S+)/m.exec(c.out) ?? [];
    const activation = Number(act);
    expect(activation).toBeGreaterThan(0);
    expect(parseSetSpec(`${id}=0`)).toMatchObject({ layer: Number(layer), feature: Number(feature) });
    const iv = await loupe([
      'intervene',
      '--model',
      'organism-s',
      '--transcoders',
      'organism-s/plt',
      '--prompt',
      '36+59=',
      '--set',
      `${id}=0`,
    ]);
    expect(iv.code).toBe(0);
    const current = Number(
      new RegExp(`L${layer} pos ${pos} feature ${feature}: (\\S+) → 0`).exec(iv.out)?.[1],
    );
    expect(current).toBeCloseTo(activation, 2);
    expect(existsSync(join(outDir, 'intervene.safetensors'))).toBe(true);
    const quiet = await loupe([
      'attribute',
      '--model',
      'organism-s',
      '--transcoders',
      'organism-s/plt',
      '--prompt',
      '36+59=',
      '--top-features',
      '0',
      '--out',
      join(outDir, 'q.json'),
    ]);
    expect(quiet.code).toBe(0);
    expect(quiet.out).not.toMatch(/top features/);
    const bad = await loupe([
      'attribute',
      '--model',
      'organism-s',
      '--transcoders',
      'organism-s/plt',
      '--prompt',
      'a',
      '--top-features',
      '-1',
    ]);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--top-features: must be a whole number/);
  });

  it('train-dictionary never writes into a shipped organism by default', () => {
    expect(defaultDictionaryOut(shippedModelDir('organism-s'), 'plt', 256)).toBe(
      join(outDir, 'dictionaries', 'organism-s-plt-256'),
    );
    expect(defaultDictionaryOut(join(dir, 'ckpt'), 'clt', 64)).toBe(
      join(dir, 'ckpt', 'dictionaries', 'clt-64'),
    );
  });
});
