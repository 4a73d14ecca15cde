import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
const biome = path.join(root, 'node_modules', '.bin', 'biome');
const dir = mkdtempSync(path.join(tmpdir(), 'loupe-lint-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function biomeCi(source: string): { status: number | null; output: string } {
  const file = path.join(dir, `probe-${Math.random().toString(36).slice(2)}.ts`);
  writeFileSync(file, source);
  const r = spawnSync(
    biome,
    ['ci', '--colors=off', '--vcs-enabled=false', '--config-path', path.join(root, 'biome.json'), file],
    {
      encoding: 'utf8',
    },
  );
  return { status: r.status, output: r.stdout + r.stderr };
}

it("biome ci with the repository's config fails on unformatted code and passes it formatted", () => {
  // Double quotes are biome's default; the repository's config asks for single ones, so this also shows
  // that the repository's settings, not the defaults, are what is checked.
  const bad = biomeCi('export const x = {a: "1",\n  b: 2}\n');
  expect(bad.status).toBe(1);
  expect(bad.output).toContain('File content differs from formatting output');
  const good = biomeCi("export const x = { a: '1', b: 2 };\n");
  expect(good.output).toContain('Checked 1 file');
  expect(good.status).toBe(0);
});

it('pnpm lint runs biome ci in every workspace package and over the root scripts', () => {
  const rootPkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
  expect(rootPkg.scripts.lint).toMatch(/^turbo run lint && biome ci scripts infra /);
  const packages = ['apps', 'packages'].flatMap((group) =>
    readdirSync(path.join(root, group), { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => path.join(group, d.name, 'package.json')),
  );
  const lints = packages
    .filter((p) => existsSync(path.join(root, p)))
    .map((p) => [p, JSON.parse(readFileSync(path.join(root, p), 'utf8')).scripts?.lint]);
  expect(lints.length).toBeGreaterThanOrEqual(7);
  for (const [p, lint] of lints) expect(lint, p).toBe('biome ci .');
});
