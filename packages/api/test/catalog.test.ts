import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  autoIndexBatches,
  autoIndexPriority,
  discoverShippedCatalog,
  enqueueMissingIndexes,
  readCatalogFile,
  syncCatalog,
} from '../src/index.ts';
import { featureRecordBase64 } from './feature-fixtures.ts';
import { backendNames, type Caller, codeOf, Harness, teamWithRoles, tinyGraph } from './harness.ts';

const shippedModels = path.resolve(import.meta.dirname, '../../organism/models');

describe('discovering the shipped organisms', () => {
  it('finds organism-s and organism-m with their PLT and CLT, keyed by name', () => {
    const found = discoverShippedCatalog(shippedModels);
    expect(found.map((m) => m.key)).toEqual(['organism-m', 'organism-s']);
    for (const m of found) {
      expect(m.path).toBe(path.join(shippedModels, m.key));
      expect(m.dictionaries.map((d) => [d.key, d.kind])).toEqual([
        [`${m.key}/clt`, 'clt'],
        [`${m.key}/plt`, 'plt'],
      ]);
      expect(m.dictionaries.every((d) => d.path.startsWith(path.join(m.path, 'dictionaries')))).toBe(true);
      expect(typeof m.config?.num_hidden_layers).toBe('number');
    }
  });
});

describe('the operator catalogue file', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'loupe-catalog-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, text: string) => {
    const file = path.join(dir, name);
    writeFileSync(file, text);
    return file;
  };

  it('reads a valid file and fills the config from the model folder', () => {
    const modelDir = path.join(dir, 'gpt');
    const file = write(
      'ok.json',
      JSON.stringify({
        models: [
          {
            key: 'gpt2-small',
            name: 'GPT-2 small',
            path: shippedModels.replace(/models$/, 'models/organism-s'),
            dictionaries: [{ key: 'gpt2-small/clt', name: 'CLT', kind: 'clt', path: modelDir }],
          },
        ],
      }),
    );
    const [entry] = readCatalogFile(file);
    expect([entry.key, entry.dictionaries[0].key]).toEqual(['gpt2-small', 'gpt2-small/clt']);
    expect(typeof entry.config?.hidden_size).toBe('number');
  });

  it('names the file and the field of a bad entry', () => {
    const relative = write(
      'rel.json',
      JSON.stringify({ models: [{ key: 'm', name: 'M', path: 'models/m' }] }),
    );
    expect(() => readCatalogFile(relative)).toThrow(/rel\.json: models\.0\.path: must be an absolute path/);
    const badKey = write('key.json', JSON.stringify({ models: [{ key: 'Bad Key', name: 'M', path: '/m' }] }));
    expect(() => readCatalogFile(badKey)).toThrow(/key\.json: models\.0\.key/);
    expect(() => readCatalogFile(write('broken.json', '{ models: '))).toThrow(/broken\.json: .*JSON/);
  });
});

