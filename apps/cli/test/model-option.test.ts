import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bytesSource, SafetensorsFile } from '@loupe/core';
import { afterAll, describe, expect, it } from 'vitest';
import { loupe } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'cli-organism-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('--model names a shipped organism', () => {
  it('forward --model organism-s runs the embedded model, which answers 36+59= with 95', async () => {
    const out = join(dir, 'fwd.safetensors');
    const c = await loupe(['forward', '--model', 'organism-s', '--prompt', '36+59=', '--out', out]);
    expect(c.err).not.toMatch(/loupe forward:/);
    expect(c.code).toBe(0);
    const f = await SafetensorsFile.open(bytesSource(new Uint8Array(readFileSync(out))));
    expect(f.metadata.model).toBe(join('packages', 'organism', 'models', 'organism-s'));
    const tokens: number[] = JSON.parse(f.metadata.tokens);
    expect(tokens).toEqual([1, 41, 204, 64, 207]); // <bos> 36 + 59 =
    const logits = await f.readF32('logits'); // [T, V]
    const V = logits.shape[1];
    const last = logits.data.subarray((tokens.length - 1) * V, tokens.length * V);
    const vocab = JSON.parse(readFileSync(join(f.metadata.model, 'tokenizer.json'), 'utf8')).model.vocab;
    expect(vocab['95']).toBe(last.indexOf(Math.max(...last)));
  });

  it('a name that is not shipped is a directory, and help lists the names', async () => {
    const c = await loupe([
      'forward',
      '--model',
      'organism-x',
      '--tokens',
      '1',
      '--out',
      join(dir, 'x.safetensors'),
    ]);
    expect(c.code).toBe(1);
    expect(c.err).toMatch(/organism-x: no config.json/);
    const h = await loupe(['forward', '--help']);
    expect(h.code).toBe(0);
    expect(h.out).toMatch(/shipped organism: organism-s or organism-m/);
  });
});
