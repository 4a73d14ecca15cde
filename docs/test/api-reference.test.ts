/**
 * The API reference (`pnpm run docs`: TypeDoc over @loupe/core's three entry points) builds with no warning:
 * TypeDoc runs with treatWarningsAsErrors, so an export whose signature names a type the reference cannot
 * link, or a broken {@link}, fails here.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';

const docs = resolve(import.meta.dirname, '..');
const typedoc = join(createRequire(import.meta.url).resolve('typedoc/package.json'), '../bin/typedoc');
const out = mkdtempSync(join(tmpdir(), 'loupe-api-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

it("builds @loupe/core's API reference with no warnings", async () => {
  const args = [typedoc, '--options', join(docs, 'typedoc.json'), '--out', out];
  const result = await promisify(execFile)(process.execPath, args, { cwd: docs }).catch(
    (e: { code?: number; stdout?: string; stderr?: string }) => {
      throw new Error(`typedoc exited ${e.code}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
    },
  );
  expect(`${result.stdout}${result.stderr}`).not.toMatch(/\[warning\]|\[error\]/);
  // One module page per entry point, and the classes a user starts from.
  for (const page of ['modules/index.html', 'modules/node.html', 'modules/browser.html']) {
    expect(existsSync(join(out, page)), page).toBe(true);
  }
  const modelPage = readFileSync(join(out, 'classes/index.Model.html'), 'utf8');
  expect(modelPage).toContain('create');
}, 300_000);
