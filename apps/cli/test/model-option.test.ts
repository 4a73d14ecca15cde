import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { bytesSource, SafetensorsFile } from '@loupe/core';
import { shippedModelDir } from '@loupe/organism/node';
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
    // Relative to the working directory, so that no machine-specific absolute path is recorded.
    expect(f.metadata.model).toBe(relative(process.cwd(), shippedModelDir('organism-s')));
    expect(f.metadata.model).not.toMatch(/^\//);
    const tokens: number[] = JSON.parse(f.metadata.tokens);
    expect(tokens).toEqual([1, 41, 204, 64, 207]); // <bos> 36 + 59 =
    const logits = await f.readF32('logits'); // [T, V]
    const V = logits.shape[1];
    const last = logits.data.subarray((tokens.length - 1) * V, tokens.length * V);
    const vocab = JSON.parse(readFileSync(join(f.metadata.model, 'tokenizer.json'), 'utf8')).model.vocab;
    expect(vocab['95']).toBe(last.indexOf(Math.max(...last)));
    // What it printed is the softmax of those logits.
    const max = Math.max(...last);
    const z = last.reduce((acc, v) => acc + Math.exp(v - max), 0);
    const p95 = (100 * Math.exp(last[vocab['95']] - max)) / z;
    expect(c.out).toMatch(new RegExp(`^next token: "95" ${p95.toFixed(1)}%, `, 'm'));
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
    expect(c.err).toMatch(/--model organism-x: does not exist/);
    const empty = await loupe([
      'forward',
      '--model',
      dir,
      '--tokens',
      '1',
      '--out',
      join(dir, 'x.safetensors'),
    ]);
    expect(empty.code).toBe(1);
    expect(empty.err).toMatch(/: no config.json/);
    const h = await loupe(['forward', '--help']);
    expect(h.code).toBe(0);
    expect(h.out).toMatch(/shipped organism: organism-s or organism-m/);
  });
});
