/**
 * `pnpm loupe` runs the bundle that loupe.mjs keeps built from the sources: it must say what the sources say, and
 * list every command file among the inputs that make it stale.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { isFresh } from '../build.mjs';
import { loupe } from './helpers.ts';

const CLI_DIR = resolve(import.meta.dirname, '..');

async function launched(args: string[]): Promise<{ out: string; err: string }> {
  const { stdout, stderr } = await promisify(execFile)(process.execPath, [
    join(CLI_DIR, 'loupe.mjs'),
    ...args,
  ]);
  return { out: stdout, err: stderr };
}

describe('the bundled CLI', () => {
  it('prints the help of every command exactly as the sources do', async () => {
    const run = await launched(['--help']);
    expect(run.out).toBe(`${(await loupe(['--help'])).out}\n`);
    const attribute = await launched(['attribute', '--help']);
    expect(attribute.out).toBe(`${(await loupe(['attribute', '--help'])).out}\n`);
  });

  it('was built from every command file, so that editing one rebuilds it', async () => {
    await launched(['--help']);
    const inputs: string[] = JSON.parse(readFileSync(join(CLI_DIR, 'dist', 'loupe.inputs.json'), 'utf8'));
    const commands = readdirSync(join(CLI_DIR, 'src', 'commands')).map((f) =>
      join(CLI_DIR, 'src', 'commands', f),
    );
    for (const file of commands) expect(inputs).toContain(file);
    expect(inputs).toContain(join(CLI_DIR, 'src', 'commands'));
  });

  it('reports an unknown command with exit code 2, as the sources do', async () => {
    const err = await launched(['no-such-command']).catch((e: { code: number; stderr: string }) => e);
    expect(err).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/unknown command 'no-such-command'/),
    });
  });
});

describe('isFresh', () => {
  const dir = mkdtempSync(join(tmpdir(), 'loupe-fresh-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const at = (file: string, seconds: number) => utimesSync(file, seconds, seconds);

  it('holds while every input is as old as the bundle, and fails when one is newer, gone or unlisted', () => {
    const bundle = join(dir, 'bundle.mjs');
    const list = join(dir, 'inputs.json');
    const inputs = [join(dir, 'a.ts'), join(dir, 'b.ts')];
    for (const f of [bundle, ...inputs]) writeFileSync(f, '');
    writeFileSync(list, JSON.stringify([...inputs, dir]));
    for (const f of [...inputs, dir]) at(f, 1000);
    at(bundle, 2000);
    expect(isFresh(bundle, list)).toBe(true);
    at(inputs[1], 2000);
    expect(isFresh(bundle, list)).toBe(true);
    at(inputs[1], 2001);
    expect(isFresh(bundle, list)).toBe(false);
    at(inputs[1], 1000);
    writeFileSync(join(dir, 'c.ts'), '');
    expect(isFresh(bundle, list)).toBe(false); // the folder changed
    at(dir, 1000);
    expect(isFresh(bundle, list)).toBe(true);
    rmSync(inputs[0]);
    at(dir, 1000);
    expect(isFresh(bundle, list)).toBe(false); // an input is gone
    expect(isFresh(join(dir, 'missing.mjs'), list)).toBe(false);
    expect(isFresh(bundle, join(dir, 'missing.json'))).toBe(false);
  });
});
