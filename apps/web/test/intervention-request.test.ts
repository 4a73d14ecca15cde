import { parseInterventionRequest } from '@loupe/core';
import { describe, expect, it } from 'vitest';
import { buildRequest, experimentName, experimentSpec } from '../src/components/intervention/request.ts';

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
