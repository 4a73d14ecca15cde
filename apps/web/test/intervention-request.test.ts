import { parseInterventionRequest, topTokens, topUnion } from '@loupe/core';
import { describe, expect, it } from 'vitest';
import {
  buildRequest,
  experimentName,
  experimentSpec,
  logitsOf,
  probabilityRows,
  runReport,
} from '../src/components/intervention/request.ts';

const node = { label: 'L5 #208', members: [{ layer: 5, pos: 5, feature: 208 }] };
const group = {
  label: 'sum digits',
  members: [
    { layer: 5, pos: 5, feature: 208 },
    { layer: 3, pos: 4, feature: 17 },
  ],
};

describe('the lab request', () => {
  it('scales every picked feature once, as one inline supernode the CLI and worker parse', () => {
    const req = buildRequest([node, group], { op: 'scale', amount: -2 }, ['constrained'], 0, 5);
    expect(req).toEqual({
      set: [],
      scale: [{ group: { label: 'lab', members: [group.members[0], group.members[1]] }, factor: -2 }],
      mode: 'constrained',
      compare: false,
      topK: 5,
    });
    expect(parseInterventionRequest(req).scales[0].group.members).toHaveLength(2);
  });

  it('sets values as L:P:F=V strings; two modes run all three and generation is optional', () => {
    const req = buildRequest([group], { op: 'set', amount: 1.5 }, ['free', 'constrained'], 4, 10);
    expect(req.set).toEqual(['5:5:208=1.5', '3:4:17=1.5']);
    expect(req).toMatchObject({ mode: 'free', compare: true, generate: 4, topK: 10 });
    expect(parseInterventionRequest(req).features.map((f) => f.value)).toEqual([1.5, 1.5]);
  });

  it('names and saves an experiment that reads back as it was written', () => {
    const change = { op: 'scale' as const, amount: 0 };
    expect(experimentName([node], change, ['constrained', 'free'], 'browser')).toBe(
      'L5 #208 ×0 (constrained vs free, browser)',
    );
    const spec = {
      targets: [node],
      change,
      modes: ['constrained' as const],
      runner: 'worker' as const,
      prompt: '36+59=',
      request: buildRequest([node], change, ['constrained'], 0, 5),
    };
    expect(experimentSpec.parse(JSON.parse(JSON.stringify(spec)))).toEqual(spec);
    expect(experimentSpec.safeParse({ ...spec, modes: [] }).success).toBe(false);
  });
});

// A position where token 0 leaves the top 2 after the intervention and token 3 enters it.
const clean = new Float32Array([3, 2, 0, 1, -1]);
const after = new Float32Array([0, 2, 0, 3, -1]);
const top = { clean: topTokens(clean, 2), intervened: topTokens(after, 2) };
const position = { pos: 0, ...top, diffs: [], union: topUnion(clean, after, top), kl: 0.5 };
const reportOf = (p: object) => ({ runs: [{ mode: 'constrained', applied: [], positions: [p] }] });

describe('the lab result', () => {
  it('gives every token of either top k both bars and both logits', () => {
    const p = runReport.parse(JSON.parse(JSON.stringify(reportOf(position)))).runs[0].positions[0];
    const rows = probabilityRows(p);
    expect(rows.map((r) => r.id)).toEqual([0, 1, 3]);
    for (const r of rows) {
      expect(r.before).toBeGreaterThan(0);
      expect(r.after).toBeGreaterThan(0);
    }
    // The token that left keeps an after bar, smaller than the one that entered; both are choosable.
    expect(rows[0].after).toBeLessThan(rows[2].after as number);
    expect(logitsOf(p, 0)).toEqual({ before: 3, after: 0 });
    expect(logitsOf(p, 3)).toEqual({ before: 1, after: 3 });
  });

  it('still reads an experiment saved before the union: one-sided bars, logits only where both are known', () => {
    const { union: _, ...old } = position;
    const p = runReport.parse(JSON.parse(JSON.stringify(reportOf(old)))).runs[0].positions[0];
    const rows = probabilityRows(p);
    expect(rows.map((r) => [r.id, r.before !== undefined, r.after !== undefined])).toEqual([
      [0, true, false],
      [1, true, true],
      [3, false, true],
    ]);
    expect(logitsOf(p, 1)).toEqual({ before: 2, after: 2 });
    expect(logitsOf(p, 0)).toBeNull();
  });
});
