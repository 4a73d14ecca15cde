/**
 * README's quick start and CLI sections, run as written: every `pnpm loupe ...` line of their bash blocks, in
 * order, on a fresh output folder (LOUPE_OUT_DIR, and `loupe-out/...` arguments moved into it). `npm start` and
 * `npm test` are left to their own tests. So the README cannot drift from the commands it shows.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { fencedBlocks, section } from '../../../docs/test/markdown.ts';

const repoRoot = resolve(import.meta.dirname, '../../..');
const README_SECTIONS = ['Quick start', 'The CLI'];
const LEFT_TO_OTHER_TESTS = /^npm (start|test)\b/;

/** The lines of the ```bash blocks under `## heading`, its ### subsections included. */
export function sectionCommands(markdown: string, heading: string): string[] {
  return fencedBlocks(section(markdown, heading))
    .filter((b) => b.lang === 'bash')
    .flatMap((b) => b.body.split('\n').map((line) => line.trim()))
    .filter((line) => line !== '' && !line.startsWith('#'));
}

/** A command line as sh splits it: words, '…' and "…" quoting (no escapes inside '…'), a trailing # comment. */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  let word: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === ' ' || c === '\t') {
      if (word !== null) words.push(word);
      word = null;
    } else if (c === '#' && word === null) {
      break;
    } else if (c === "'" || c === '"') {
      const end = line.indexOf(c, i + 1);
      if (end < 0) throw new Error(`unterminated ${c} in: ${line}`);
      word = (word ?? '') + line.slice(i + 1, end);
      i = end;
    } else if (c === '\\' || c === '$' || c === '`') {
      throw new Error(`README command uses shell syntax this test does not run (${c}): ${line}`);
    } else {
      word = (word ?? '') + c;
    }
  }
  if (word !== null) words.push(word);
  return words;
}

function flag(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}

/** `"95" 78.3%, "96" 15.2%` → [['95', 78.3], ['96', 15.2]] */
function distribution(line: string): [string, number][] {
  return [...line.matchAll(/("(?:[^"\\]|\\.)*") (\d+\.\d)%/g)].map((m) => [JSON.parse(m[1]), Number(m[2])]);
}

const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
const commands = README_SECTIONS.flatMap((h) => sectionCommands(readme, h));
const outDir = mkdtempSync(join(tmpdir(), 'loupe-readme-'));
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

interface Ran {
  args: string[];
  out: string;
}
const ran: Ran[] = [];

async function runAsWritten(words: string[]): Promise<Ran> {
  const args = words
    .slice(2)
    .map((a) => (a.startsWith('loupe-out/') ? join(outDir, a.slice('loupe-out/'.length)) : a));
  try {
    const { stdout } = await promisify(execFile)('pnpm', ['loupe', ...args], {
      cwd: repoRoot,
      env: { ...process.env, LOUPE_OUT_DIR: outDir },
      maxBuffer: 1 << 24,
    });
    return { args, out: stdout };
  } catch (e) {
    const err = e as { code?: number; stderr?: string; stdout?: string };
    throw new Error(`exit ${err.code}: ${words.join(' ')}\n${err.stdout ?? ''}${err.stderr ?? ''}`);
  }
}

/** The `LAYER:POS:FEATURE` ids an earlier README `attribute` printed for this model, dictionary and prompt. */
function topFeatureIds(args: readonly string[]): Set<string> {
  const same = ran.filter(
    (r) =>
      r.args[0] === 'attribute' &&
      ['model', 'transcoders', 'prompt'].every((f) => flag(r.args, f) === flag(args, f)),
  );
  return new Set(
    same.flatMap((r) => [...r.out.matchAll(/^ {2}(\d+:\d+:\d+) +influence/gm)].map((m) => m[1])),
  );
}

describe("README's quick start and CLI examples, as written", () => {
  it('has examples, and every line is one this test runs or leaves to another', () => {
    expect(commands.length).toBeGreaterThan(3);
    for (const line of commands) {
      if (LEFT_TO_OTHER_TESTS.test(line)) continue;
      expect(shellWords(line).slice(0, 2), `README line: ${line}`).toEqual(['pnpm', 'loupe']);
    }
  });

  for (const line of commands.filter((l) => !LEFT_TO_OTHER_TESTS.test(l))) {
    it(line, async () => {
      const r = await runAsWritten(shellWords(line));
      ran.push(r);
      expect(r.out.trim()).not.toBe('');
      const command = r.args[0];
      if (command === 'forward' || command === 'attribute') {
        expect(r.out).toMatch(/^next token: "[^"]*" \d+\.\d%/m);
      }
      if (command === 'attribute') expect(r.out).toMatch(/^ {2}\d+:\d+:\d+ +influence/m);
      if (command === 'intervene') {
        // Each feature set is one the README's own attribute run showed as influential on this prompt...
        const shown = topFeatureIds(r.args);
        for (const spec of r.args.filter((_, i) => r.args[i - 1] === '--set')) {
          const id = spec.slice(0, spec.indexOf('='));
          expect(
            shown.has(id),
            `intervene --set ${id} is not among the features the README's attribute run printed (${[...shown].join(', ')}): paste one of those`,
          ).toBe(true);
        }
        // ...and moves the answer: the top token before loses probability after.
        const before = [...r.out.matchAll(/^\[(\S+)\] before: (.*)$/gm)];
        expect(before.length).toBeGreaterThan(0);
        for (const [, mode, line] of before) {
          const after = new RegExp(`^\\[${mode}\\] after: +(.*)$`, 'm').exec(r.out)?.[1] ?? '';
          const [topToken, p0] = distribution(line)[0];
          const p1 = distribution(after).find(([t]) => t === topToken)?.[1] ?? 0;
          expect(p1, `[${mode}] "${topToken}" before ${p0}%, after ${p1}%`).toBeLessThan(p0);
        }
      }
    }, 600_000);
  }
});
