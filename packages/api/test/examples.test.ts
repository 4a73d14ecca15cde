import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ExampleSeed,
  examplesSeedKey,
  featureNodeId,
  readExampleSeed,
  seedExamples,
} from '../src/index.ts';
import { backendNames, type Caller, Harness, tinyGraph } from './harness.ts';

const seedFile = path.resolve(import.meta.dirname, '../seed/examples.json');

function seed(
  revision: string,
  notes = 'The claim, its criterion and its verdict: not supported (0.08).',
): ExampleSeed {
  return {
    schemaVersion: 1,
    revision,
    team: 'Examples',
    investigations: [
      {
        key: 'addition',
        title: 'Addition (organism-m/plt)',
        model: 'organism-m',
        dictionary: 'organism-m/plt',
        prompt: '36+59=',
        supernodes: [
          {
            id: 'addition-1',
            name: 'sum magnitude',
            members: [
              { layer: 5, pos: 6, feature: 12 },
              { layer: 4, pos: 6, feature: 3 },
            ],
          },
        ],
        featureLabels: [
          { layer: 5, feature: 12, label: 'sum magnitude' },
          { layer: 4, feature: 3, label: 'sum magnitude' },
        ],
        notes,
        experiments: [
          {
            name: 'organism-m/plt: Ablations at "="',
            spec: { source: 'case-study', case: 'addition', setting: 'organism-m/plt' },
            result: { rows: [['ablate tens features', '0.9', 60]] },
          },
        ],
      },
      {
        key: 'two-hop',
        title: 'Two-hop (organism-m/plt)',
        model: 'organism-m',
        dictionary: 'organism-m/plt',
        prompt: 'Fact: the capital of the state containing Dallas is',
        supernodes: [],
        featureLabels: [],
        notes: 'T1: not supported',
        experiments: [],
      },
    ],
  };
}

/** Everything a start may write, to compare two starts. */
async function state(h: Harness) {
  const db = h.db.prisma;
  const team = await db.team.findUniqueOrThrow({ where: { seedKey: examplesSeedKey } });
  return {
    team,
    investigations: await db.investigation.findMany({
      where: { teamId: team.id },
      orderBy: { title: 'asc' },
    }),
    experiments: await db.experiment.count({ where: { investigation: { teamId: team.id } } }),
    labels: await db.featureAnnotation.findMany({ where: { teamId: team.id }, orderBy: { layer: 'asc' } }),
    jobs: await db.job.findMany({ where: { teamId: team.id }, orderBy: { queuedAt: 'asc' } }),
    history: await db.historyEntry.count({ where: { teamId: team.id } }),
  };
}

