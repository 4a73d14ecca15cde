import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PermanentJobError } from '../src/registry.ts';
import { checkJobPaths, realRoots } from '../src/roots.ts';

describe('data roots', () => {
  const base = mkdtempSync(path.join(tmpdir(), 'loupe-roots-'));
  const root = path.join(base, 'data');
  const outside = path.join(base, 'secret');
  mkdirSync(path.join(root, 'models', 'm'), { recursive: true });
  mkdirSync(outside);
  writeFileSync(path.join(outside, 'key.txt'), 'secret');
  symlinkSync(outside, path.join(root, 'models', 'escape'));
  symlinkSync(path.join(root, 'models', 'm'), path.join(root, 'alias'));
  const roots = realRoots([root]);
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  const refusal = (paths: Parameters<typeof checkJobPaths>[0]): string => {
    try {
      checkJobPaths(paths, roots);
      return 'accepted';
    } catch (e) {
      expect(e).toBeInstanceOf(PermanentJobError);
      return (e as Error).message;
    }
  };

  it('accepts folders inside a root, a symlink that stays inside, and a new output folder', () => {
    expect(refusal({ model: path.join(root, 'models', 'm') })).toBe('accepted');
    expect(refusal({ dictionary: path.join(root, 'alias') })).toBe('accepted');
    expect(refusal({ out: path.join(root, 'dictionaries', 'job-1') })).toBe('accepted');
  });

  it('refuses .., a symlink out, an absolute path elsewhere, and a relative path', () => {
    expect(refusal({ model: `${root}/models/../../secret` })).toMatch(
      /refused model path .*: not an absolute path without '\.\.'/,
    );
    expect(refusal({ corpus: path.join(root, 'models', 'escape', 'key.txt') })).toMatch(
      /refused corpus path .* resolves to .*secret.*key\.txt, outside the worker's data roots/,
    );
    expect(refusal({ dictionary: outside })).toMatch(
      /refused dictionary path .* outside the worker's data roots/,
    );
    expect(refusal({ model: 'data/models/m' })).toMatch(/not an absolute path/);
    // An output under a symlinked folder would be written outside: refused before the folder exists.
    expect(refusal({ out: path.join(root, 'models', 'escape', 'new', 'dir') })).toMatch(
      /outside the worker's data roots/,
    );
  });

  it('names an input that does not exist', () => {
    expect(refusal({ model: path.join(root, 'models', 'gone') })).toMatch(/model .*gone does not exist/);
  });
});
