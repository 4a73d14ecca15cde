import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { type CaseResult, parseCaseResult } from '../src/claims.ts';
import { exampleOf, graphRecordOf, graphRecordOfExample, seedOf } from '../src/seed-export.ts';

const result: CaseResult = {
  name: 'two-hop',
  claims: [{ id: 'T1', statement: 'Texas is in the graph.', metric: 'rank', op: '<=', threshold: 20 }],
  settings: [
    {
      setting: 'organism-m/plt',
      measurements: { T1: { value: 37.5, baseline: 8, n: 20 } },
      tables: [
        {
          title: 'Interventions on the held-out cities',
          header: ['intervention', 'rate'],
          rows: [['swap', 0.25]],
        },
        { title: 'Region features found by contrast', header: ['position', 'found'], rows: [['city', '6']] },
        {
          title: 'The automatic first pass',
          header: [],
          rows: [],
          graph: {
            prompt: 'the capital of the region containing Dallas is',
            supernodes: [
              { label: 'Texas', members: ['2:6:101', '3:6:7'] },
              { label: 'Texas again', members: ['3:6:7'] },
            ],
          },
        },
      ],
    },
    {
      setting: 'organism-m/clt',
      measurements: { T1: { value: 4, n: 20 } },
      tables: [
        {
          title: 'Interventions on the held-out cities',
          header: ['intervention', 'rate'],
          rows: [['swap', 0.5]],
        },
      ],
    },
  ],
};

describe('the Examples seed export', () => {
  const graph = graphRecordOf(result.settings[0].tables);

  it('finds the graph record the first-pass table carries', () => {
    expect(graph?.prompt).toBe('the capital of the region containing Dallas is');
    expect(graphRecordOf(result.settings[1].tables)).toBeUndefined();
  });

  it('turns a result into an investigation: supernodes by feature key, labels, verdicts as notes, interventions', () => {
    const ex = exampleOf('an intermediate region step', result, graph as NonNullable<typeof graph>);
    expect(ex).toMatchObject({
      key: 'two-hop',
      title: 'Two-hop: an intermediate region step (organism-m/plt)',
      model: 'organism-m',
      dictionary: 'organism-m/plt',
    });
    expect(ex.supernodes[0]).toEqual({
      id: 'two-hop-1',
      name: 'Texas',
      members: [
        { layer: 2, pos: 6, feature: 101 },
        { layer: 3, pos: 6, feature: 7 },
      ],
    });
    // A feature in two supernodes carries both names.
    expect(ex.featureLabels).toEqual([
      { layer: 2, feature: 101, label: 'Texas' },
      { layer: 3, feature: 7, label: 'Texas / Texas again' },
    ]);
    expect(ex.notes).toContain('- organism-m/plt: not supported: 37.5 (baseline 8), n=20');
    expect(ex.notes).toContain('- organism-m/clt: **supported**: 4, n=20');
    expect(ex.notes).toContain('Criterion: <= 20.');
    // Only the intervention tables, one experiment per setting, numbers as the docs print them.
    expect(ex.experiments.map((e) => [e.name, e.result])).toEqual([
      ['organism-m/plt: Interventions on the held-out cities', { rows: [['swap', '0.250']] }],
      ['organism-m/clt: Interventions on the held-out cities', { rows: [['swap', '0.500']] }],
    ]);
    // What the seed stores reads back as the same graph record.
    expect(graphRecordOfExample(ex)).toEqual(graph);
  });

  it('the revision follows the content and nothing else', () => {
    const ex = exampleOf('t', result, graph as NonNullable<typeof graph>);
    expect(seedOf([ex]).revision).toBe(seedOf([structuredClone(ex)]).revision);
    expect(seedOf([{ ...ex, notes: 'other' }]).revision).not.toBe(seedOf([ex]).revision);
    expect(seedOf([ex]).schemaVersion).toBe(1);
  });

  it('a malformed member key is an error naming it', () => {
    const bad = { prompt: 'p', supernodes: [{ label: 'x', members: ['2:six:1'] }] };
    expect(() => exampleOf('t', result, bad)).toThrow("'2:six:1' is not a layer:pos:feature key");
  });

  it('the committed seed holds every committed case with each of its claims', () => {
    const file = path.resolve(import.meta.dirname, '../../api/seed/examples.json');
    const seed = JSON.parse(readFileSync(file, 'utf8')) as {
      investigations: { key: string; notes: string }[];
    };
    const names = ['addition', 'two-hop', 'multilingual', 'rhyme', 'entities'];
    expect(seed.investigations.map((i) => i.key)).toEqual(names);
    for (const [i, name] of names.entries()) {
      const committed = parseCaseResult(
        readFileSync(path.resolve(import.meta.dirname, `../results/${name}.json`), 'utf8'),
      );
      for (const c of committed.claims) expect(seed.investigations[i].notes, name).toContain(`## ${c.id}: `);
    }
  });
});
