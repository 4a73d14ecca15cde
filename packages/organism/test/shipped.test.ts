import { readFileSync } from 'node:fs';
import path from 'node:path';
import { nodeFiles, nodeRuntime } from '@loupe/core/node';
import { describe, expect, it } from 'vitest';
import { evaluateCheckpoint } from '../src/eval/run.ts';
import { extractGenerated, generatedDocs, lossCurveSvg } from '../src/report.ts';
import { loadShippedReports, resolveModelDir, SHIPPED_MODELS_DIR, shippedModelDir } from '../src/shipped.ts';

const files = nodeFiles();
const reports = await loadShippedReports(files);
const repoRoot = path.resolve(import.meta.dirname, '../../..');

describe('the shipped organisms', () => {
  it('are organism-s and organism-m', () => {
    expect(reports.map((r) => r.name)).toEqual(['organism-s', 'organism-m']);
  });

  // Greedy decoding on the same weights is deterministic, so the committed eval.json must come back exactly.
  it.each(reports.map((r) => r.name))('%s: re-running the eval reproduces its eval.json', async (name) => {
    const dir = shippedModelDir(name as 'organism-s' | 'organism-m');
    const rows = await evaluateCheckpoint(dir, files, nodeRuntime());
    const committed = JSON.parse(readFileSync(path.join(dir, 'eval.json'), 'utf8'));
    expect(JSON.parse(JSON.stringify(rows))).toEqual(committed);
  });

  it('docs/organism.md shows exactly the numbers of their config, curve and eval files', () => {
    const page = readFileSync(path.join(repoRoot, 'docs/organism.md'), 'utf8');
    expect(extractGenerated(page)).toBe(generatedDocs(reports));
  });

  it('docs/img holds each loss curve as generated from its training-curve.json', () => {
    for (const r of reports) {
      const svg = readFileSync(path.join(repoRoot, `docs/img/${r.name}-loss.svg`), 'utf8');
      expect(svg).toBe(lossCurveSvg(r));
    }
  });

  it('names resolve to the shipped directories, anything else to a path', () => {
    expect(resolveModelDir('organism-s')).toBe(path.join(SHIPPED_MODELS_DIR, 'organism-s'));
    expect(resolveModelDir('./organism-s', '/x')).toBe('/x/organism-s');
    expect(resolveModelDir('models/gpt2', '/x')).toBe('/x/models/gpt2');
    expect(() => resolveModelDir('')).toThrow(/empty/);
  });
});
