import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GraphExplanation } from '@loupe/core';
import { importGraphJson } from '@loupe/core';
import { afterAll, describe, expect, it } from 'vitest';
import { loupe } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'cli-explain-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('loupe explain', () => {
  it('proposes supernodes of graph features and paths from prompt tokens to the top logit', async () => {
    const graph = join(dir, 'g.json');
    const a = await loupe([
      'attribute',
      '--model',
      'organism-s',
      '--transcoders',
      'organism-s/plt',
      '--prompt',
      '36+59=',
      '--out',
      graph,
      '--top-features',
      '0',
    ]);
    expect(a.code).toBe(0);
    const out = join(dir, 'explain.json');
    const c = await loupe(['explain', graph, '--out', out]);
    expect(c.err).toBe('');
    expect(c.code).toBe(0);
    const g = importGraphJson(await readFile(graph, 'utf8'));
    const e = JSON.parse(await readFile(out, 'utf8')) as GraphExplanation;
    const byId = new Map(g.nodes.map((n) => [n.node_id, n]));
    expect(byId.get(e.target.node_id)?.feature_type).toBe('logit');
    expect(e.supernodes.length).toBeGreaterThan(0);
    const seen = new Set<string>();
    for (const s of e.supernodes) {
      expect(s.members.length).toBeGreaterThanOrEqual(2);
      const members = s.members.map((m) => byId.get(m));
      // Members are features of one position, each in at most one supernode.
      for (const m of members) {
        expect(m?.feature_type).toBe('per layer transcoder');
        expect(m?.ctx_idx).toBe(s.ctxIdx);
        expect(seen.has(m?.node_id as string)).toBe(false);
        seen.add(m?.node_id as string);
      }
      expect(s.influence).toBeGreaterThan(0);
      expect(s.influence).toBeLessThanOrEqual(1);
    }
    expect(e.sources.tokens + e.sources.errors).toBeLessThanOrEqual(1 + 1e-9);
    expect(e.paths.length).toBeGreaterThan(0);
    for (const p of e.paths) {
      expect(byId.get(p.steps[0])?.feature_type).toBe('embedding');
      expect(p.steps[p.steps.length - 1]).toBe(e.target.node_id);
      expect(p.strength).toBeGreaterThan(0);
    }
    expect(c.out).toContain(e.supernodes[0].id);
  });

  it('rejects bad input with a clear message', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"nodes": 3}');
    const cases: [string[], number, RegExp][] = [
      [[], 2, /required: the graph JSON file/],
      [['g.txt'], 2, /must be a \.json file/],
      [[join(dir, 'missing.json')], 1, /cannot read .*ENOENT/],
      [[bad], 1, /graph JSON/],
      [[bad, '--merge-threshold', '2'], 2, /--merge-threshold: must be a number between 0 and 1/],
      [[bad, '--graph', bad], 2, /not both/],
    ];
    for (const [args, code, message] of cases) {
      const c = await loupe(['explain', ...args]);
      expect(c.code).toBe(code);
      expect(c.err).toMatch(message);
    }
  });
});