describe.each(backendNames)('instance catalogue on %s', (backend) => {
  let h: Harness;
  let fx: Awaited<ReturnType<typeof teamWithRoles>>;
  let worker: Caller;

  beforeAll(async () => {
    h = await Harness.open(backend);
    fx = await teamWithRoles(h);
    worker = await h.worker();
  }, 120_000);
  afterAll(async () => h?.close());

  it('syncs by key: a second sync updates rows in place; a repeated key is refused', async () => {
    const shipped = discoverShippedCatalog(shippedModels);
    expect(await syncCatalog(h.db.prisma, shipped)).toEqual({ models: 2, dictionaries: 4 });
    const first = await h.db.prisma.model.findUniqueOrThrow({ where: { key: 'organism-m' } });
    const moved = shipped.map((m) => (m.key === 'organism-m' ? { ...m, name: 'organism-m (moved)' } : m));
    await syncCatalog(h.db.prisma, moved);
    const again = await h.db.prisma.model.findUniqueOrThrow({ where: { key: 'organism-m' } });
    expect([again.id, again.name, again.teamId]).toEqual([first.id, 'organism-m (moved)', null]);
    await syncCatalog(h.db.prisma, shipped);
    await expect(syncCatalog(h.db.prisma, [...shipped, shipped[0]])).rejects.toThrow(
      /"organism-m" is listed twice/,
    );
  });

  it('catalog.list shows every team the instance models and only its own, without paths', async () => {
    const own = await h.catalogPair(fx.team.id);
    const foreign = await h.catalogPair(fx.otherTeam.id);
    const { models } = await fx.viewer.caller.catalog.list({ teamId: fx.team.id });
    const m = models.find((x) => x.key === 'organism-m');
    expect(m).toMatchObject({ name: 'organism-m', scope: 'instance', nLayers: 6, dModel: 192 });
    expect(m?.dictionaries.map((d) => [d.key, d.kind, d.scope])).toEqual([
      ['organism-m/clt', 'clt', 'instance'],
      ['organism-m/plt', 'plt', 'instance'],
    ]);
    const ids = models.map((x) => x.id);
    expect(ids).toContain(own.model.id);
    expect(ids).not.toContain(foreign.model.id);
    expect(models.find((x) => x.id === own.model.id)?.scope).toBe('team');
    expect(JSON.stringify(models)).not.toContain(shippedModels);
    // The plain lists carry instance rows too, without paths.
    const listed = await fx.viewer.caller.models.list({ teamId: fx.team.id });
    expect(listed.items.map((x) => x.key)).toContain('organism-s');
    const dicts = await fx.viewer.caller.dictionaries.list({ teamId: fx.team.id, modelId: m?.id });
    expect(dicts.items).toHaveLength(2);
    expect(JSON.stringify([listed, dicts])).not.toMatch(/"path"/);
  });

  it('indexes missing instance dictionaries in the background, reflected in catalog.list', async () => {
    const status = async (key: string) => {
      const { models } = await fx.viewer.caller.catalog.list({ teamId: fx.team.id });
      return models.flatMap((m) => m.dictionaries).find((d) => d.key === key)?.featureIndex;
    };
    expect(await status('organism-m/plt')).toEqual({ status: 'missing', jobId: null, percent: null });
    const created = await enqueueMissingIndexes(h.db.prisma);
    expect(created).toHaveLength(4);
    expect(await enqueueMissingIndexes(h.db.prisma)).toEqual([]);
    const queued = await status('organism-m/plt');
    expect(queued?.status).toBe('queued');
    const job = await fx.outsider.caller.jobs.get({ jobId: queued?.jobId as string });
    expect([job.teamId, job.kind, job.priority]).toEqual([null, 'index-features', autoIndexPriority]);
    expect(job.params).toMatchObject({ batches: autoIndexBatches });

    // Interactive work goes first: a team's job queued later is claimed before the background ones.
    const { model, dictionary } = await h.catalogPair(fx.team.id);
    const interactive = await fx.editor.caller.jobs.enqueue({
      teamId: fx.team.id,
      kind: 'attribute',
      params: { modelId: model.id, dictionaryId: dictionary.id, prompt: 'x' },
    });
    const kinds = ['attribute', 'index-features'];
    expect((await worker.jobs.claim({ workerId: 'w', kinds, leaseMs: 60_000 }))?.id).toBe(interactive.id);

    const plt = await h.db.prisma.dictionary.findUniqueOrThrow({ where: { key: 'organism-m/plt' } });
    let claimed = await worker.jobs.claim({ workerId: 'w', kinds: ['index-features'], leaseMs: 60_000 });
    while (claimed && (claimed.params as { dictionaryId: string }).dictionaryId !== plt.id) {
      await worker.jobs.release({ jobId: claimed.id, leaseToken: claimed.leaseToken });
      await h.db.prisma.job.update({
        where: { id: claimed.id },
        data: { runAt: new Date(Date.now() + 60_000) },
      });
      claimed = await worker.jobs.claim({ workerId: 'w', kinds: ['index-features'], leaseMs: 60_000 });
    }
    if (!claimed) throw new Error('the organism-m PLT index job was never claimed');
    expect(claimed.paths).toEqual({
      model: path.join(shippedModels, 'organism-m'),
      dictionary: plt.path,
      out: path.join(h.dataDir, 'feature-index', plt.id),
    });
    const lease = { jobId: claimed.id, leaseToken: claimed.leaseToken };
    await worker.jobs.heartbeat({ ...lease, progress: { percent: 40, message: 'batch 3/8' } });
    expect(await status('organism-m/plt')).toEqual({ status: 'running', jobId: claimed.id, percent: 40 });
    await worker.dictionaries.putFeatureIndex({
      ...lease,
      dictionaryId: plt.id,
      layer: 0,
      features: [{ featureIndex: 0, autoLabel: 'a', record: featureRecordBase64(0, 0) }],
    });
    await worker.jobs.complete({ ...lease, result: { features: 1 } });
    expect(await status('organism-m/plt')).toEqual({ status: 'ready', jobId: claimed.id, percent: 100 });
    // Already indexed: a later start enqueues nothing for it.
    await h.db.prisma.job.updateMany({
      where: { teamId: null, status: 'queued' },
      data: { status: 'cancelled' },
    });
    const later = await enqueueMissingIndexes(h.db.prisma);
    expect(later).toHaveLength(3);
    const laterDicts = await h.db.prisma.job.findMany({
      where: { id: { in: later } },
      select: { params: true },
    });
    expect(laterDicts.map((j) => (j.params as { dictionaryId: string }).dictionaryId)).not.toContain(plt.id);
  });

  it('traces a prompt from an investigation and links the graph when the job succeeds', async () => {
    const m = await h.db.prisma.model.findUniqueOrThrow({ where: { key: 'organism-s' } });
    const d = await h.db.prisma.dictionary.findUniqueOrThrow({ where: { key: 'organism-s/clt' } });
    const input = {
      teamId: fx.team.id,
      title: 'Addition',
      prompt: '36+59=',
      modelId: m.id,
      dictionaryId: d.id,
      options: { maxFeatureNodes: 500, targets: { kind: 'diff' as const, a: '9', b: '5' } },
    };
    expect(await codeOf(fx.viewer.caller.investigations.trace(input))).toBe('FORBIDDEN');
    expect(
      await codeOf(
        fx.editor.caller.investigations.trace({ ...input, options: { maxFeatureNodes: 100_001 } }),
      ),
    ).toBe('BAD_REQUEST');
    expect(
      await codeOf(fx.editor.caller.investigations.trace({ ...input, prompt: 'x'.repeat(20_001) })),
    ).toBe('BAD_REQUEST');
    const { investigation, job } = await fx.editor.caller.investigations.trace(input);
    expect([investigation.traceJobId, investigation.graphId, investigation.version]).toEqual([
      job.id,
      null,
      1,
    ]);
    expect(job.params).toMatchObject({
      prompt: '36+59=',
      maxFeatureNodes: 500,
      targets: { kind: 'diff', a: '9', b: '5' },
    });

    const stream = await fx.viewer.caller.investigations.onChange({ id: investigation.id });
    const events = stream[Symbol.asyncIterator]();
    const next = events.next();
    await h.db.prisma.job.updateMany({
      where: { kind: 'attribute', status: 'queued', NOT: { id: job.id } },
      data: { status: 'cancelled' },
    });
    const c = await worker.jobs.claim({ workerId: 'w', kinds: ['attribute'], leaseMs: 60_000 });
    expect(c?.id).toBe(job.id);
    await worker.jobs.complete({
      jobId: job.id,
      leaseToken: c?.leaseToken as string,
      result: {},
      graph: { prompt: '36+59=', graph: tinyGraph('t') },
    });
    expect((await next).value).toMatchObject({ entityId: investigation.id, action: 'trace', version: 2 });
    await events.return?.(undefined);
    const linked = await fx.viewer.caller.investigations.get({ id: investigation.id });
    expect([linked.traceJobId, linked.version, linked.modelId]).toEqual([job.id, 2, m.id]);
    const graph = await fx.viewer.caller.graphs.get({ graphId: linked.graphId as string });
    expect([graph.jobId, graph.dictionaryId]).toEqual([job.id, d.id]);
  });

  it('lists investigations by recent activity with search, model filter and who changed them', async () => {
    const a = await fx.editor.caller.investigations.create({
      teamId: fx.team.id,
      title: 'Rhymes',
      prompt: 'rabbit',
    });
    const b = await fx.owner.caller.investigations.create({
      teamId: fx.team.id,
      title: 'Sums',
      prompt: '12+7=',
    });
    await fx.owner.caller.investigations.update({ id: a.id, version: 1, patch: { notes: 'n' } });
    const all = await fx.viewer.caller.investigations.list({ teamId: fx.team.id });
    expect(all.items.slice(0, 2).map((i) => [i.id, i.updatedBy?.name])).toEqual([
      [a.id, 'owner'],
      [b.id, 'owner'],
    ]);
    const byText = await fx.viewer.caller.investigations.list({ teamId: fx.team.id, text: 'RABB' });
    expect(byText.items.map((i) => i.id)).toEqual([a.id]);
    const organismS = await h.db.prisma.model.findUniqueOrThrow({ where: { key: 'organism-s' } });
    const byModel = await fx.viewer.caller.investigations.list({ teamId: fx.team.id, modelId: organismS.id });
    expect(byModel.items.map((i) => i.title)).toEqual(['Addition']);
  });
});
