/**
 * Every code block in docs/ marked runnable (```sh runnable, ```ts runnable) is run as written, so the docs
 * cannot drift from what the commands and the library do:
 * - sh blocks run in bash from the repository root (`pnpm loupe ...` works as in a checkout), with outputs
 *   moved from `loupe-out/` to a scratch folder;
 * - ts blocks run through tsx from the repository root, importing `@loupe/core` as a user would;
 * - a ```text output block right after one lists lines its output must contain (paths in the scratch
 *   folder read `loupe-out/...` again).
 * The blocks of one page run in order on one scratch folder, so a later block can use an earlier one's files.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { type RunnableBlock, runnableBlocks } from './markdown.ts';

const docs = resolve(import.meta.dirname, '..');
const repoRoot = resolve(docs, '..');
const tsxCli = createRequire(import.meta.url).resolve('tsx/cli');

/** Markdown pages under docs/, the generated API reference and installed packages left out. */
function pages(): string[] {
  return (readdirSync(docs, { recursive: true }) as string[])
    .filter((f) => f.endsWith('.md') && !/(^|\/)(node_modules|api)\//.test(f))
    .sort();
}

// ts blocks live under docs/ while they run, where `@loupe/core` resolves as the docs package's dependency.
const scriptDir = mkdtempSync(join(docs, '.runnable-'));
const scratch = mkdtempSync(join(tmpdir(), 'loupe-docs-'));
afterAll(() => {
  rmSync(scriptDir, { recursive: true, force: true });
  rmSync(scratch, { recursive: true, force: true });
});

async function run(page: string, block: RunnableBlock, outDir: string): Promise<string> {
  const env = { ...process.env, LOUPE_OUT_DIR: outDir, NO_COLOR: '1' };
  let file: string;
  let args: string[];
  if (block.lang === 'sh') {
    file = 'bash';
    args = ['-eo', 'pipefail', '-c', block.body.replaceAll('loupe-out/', '"$LOUPE_OUT_DIR"/')];
  } else {
    const script = join(scriptDir, `${page.replace(/[/.]/g, '_')}-${block.line}.ts`);
    writeFileSync(script, block.body.replaceAll("'loupe-out/", `'${outDir}/`));
    file = process.execPath;
    args = [tsxCli, script];
  }
  try {
    const { stdout } = await promisify(execFile)(file, args, { cwd: repoRoot, env, maxBuffer: 1 << 24 });
    // Paths printed as the page wrote them, so that expected output can name `loupe-out/...`.
    return stdout.replaceAll(`${outDir}/`, 'loupe-out/');
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    throw new Error(`docs/${page}:${block.line} exited ${err.code}\n${err.stdout ?? ''}${err.stderr ?? ''}`);
  }
}

const all = pages().map((page) => ({ page, blocks: runnableBlocks(readFileSync(join(docs, page), 'utf8')) }));

describe('runnable blocks in docs/', () => {
  it('the docs have runnable blocks in sh and ts', () => {
    const langs = new Set(all.flatMap((p) => p.blocks.map((b) => b.lang)));
    expect([...langs].sort()).toEqual(['sh', 'ts']);
  });

  for (const { page, blocks } of all.filter((p) => p.blocks.length > 0)) {
    describe(`docs/${page}`, () => {
      const outDir = join(scratch, page.replace(/[/.]/g, '_'));
      mkdirSync(outDir, { recursive: true });
      for (const block of blocks) {
        const title = `line ${block.line} (${block.lang}): ${block.body.split('\n')[0].slice(0, 80)}`;
        it(title, async () => {
          const out = await run(page, block, outDir);
          for (const line of block.expected) {
            expect(out, `docs/${page}:${block.line} output`).toContain(line);
          }
        });
      }
    });
  }
});
