import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bytesSource, SafetensorsFile } from '@loupe/core';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/main.ts';

const dir = mkdtempSync(join(tmpdir(), 'cli-organism-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: { out: (s: string) => out.push(s), err: { write: (s: string) => err.push(s) } },
    out: () => out.join('\n'),
    err: () => err.join(''),
  };
}

describe('--model names a shipped organism', () => {
  it('forward --model organism-s runs the embedded model, which answers 36+59= with 95', async () => {
    const out = join(dir, 'fwd.safetensors');
    const c = capture();
    const code = await runCli(['forward', '--model', 'organism-s', '--prompt', '36+59=', '--out', out], c.io);
    expect(c.err()).not.toMatch(/loupe forward:/);
    expect(code).toBe(0);
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
    const c = capture();
    expect(await runCli(['forward', '--model', 'organism-x', '--tokens', '1', '--out', join(dir, 'x.safetensors')], c.io)).toBe(1);
    expect(c.err()).toMatch(/organism-x: no config.json/);
    const h = capture();
    expect(await runCli(['forward', '--help'], h.io)).toBe(0);
    expect(h.out()).toMatch(/shipped organism: organism-s or organism-m/);
  });
});
