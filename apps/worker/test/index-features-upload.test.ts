import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appRouter, createCallerFactory, createContext, EventBus, provisionWorkerToken } from '@loupe/api';
import { decodeFeatureRecord, FeatureIndexReader, type FeatureJson } from '@loupe/core';
import { nodeFiles } from '@loupe/core/node';
import { type Database, openDatabase } from '@loupe/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeFixtureDirs, writeRandomCheckpoint } from '@loupe/core/testing';
import { indexFeaturesParams, trainDictionaryParams } from '@loupe/api/jobs';
import { featureIndexChunks, runIndexFeatures } from '../src/handlers/index-features.ts';
import { runTrainDictionary } from '../src/handlers/train-dictionary.ts';
import type { ClaimedJob, FeatureIndexChunk, LeaseRef, WorkerApi } from '../src/api.ts';
import { JobLoop } from '../src/loop.ts';
import { defineHandler, HandlerRegistry, type JobContext } from '../src/registry.ts';
import { jobContext, someIds, writeWordCorpus } from './helpers.ts';

function feature(index: number, tokens: number): FeatureJson {
  return {
    transcoder_id: 't',
    index,
    examples_quantiles: [
      {
        quantile_name: 'Top activations',
        examples: [
          {
            tokens_acts_list: Array.from({ length: tokens }, (_, i) => i),
            train_token_ind: 0,
            is_repeated_datapoint: false,
            tokens: Array.from({ length: tokens }, (_, i) => `w${i}`),
          },
        ],
      },
    ],
    top_logits: ['a'],
    bottom_logits: ['b'],
    act_min: 0,
    act_max: 1,
    quantile_values: [],
    histogram: [],
    activation_frequency: 0.1,
  };
}

describe('featureIndexChunks', () => {
  const index = {
    features: new Map([
      [2, [0, 1, 2].map((f) => feature(f, 4))],
      [0, [0, 1, 2, 3, 4].map((f) => feature(f, 4))],
    ]),
    labels: new Map([[0, ['l0', 'l1', 'l2', 'l3', 'x'.repeat(600)]]]),
  };

  it('splits each layer in feature order, at most maxFeatures per chunk, records decodable', () => {
    const chunks = [...featureIndexChunks(index, 'd', 2)];
    expect(chunks.map((c) => [c.layer, c.features.map((f) => f.featureIndex)])).toEqual([
      [0, [0, 1]],
      [0, [2, 3]],
      [0, [4]],
      [2, [0, 1]],
      [2, [2]],
    ]);
    expect(chunks[0].features.map((f) => f.autoLabel)).toEqual(['l0', 'l1']);
    // Labels are cut to the API's 500 characters; a layer without labels sends empty ones.
    expect(chunks[2].features[0].autoLabel).toHaveLength(500);
    expect(chunks[3].features[0].autoLabel).toBe('');
    for (const c of chunks) {
      expect(c.dictionaryId).toBe('d');
      for (const f of c.features) {
        expect(decodeFeatureRecord(Buffer.from(f.record, 'base64'))).toEqual(
          index.features.get(c.layer)?.[f.featureIndex],
        );
      }
    }
  });

  it('closes a chunk before it passes maxChars, but always takes one record', () => {
    const chunks = [...featureIndexChunks(index, 'd', 256, 1)];
    expect(chunks).toHaveLength(8);
    expect(chunks.every((c) => c.features.length === 1)).toBe(true);
  });
});

