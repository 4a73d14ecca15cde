import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bytesSource, modelHooks, referenceForward, SafetensorsFile } from '@loupe/core';
import { afterAll, describe, expect, it } from 'vitest';
import { removeFixtureDirs, writeRandomCheckpoint } from '@loupe/core/testing';
import { parseFlags, UsageError } from '../src/args.ts';
import { createProgress } from '../src/progress.ts';
import { loupe } from './helpers.ts';

afterAll(removeFixtureDirs);

describe('argument parser', () => {
  const flags = { model: { type: 'string', help: '' }, cache: { type: 'boolean', help: '' } } as const;
  it('accepts --flag value, --flag=value and booleans', () => {
    expect(parseFlags(['--model', 'a', '--cache'], flags)).toEqual({ model: 'a', cache: true });
    expect(parseFlags(['--model=a=b'], flags)).toEqual({ model: 'a=b' });
  });
  it('names what is wrong', () => {
    expect(() => parseFlags(['--modle', 'a'], flags)).toThrow(
      /unknown flag '--modle' \(known: --model, --cache, --help\)/,
    );
    expect(() => parseFlags(['--model'], flags)).toThrow(/'--model' needs a value/);
    expect(() => parseFlags(['--model', '--cache'], flags)).toThrow(/'--model' needs a value/);
    expect(() => parseFlags(['--cache=yes'], flags)).toThrow(/'--cache' takes no value/);
    expect(() => parseFlags(['--model', 'a', '--model', 'b'], flags)).toThrow(/given twice/);
    expect(() => parseFlags(['stray'], flags)).toThrow(UsageError);
    expect(() => parseFlags(['--constructor', 'x'], flags)).toThrow(/unknown flag '--constructor'/);
  });
});

describe('loupe command line', () => {
  it('lists commands, and prints per-command help', async () => {
    const c = await loupe(['--help']);
    expect(c.code).toBe(0);
    expect(c.out).toMatch(/commands:\n( {2}\S.*\n)* {2}forward /);
    expect(c.out).toMatch(/--cache/); // the top-level help lists every flag
    const h = await loupe(['forward', '--help']);
    expect(h.code).toBe(0);
    expect(h.out).toMatch(/--tokens IDS/);
    const u = await loupe(['frobnicate']);
    expect(u.code).toBe(2);
    expect(u.err).toMatch(/unknown command 'frobnicate' \(commands: (\w+, )*forward/);
  });

  it('rejects bad forward command lines with exit code 2', async () => {
    const cases: [string[], RegExp][] = [
      [['--model', 'm', '--out', 'o.safetensors'], /exactly one of --prompt TEXT or --tokens IDS/],
      [['--model', 'm', '--prompt', 'a', '--tokens', '1', '--out', 'o.safetensors'], /exactly one of/],
      [
        ['--model', 'm', '--tokens', '1,x', '--out', 'o.safetensors'],
        /--tokens: expected comma-separated token ids/,
      ],
      [['--model', 'm', '--tokens', '1', '--out', 'o.bin'], /--out: must end in .safetensors/],
      [['--tokens', '1', '--out', 'o.safetensors'], /--model: required/],
      [
        ['--model', 'm', '--tokens', '1', '--out', 'o.safetensors', '--layers', '3'],
        /unknown flag '--layers'/,
      ],
    ];
    for (const [args, message] of cases) {
      const c = await loupe(['forward', ...args]);
      expect(c.code).toBe(2);
      expect(c.err).toMatch(message);
      expect(c.err).toMatch(/usage: loupe forward/);
    }
  });

  it('reports run-time failures with exit code 1', async () => {
    const c = await loupe([
      'forward',
      '--model',
      '/nonexistent/model',
      '--tokens',
      '1',
      '--out',
      '/tmp/x.safetensors',
    ]);
    expect(c.code).toBe(1);
    expect(c.err).toMatch(/--model \/nonexistent\/model: does not exist/);
    const ck = await writeRandomCheckpoint('qwen2');
    const d = await loupe([
      'forward',
      '--model',
      ck.dir,
      '--tokens',
      '1,99',
      '--out',
      join(ck.dir, 'x.safetensors'),
    ]);
    expect(d.code).toBe(1);
    expect(d.err).toMatch(/token id 99 at position 1 is outside \[0, 48\)/);
  });

  for (const arch of ['gpt2', 'gemma2'] as const) {
    it(`${arch}: forward --cache writes logits and every hook, matching the reference to 1e-4`, async () => {
      const ck = await writeRandomCheckpoint(arch, { seed: 11 });
      const out = join(ck.dir, 'fwd.safetensors');
      const c = await loupe([
        'forward',
        '--model',
        ck.dir,
        '--prompt',
        'w5 w9 banana w12',
        '--out',
        out,
        '--cache',
      ]);
      expect(c.err).not.toMatch(/loupe forward:/);
      expect(c.code).toBe(0);
      const f = await SafetensorsFile.open(bytesSource(new Uint8Array(await readFile(out))));
      const tokens = [1, 5, 9, 3, 12]; // BOS prepended, 'banana' is <unk>
      expect(JSON.parse(f.metadata.tokens)).toEqual(tokens);
      const hooks = modelHooks(ck.config);
      expect(f.names().sort()).toEqual(['logits', ...hooks].sort());
      const ref = referenceForward(ck.config, ck.weights, tokens);
      const check = async (name: string, want: { shape: readonly number[]; data: Float32Array }) => {
        const got = await f.readF32(name);
        expect(got.shape, name).toEqual(want.shape);
        let m = 0;
        for (let i = 0; i < got.data.length; i++) m = Math.max(m, Math.abs(got.data[i] - want.data[i]));
        expect(m, name).toBeLessThanOrEqual(1e-4);
      };
      await check('logits', ref.logits);
      for (const h of hooks) await check(h, ref.hooks.get(h)!);
    });
  }

  it('forward without --cache writes only logits; --reference uses the oracle', async () => {
    const ck = await writeRandomCheckpoint('llama');
    const out = join(ck.dir, 'fwd.safetensors');
    const c = await loupe(['forward', '--model', ck.dir, '--tokens', '0,5,7', '--out', out, '--reference']);
    expect(c.code).toBe(0);
    const f = await SafetensorsFile.open(bytesSource(new Uint8Array(await readFile(out))));
    expect(f.names()).toEqual(['logits']);
    expect(f.metadata.engine).toBe('reference');
    expect(JSON.parse(f.metadata.tokens)).toEqual([0, 5, 7]);
  });
});

describe('progress', () => {
  it('prints plain lines when not a TTY, at most one per 10%', () => {
    const lines: string[] = [];
    const p = createProgress('train', 100, { write: (s) => lines.push(s) }, () => 0);
    for (let i = 1; i <= 100; i++) p.update(i);
    p.finish();
    expect(lines.every((l) => l.endsWith('\n') && !l.includes('\r'))).toBe(true);
    expect(lines.length).toBeLessThanOrEqual(12);
    expect(lines.at(-1)).toMatch(/train: 100% \(100\/100\) 0.0s done/);
  });
  it('redraws one line on a TTY', () => {
    const chunks: string[] = [];
    const p = createProgress('x', 4, { write: (s) => chunks.push(s), isTTY: true, columns: 80 }, () => 0);
    p.step('a');
    p.finish();
    expect(chunks[0].startsWith('\r\u001b[2K')).toBe(true);
    expect(chunks[0]).toMatch(/x \[#+\.+\] 25% /);
    expect(chunks.at(-1)).toBe('\n');
    expect(() => createProgress('x', 0, { write: () => true })).toThrow(/total must be positive/);
  });
});