describe.each(backendNames)('the seeded Examples team (%s)', (backend) => {
  let h: Harness;
  let dictionaryId: string;
  let modelId: string;

  beforeAll(async () => {
    h = await Harness.open(backend);
    const pair = await h.catalogPair(null, { key: 'organism-m' });
    dictionaryId = pair.dictionary.id;
    modelId = pair.model.id;
  }, 120_000);
  afterAll(() => h.close());

  it('the first start creates the read-only team and queues a trace of each example on catalogue ids', async () => {
    const first = await seedExamples(h.db.prisma, seed('r1'));
    expect(first).toMatchObject({ applied: true, revision: 'r1', missing: [] });
    expect(first.traces).toHaveLength(2);
    const s = await state(h);
    expect(s.team).toMatchObject({ name: 'Examples', readOnly: true, seedRevision: 'r1' });
    expect(s.investigations.map((i) => i.title)).toEqual([
      'Addition (organism-m/plt)',
      'Two-hop (organism-m/plt)',
    ]);
    const addition = s.investigations[0];
    expect(addition.supernodes).toEqual([
      { id: 'addition-1', name: 'sum magnitude', nodeIds: ['5_12_6', '4_3_6'] },
    ]);
    expect(addition.pinnedNodes).toEqual(['5_12_6', '4_3_6']);
    expect(addition.nodeLabels).toEqual({});
    expect(addition.traceJobId).toBe(first.traces[0]);
    expect(s.experiments).toBe(1);
    expect(s.labels.map((l) => [l.dictionaryId, l.layer, l.featureIndex, l.label])).toEqual([
      [dictionaryId, 4, 3, 'sum magnitude'],
      [dictionaryId, 5, 12, 'sum magnitude'],
    ]);
    for (const job of s.jobs) {
      expect(job).toMatchObject({ kind: 'attribute', status: 'queued', priority: -50, createdById: null });
      // Catalogue ids only: the worker resolves paths when it claims the job.
      expect(Object.keys(job.params as object).sort()).toEqual(
        expect.arrayContaining(['dictionaryId', 'modelId', 'prompt']),
      );
      expect(job.params).toMatchObject({ modelId, dictionaryId });
      expect(JSON.stringify(job.params)).not.toContain('/models/');
    }
  });

  it('a second start with the same seed changes nothing', async () => {
    const before = await state(h);
    const again = await seedExamples(h.db.prisma, seed('r1'));
    expect(again).toEqual({ applied: false, revision: 'r1', traces: [], missing: [] });
    expect(await state(h)).toEqual(before);
  });

  it('a new revision replaces the examples, reusing the traces on their way and the graphs already traced', async () => {
    const before = await state(h);
    // The two-hop trace finished: its graph is the team's.
    const twoHop = before.investigations[1];
    const graph = await h.db.prisma.graph.create({
      data: {
        teamId: before.team.id,
        dictionaryId,
        modelId,
        prompt: twoHop.prompt,
        nodeCount: 4,
        linkCount: 2,
        blobId: (
          await h.db.prisma.blob.create({
            data: {
              teamId: before.team.id,
              contentType: 'application/json',
              encoding: 'identity',
              rawBytes: 2,
              sha256: '',
              data: Buffer.from('{}'),
            },
          })
        ).id,
      },
    });
    await h.db.prisma.job.update({
      where: { id: twoHop.traceJobId as string },
      data: { status: 'succeeded' },
    });
    const next = await seedExamples(h.db.prisma, seed('r2', 'Revised notes.'));
    expect(next).toMatchObject({ applied: true, revision: 'r2', traces: [] });
    const after = await state(h);
    expect(after.team.seedRevision).toBe('r2');
    expect(after.investigations).toHaveLength(2);
    expect(after.investigations[0].notes).toBe('Revised notes.');
    expect(after.investigations[0].traceJobId).toBe(before.investigations[0].traceJobId);
    expect(after.investigations[1].graphId).toBe(graph.id);
    expect(after.jobs).toHaveLength(before.jobs.length);
  });

  it('a failed trace is queued again at the next start', async () => {
    const before = await state(h);
    const addition = before.investigations[0];
    await h.db.prisma.job.update({
      where: { id: addition.traceJobId as string },
      data: { status: 'failed' },
    });
    const next = await seedExamples(h.db.prisma, seed('r2'));
    expect(next.applied).toBe(false);
    expect(next.traces).toHaveLength(1);
    const after = await state(h);
    expect(after.investigations[0].traceJobId).toBe(next.traces[0]);
  });

  it('an example whose organism is not in the catalogue is seeded without a trace', async () => {
    const g = seed('r3');
    g.investigations[1].dictionary = 'organism-x/plt';
    const out = await seedExamples(h.db.prisma, g);
    expect(out.missing).toEqual(['two-hop (organism-x/plt)']);
    const after = await state(h);
    expect(after.investigations[1]).toMatchObject({ modelId: null, dictionaryId: null, graphId: null });
  });

  describe('a fresh user', () => {
    let user: Caller;
    let userId: string;
    let teamId: string;
    let invId: string;
    let traceJobId: string;
    let experimentId: string;
    let graphId: string;

    beforeAll(async () => {
      await seedExamples(h.db.prisma, seed('r4'));
      ({ caller: user, userId } = await h.user('fresh'));
      const s = await state(h);
      teamId = s.team.id;
      invId = s.investigations[0].id;
      traceJobId = s.investigations[0].traceJobId as string;
      experimentId = (await h.db.prisma.experiment.findFirstOrThrow({ where: { investigationId: invId } }))
        .id;
      graphId = s.investigations[1].graphId as string;
    }, 60_000);

    it('sees Examples among their teams as a read-only viewer, after their own', async () => {
      const own = await user.teams.create({ name: 'Mine' });
      const teams = await user.teams.list();
      expect(teams.map((t) => [t.id, t.role, t.readOnly])).toEqual([
        [own.id, 'owner', false],
        [teamId, 'viewer', true],
      ]);
      expect(await user.teams.get({ teamId })).toMatchObject({
        name: 'Examples',
        role: 'viewer',
        readOnly: true,
      });
    });

    it('reads every example: investigations, experiments, labels, graphs, jobs, history', async () => {
      const list = await user.investigations.list({ teamId });
      expect(list.items.map((i) => i.id)).toContain(invId);
      const inv = await user.investigations.get({ id: invId });
      expect(inv.supernodes[0].nodeIds).toEqual([featureNodeId({ layer: 5, pos: 6, feature: 12 }), '4_3_6']);
      expect(inv.notes).toContain('not supported');
      const exps = await user.experiments.list({ investigationId: invId });
      expect(exps.items.map((e) => e.name)).toEqual(['organism-m/plt: Ablations at "="']);
      const label = await user.features.get({ teamId, dictionaryId, layer: 5, featureIndex: 12 });
      expect(label.annotation?.label).toBe('sum magnitude');
      expect((await user.graphs.get({ graphId })).id).toBe(graphId);
      expect((await user.jobs.get({ jobId: traceJobId })).id).toBe(traceJobId);
      expect((await user.investigations.history({ id: invId })).items.length).toBeGreaterThan(0);
      expect(await user.comments.list({ investigationId: invId })).toMatchObject({ items: [] });
    });

    it('copies an example to their own team, traced again there, and may change the copy', async () => {
      const own = (await user.teams.list()).find((t) => !t.readOnly) as { id: string };
      const { investigation: copy, job } = await user.investigations.copy({ id: invId, teamId: own.id });
      const source = await user.investigations.get({ id: invId });
      expect(copy).toMatchObject({
        teamId: own.id,
        title: source.title,
        prompt: source.prompt,
        supernodes: source.supernodes,
        pinnedNodes: source.pinnedNodes,
        notes: source.notes,
        graphId: null,
        traceJobId: job?.id,
      });
      expect(job).toMatchObject({ teamId: own.id, kind: 'attribute', status: 'queued' });
      const exps = await user.experiments.list({ investigationId: copy.id });
      expect(exps.items.map((e) => [e.name, e.result])).toEqual([
        ['organism-m/plt: Ablations at "="', { rows: [['ablate tens features', '0.9', 60]] }],
      ]);
      const renamed = await user.investigations.update({
        id: copy.id,
        version: copy.version,
        patch: { title: 'mine' },
      });
      expect(renamed.title).toBe('mine');
      expect((await user.investigations.get({ id: invId })).title).toBe(source.title);
    });

    it('is refused every write (and what only editors or owners read) with FORBIDDEN and a message naming the read-only team', async () => {
      const inv = await user.investigations.get({ id: invId });
      const exp = await h.db.prisma.experiment.findUniqueOrThrow({ where: { id: experimentId } });
      const history = await user.investigations.history({ id: invId });
      const writes: Record<string, () => Promise<unknown>> = {
        'investigations.update': () =>
          user.investigations.update({ id: invId, version: inv.version, patch: { title: 'mine' } }),
        'investigations.delete': () => user.investigations.delete({ id: invId, version: inv.version }),
        'investigations.restore': () =>
          user.investigations.restore({ id: invId, historyId: history.items[0].id, version: inv.version }),
        'investigations.create': () => user.investigations.create({ teamId, title: 't', prompt: 'p' }),
        'investigations.trace': () =>
          user.investigations.trace({ teamId, title: 't', prompt: 'p', modelId, dictionaryId }),
        'comments.add': () => user.comments.add({ investigationId: invId, body: 'hi' }),
        'experiments.create': () => user.experiments.create({ investigationId: invId, name: 'e', spec: {} }),
        'experiments.update': () => user.experiments.update({ id: exp.id, version: exp.version, name: 'e' }),
        'experiments.delete': () => user.experiments.delete({ id: exp.id, version: exp.version }),
        'shares.create': () => user.shares.create({ investigationId: invId }),
        'shares.list': () => user.shares.list({ investigationId: invId }),
        'features.annotate': () =>
          user.features.annotate({
            teamId,
            dictionaryId,
            layer: 5,
            featureIndex: 12,
            label: 'x',
            version: 1,
          }),
        'graphs.create': () => user.graphs.create({ teamId, prompt: 'p', graph: tinyGraph() }),
        'jobs.enqueue': () => user.jobs.enqueue({ teamId, kind: 'diagnostics', params: {} }),
        'jobs.cancel': () => user.jobs.cancel({ jobId: traceJobId }),
        'teams.rename': () => user.teams.rename({ teamId, name: 'Mine now', version: 1 }),
        'teams.createInvite': () => user.teams.createInvite({ teamId, role: 'owner' }),
        'teams.listInvites': () => user.teams.listInvites({ teamId }),
        'investigations.copy (into Examples)': () => user.investigations.copy({ id: invId, teamId }),
        'teams.setRole': () => user.teams.setRole({ teamId, userId, role: 'owner' }),
        'teams.removeMember (leave)': () => user.teams.removeMember({ teamId, userId }),
      };
      for (const [name, write] of Object.entries(writes)) {
        const outcome = await write().then(
          () => 'OK',
          (e: { code?: string; message: string }) => `${e.code}: ${e.message}`,
        );
        expect(outcome, name).toBe(
          'FORBIDDEN: the Examples team is read-only: copy the investigation to one of your teams to change it',
        );
      }
      // Nothing changed.
      expect((await user.investigations.get({ id: invId })).version).toBe(inv.version);
      expect(await h.db.prisma.membership.count({ where: { teamId } })).toBe(0);
    });
  });

  it('the committed seed, exported from the case-study results, is valid and holds the five studies', () => {
    expect(existsSync(seedFile)).toBe(true);
    const committed = readExampleSeed(seedFile);
    expect(committed.investigations.map((i) => i.key).sort()).toEqual([
      'addition',
      'entities',
      'multilingual',
      'rhyme',
      'two-hop',
    ]);
    for (const ex of committed.investigations) {
      expect(ex.prompt.length, ex.key).toBeGreaterThan(0);
      expect(ex.supernodes.length, ex.key).toBeGreaterThan(0);
      expect(ex.notes, ex.key).toMatch(/supported/);
      expect(ex.experiments.length, ex.key).toBeGreaterThan(0);
    }
  });

  it('a malformed seed file is an error naming the file and the field', () => {
    expect(() => readExampleSeed(path.join(import.meta.dirname, 'examples.test.ts'))).toThrow(
      /examples seed .*examples\.test\.ts/,
    );
  });
});

describe.each(backendNames)('two servers starting at once on one database (%s)', (backend) => {
  let h: Harness;
  beforeAll(async () => {
    h = await Harness.open(backend);
    await h.catalogPair(null, { key: 'organism-m' });
  }, 120_000);
  afterAll(() => h.close());

  it('seed the examples once', async () => {
    const outcomes = await Promise.all([
      seedExamples(h.db.prisma, seed('r1')),
      seedExamples(h.db.prisma, seed('r1')),
    ]);
    expect(outcomes.map((o) => o.applied).sort()).toEqual([false, true]);
    expect(outcomes.flatMap((o) => o.traces)).toHaveLength(2);
    const s = await state(h);
    expect(s.investigations).toHaveLength(2);
    expect(s.jobs).toHaveLength(2);
  });
});