describe('index-features job loads the index into the database (PGlite)', () => {
  let work: string;
  let model: string;
  let corpus: string;
  let dictionary: string;
  let db: Database;
  const bus = new EventBus();
  const caller = (headers: Record<string, string>) =>
    createCallerFactory(appRouter)(() =>
      createContext({ db: db.prisma, bus, headers: new Headers(headers), dataDir: work }),
    );

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'loupe-worker-index-db-'));
    model = (await writeRandomCheckpoint('llama', { seed: 7 })).dir;
    corpus = join(work, 'corpus.txt');
    await writeWordCorpus(corpus, 100);
    dictionary = join(work, 'plt');
    await runTrainDictionary(
      trainDictionaryParams.parse({
        modelId: someIds.modelId,
        kind: 'plt',
        width: 32,
        k: 4,
        steps: 5,
        batchRows: 64,
        batchSeqs: 4,
        evalBatches: 2,
        seed: 3,
      }),
      jobContext(undefined, { model, corpus, out: dictionary }).ctx,
    );
    db = await openDatabase();
  }, 120_000);

  afterAll(async () => {
    await db?.close();
    await removeFixtureDirs();
    await rm(work, { recursive: true, force: true });
  });

  it('uploads every feature under the job lease; features.get equals the files on disk', async () => {
    const res = new Headers();
    await caller({}).auth.signUp({
      email: 'owner@example.com',
      password: 'correct horse battery',
      name: 'o',
    });
    const signIn = createCallerFactory(appRouter)(() =>
      createContext({ db: db.prisma, bus, headers: new Headers(), resHeaders: res, dataDir: work }),
    );
    await signIn.auth.signIn({ email: 'owner@example.com', password: 'correct horse battery' });
    const owner = caller({ cookie: (res.get('set-cookie') ?? '').split(';')[0] });
    const worker = caller({ authorization: `Bearer ${await provisionWorkerToken(db.prisma, 'w')}` });
    const team = await owner.teams.create({ name: 't' });
    // A team dictionary on these files, as a finished train-dictionary job registers one.
    const m = await db.prisma.model.create({ data: { teamId: team.id, name: 'm', path: model } });
    const d = await db.prisma.dictionary.create({
      data: { teamId: team.id, modelId: m.id, name: 'd', kind: 'plt', path: dictionary },
    });
    const params = { batchSeqs: 4, batches: 2, topK: 3, dictionaryId: d.id };
    const job = await owner.jobs.enqueue({ teamId: team.id, kind: 'index-features', params });
    const claimed = await worker.jobs.claim({ workerId: 'w', kinds: ['index-features'], leaseMs: 60_000 });
    if (!claimed) throw new Error('job not claimed');
    const indexDir = join(work, 'feature-index', d.id);
    expect(claimed.paths).toEqual({ model, dictionary, out: indexDir });
    let calls = 0;
    // The fixture model speaks a word vocabulary, not the organism's: its corpus is a text file.
    const { ctx: base, percents } = jobContext(undefined, { ...claimed.paths, corpus });
    const ctx: JobContext = {
      ...base,
      jobId: job.id,
      putFeatureIndex: async (chunk) => {
        calls += 1;
        await worker.dictionaries.putFeatureIndex({
          jobId: job.id,
          leaseToken: claimed.leaseToken,
          ...chunk,
        });
      },
    };
    const out = await runIndexFeatures(indexFeaturesParams.parse(params), ctx);
    expect(out).toMatchObject({ features: 64, loaded: 64, dictionaryId: d.id });
    expect(calls).toBe(2);
    expect(percents.at(-1)).toBe(100);

    const reader = await FeatureIndexReader.open(nodeFiles(), indexDir);
    const labels = JSON.parse(await readFile(join(indexDir, 'labels.json'), 'utf8')) as Record<
      string,
      string[]
    >;
    try {
      for (const [layer, f] of [
        [0, 0],
        [1, 31],
      ]) {
        const got = await owner.features.get({ teamId: team.id, dictionaryId: d.id, layer, featureIndex: f });
        expect(got.feature).toEqual(await reader.read(layer, f));
        expect(got.autoLabel).toBe(labels[String(layer)][f]);
      }
    } finally {
      await reader.close();
    }
    const dense = await owner.features.search({
      teamId: team.id,
      dictionaryId: d.id,
      sort: 'density',
      order: 'desc',
      limit: 100,
    });
    expect(dense.items).toHaveLength(64);
    const densities = dense.items.map((r) => r.density);
    expect(densities).toEqual([...densities].sort((a, b) => b - a));
  }, 120_000);

  it('uploads only the layers a job asks for', async () => {
    const layers: number[] = [];
    const { ctx: base } = jobContext(undefined, { model, dictionary, corpus, out: join(work, 'layer-1') });
    const ctx: JobContext = { ...base, putFeatureIndex: async (chunk) => void layers.push(chunk.layer) };
    const params = indexFeaturesParams.parse({
      dictionaryId: someIds.dictionaryId,
      layers: [1],
      batchSeqs: 4,
      batches: 1,
    });
    expect(await runIndexFeatures(params, ctx)).toMatchObject({ features: 64, loaded: 32 });
    expect(new Set(layers)).toEqual(new Set([1]));
  }, 60_000);
});

describe('job loop', () => {
  it("hands handlers putFeatureIndex bound to the job's lease", async () => {
    const puts: (LeaseRef & FeatureIndexChunk)[] = [];
    let claimed = false;
    let finish: (r: unknown) => void = () => {};
    const completed = new Promise((r) => {
      finish = r;
    });
    const api: WorkerApi = {
      claim: async (): Promise<ClaimedJob | null> => {
        if (claimed) return null;
        claimed = true;
        return { id: 'job-1', kind: 'upload', params: {}, attempt: 1, leaseToken: 'lease-1', paths: {} };
      },
      heartbeat: async () => ({ cancelRequested: false }),
      complete: async (req) => finish(req.result),
      fail: async (req) => finish(req.error),
      ackCancel: async () => {},
      putFeatureIndex: async (req) => {
        puts.push(req);
      },
    };
    const handler = defineHandler({
      kind: 'upload',
      paramsSchema: indexFeaturesParams.pick({ seed: true }),
      run: async (_p, ctx) => {
        await ctx.putFeatureIndex?.({ dictionaryId: 'd', layer: 2, features: [] });
        return { put: ctx.putFeatureIndex !== undefined };
      },
    });
    const loop = new JobLoop(api, new HandlerRegistry([handler]), {
      workerId: 'w',
      concurrency: 1,
      leaseMs: 10_000,
      heartbeatMs: 1_000,
      pollMs: 10,
      shutdownGraceMs: 100,
      dataRoots: [],
      log: () => {},
    });
    const running = loop.run();
    expect(await completed).toEqual({ put: true });
    await loop.stop();
    await running;
    expect(puts).toEqual([
      { jobId: 'job-1', leaseToken: 'lease-1', dictionaryId: 'd', layer: 2, features: [] },
    ]);
  });
});
