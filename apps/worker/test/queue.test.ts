import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createScratchDatabase } from '@loupe/db';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { removeFixtureDirs } from '@loupe/core/testing';
import { attributeParams } from '@loupe/api/jobs';
import { runAttribute } from '../src/handlers/attribute.ts';
import {
  writeAttributeFixture,
  type Client,
  jobContext,
  newUser,
  type Proc,
  spawnSupervisor,
  spawnWorker,
  startWeb,
  until,
  type WebApp,
} from './helpers.ts';

/**
 * The durable queue end to end: the production web app on a fresh database, real worker processes talking to
 * it over tRPC with a worker token, and the user side of the API observing the jobs.
 */
const databases: { name: string; url: () => Promise<{ url: string; drop(): Promise<void> } | undefined> }[] =
  [{ name: 'PGlite', url: async () => undefined }];
const pgAdmin = process.env.TEST_DATABASE_URL;
if (pgAdmin) databases.push({ name: 'PostgreSQL', url: () => createScratchDatabase(pgAdmin) });

type Job = Awaited<ReturnType<Client['jobs']['get']['query']>>;

describe.each(databases)('job queue on $name', ({ url: makeDb }) => {
  let web: WebApp;
  let user: { api: Client; teamId: string };
  let dataDir: string;
  let files: { model: string; transcoders: string };
  let scratch: { url: string; drop(): Promise<void> } | undefined;
  const procs: Proc[] = [];

  const track = (p: Proc) => {
    procs.push(p);
    return p;
  };
  const getJob = (jobId: string): Promise<Job> => user.api.jobs.get.query({ jobId });
  const enqueued: string[] = [];
  const diagnostics = async (params: Record<string, unknown>, maxAttempts = 3) => {
    const job = await user.api.jobs.enqueue.mutate({
      teamId: user.teamId,
      kind: 'diagnostics',
      params,
      maxAttempts,
    });
    enqueued.push(job.id);
    return job;
  };
  /** Prints every process's recent output when an assertion fails, since the cause is usually there. */
  const explain = async <T>(body: () => Promise<T>): Promise<T> => {
    try {
      return await body();
    } catch (e) {
      const logs = procs.map((p) => p.output()).join('\n');
      throw new Error(`${e instanceof Error ? e.message : String(e)}\n${logs}\n${web?.proc.output() ?? ''}`);
    }
  };

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'loupe-worker-test-'));
    // The attribute test's model and dictionary, registered by the operator's catalogue file.
    files = await writeAttributeFixture(5);
    writeFileSync(
      path.join(dataDir, 'catalog.json'),
      JSON.stringify({
        models: [
          {
            key: 'fixture',
            name: 'fixture',
            path: files.model,
            dictionaries: [{ key: 'fixture/plt', name: 'plt', kind: 'plt', path: files.transcoders }],
          },
        ],
      }),
    );
    scratch = await makeDb();
    web = await startWeb(dataDir, scratch?.url);
    user = await newUser(web.url);
  }, 90_000);

  // A failed test must not leak workers or unfinished jobs into the next one.
  afterEach(async () => {
    await Promise.all(procs.splice(0).map((p) => p.stop(5_000)));
    for (const jobId of enqueued.splice(0)) {
      const job = await getJob(jobId);
      if (job.status === 'queued' || job.status === 'running') await user.api.jobs.cancel.mutate({ jobId });
    }
  }, 60_000);

  afterAll(async () => {
    await web?.proc.stop(10_000);
    await scratch?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }, 60_000);

  it(
    'a job whose worker is SIGKILLed mid-run completes exactly once on another worker',
    () =>
      explain(async () => {
        const leaseMs = 2_000;
        const job = await diagnostics({ durationMs: 5_000, size: 64 });
        const a = track(spawnWorker({ url: web.url, token: web.workerToken(), workerId: 'victim', leaseMs }));
        await until('the victim to report progress', 30_000, async () => {
          const j = await getJob(job.id);
          return j.status === 'running' && j.workerId === 'victim' && (j.progress?.percent ?? 0) > 0
            ? j
            : undefined;
        });
        a.child.kill('SIGKILL');
        expect((await a.exited).signal).toBe('SIGKILL');

        const b = track(
          spawnWorker({ url: web.url, token: web.workerToken(), workerId: 'rescuer', leaseMs }),
        );
        const done = await until('the job to finish', 60_000, async () => {
          const j = await getJob(job.id);
          return ['succeeded', 'failed', 'cancelled'].includes(j.status) ? j : undefined;
        });
        expect(done.status).toBe('succeeded');
        expect(done.attempts).toBe(2);
        expect(done.workerId).toBe('rescuer');
        const { result } = await user.api.jobs.result.query({ jobId: job.id });
        expect(result).toMatchObject({ workerId: 'rescuer', matmul: { size: 64 } });
        // The victim never reported an outcome; the rescuer reported exactly one.
        expect(a.lines.filter((l) => l.includes(job.id) && l.includes('succeeded'))).toEqual([]);
        expect(b.lines.filter((l) => l.includes(`job ${job.id}`) && l.includes('succeeded'))).toHaveLength(1);
        await b.stop();
        expect((await b.exited).code).toBe(0);
      }),
    150_000,
  );

  it(
    'SIGTERM mid-job hands the job back at once: another worker runs it without an extra attempt',
    () =>
      explain(async () => {
        // A lease far longer than the test: only the release can let the second worker take the job in time.
        const leaseMs = 120_000;
        const job = await diagnostics({ durationMs: 4_000, size: 64 });
        const a = track(spawnWorker({ url: web.url, token: web.workerToken(), workerId: 'leaver', leaseMs }));
        await until('the leaver to report progress', 30_000, async () => {
          const j = await getJob(job.id);
          return j.status === 'running' && j.workerId === 'leaver' && (j.progress?.percent ?? 0) > 0
            ? j
            : undefined;
        });
        await a.stop(10_000);
        expect((await a.exited).code).toBe(0);
        const back = await getJob(job.id);
        expect([back.status, back.attempts]).toEqual(['queued', 0]);

        const b = track(spawnWorker({ url: web.url, token: web.workerToken(), workerId: 'taker', leaseMs }));
        const done = await until('the job to finish', 30_000, async () => {
          const j = await getJob(job.id);
          return ['succeeded', 'failed', 'cancelled'].includes(j.status) ? j : undefined;
        });
        expect([done.status, done.attempts, done.workerId]).toEqual(['succeeded', 1, 'taker']);
        expect(a.lines.some((l) => l.includes(job.id) && l.includes('handed back'))).toBe(true);
        await b.stop();
      }),
    120_000,
  );

  it(
    '3 workers drain 30 jobs: every job done once, none lost, none duplicated; a dead replica is restarted',
    () =>
      explain(async () => {
        const jobs: Job[] = [];
        for (let i = 0; i < 30; i++) jobs.push(await diagnostics({ durationMs: 50, size: 32 }));
        const ids = new Set(jobs.map((j) => j.id));
        const sup = track(spawnSupervisor(3, { url: web.url, token: web.workerToken(), workerId: 'pool' }));
        const finished = await until('all 30 jobs to finish', 120_000, async () => {
          const all = await Promise.all(jobs.map((j) => getJob(j.id)));
          return all.every((j) => j.status !== 'queued' && j.status !== 'running') ? all : undefined;
        });
        // The supervisor replaces a replica that dies, under the same name. Match replicas by their entry
        // point: the supervisor has other children too (tsx's esbuild service).
        const replicaPids = execFileSync('pgrep', ['-P', String(sup.child.pid), '-f', 'src/main.ts'], {
          encoding: 'utf8',
        })
          .trim()
          .split('\n');
        expect(replicaPids).toHaveLength(3);
        process.kill(Number(replicaPids[0]), 'SIGKILL');
        const restarted = await sup.waitForLine(
          /\[supervisor\] pool-\d exited \(SIGKILL\); restarting/,
          10_000,
        );
        const name = /pool-\d/.exec(restarted)![0];
        await until(`${name} to come back`, 30_000, () =>
          sup.lines.filter((l) => l.includes(`[${name}] [worker] ${name} runs`)).length === 2
            ? true
            : undefined,
        );
        await sup.stop();
        expect((await sup.exited).code).toBe(0);

        expect(finished.map((j) => j.status)).toEqual(jobs.map(() => 'succeeded'));
        expect(finished.map((j) => j.attempts)).toEqual(jobs.map(() => 1));
        const workers = new Set(finished.map((j) => j.workerId));
        expect([...workers].every((w) => w !== null && /^pool-[123]$/.test(w))).toBe(true);
        expect(workers.size).toBeGreaterThan(1);
        for (const j of finished) {
          const { result } = await user.api.jobs.result.query({ jobId: j.id });
          expect((result as { workerId: string }).workerId).toBe(j.workerId);
        }
        // Across all replicas' logs, each job was claimed once and succeeded once.
        const claimed = sup.lines.flatMap((l) => /claimed job (\S+) \(diagnostics,/.exec(l)?.[1] ?? []);
        const succeeded = sup.lines.flatMap(
          (l) => /job (\S+) \(diagnostics, attempt \d+\) succeeded/.exec(l)?.[1] ?? [],
        );
        expect(claimed.toSorted()).toEqual([...ids].toSorted());
        expect(succeeded.toSorted()).toEqual([...ids].toSorted());
        const page = await user.api.jobs.list.query({
          teamId: user.teamId,
          status: 'succeeded',
          kind: 'diagnostics',
          limit: 100,
        });
        expect(page.items.filter((j) => ids.has(j.id))).toHaveLength(30);
      }),
    180_000,
  );

  it(
    'shows a long job progressing through the API and stops it within seconds when cancelled',
    () =>
      explain(async () => {
        const job = await diagnostics({ durationMs: 120_000, size: 64 });
        const w = track(
          spawnWorker({ url: web.url, token: web.workerToken(), workerId: 'watched', leaseMs: 3_000 }),
        );
        const first = await until('first progress', 30_000, async () => {
          const j = await getJob(job.id);
          return j.status === 'running' && j.progress && j.progress.percent > 0 ? j.progress : undefined;
        });
        const later = await until('progress to advance', 15_000, async () => {
          const p = (await getJob(job.id)).progress;
          return p && p.percent > first.percent ? p : undefined;
        });
        expect(later.message).toMatch(/runs, median/);

        const t0 = Date.now();
        const requested = await user.api.jobs.cancel.mutate({ jobId: job.id });
        expect(requested.cancelRequested).toBe(true);
        const cancelled = await until('the job to be cancelled', 10_000, async () => {
          const j = await getJob(job.id);
          return j.status === 'cancelled' ? j : undefined;
        });
        const stoppedMs = Date.now() - t0;
        expect(stoppedMs).toBeLessThan(5_000);
        expect(cancelled.result).toBeNull();
        expect(cancelled.finishedAt).not.toBeNull();
        await w.waitForLine(new RegExp(`job ${job.id} .*cancelled after`), 5_000);

        // The worker is free again: a short job queued now runs on it.
        const next = await diagnostics({ durationMs: 50, size: 32 });
        await until('the next job to succeed', 30_000, async () =>
          (await getJob(next.id)).status === 'succeeded' ? true : undefined,
        );
        await w.stop();
        expect((await w.exited).code).toBe(0);
      }),
    120_000,
  );

  it(
    'runs an attribute job and stores its graph, equal to the handler run in-process on the same inputs',
    () =>
      explain(async () => {
        const { models } = await user.api.catalog.list.query({ teamId: user.teamId });
        const fixture = models.find((m) => m.key === 'fixture');
        const modelId = fixture?.id as string;
        const dictionaryId = fixture?.dictionaries[0]?.id as string;
        const params = { modelId, dictionaryId, tokens: [5, 9, 3, 12, 7], batchSize: 16, slug: 'queued' };
        const job = await user.api.jobs.enqueue.mutate({ teamId: user.teamId, kind: 'attribute', params });
        enqueued.push(job.id);
        // The fixture lies in the system temp folder: a data root of this worker, beside the data dir.
        const roots = [path.dirname(files.model), dataDir].join(path.delimiter);
        track(
          spawnWorker({
            url: web.url,
            token: web.workerToken(),
            workerId: 'tracer',
            env: { LOUPE_DATA_ROOTS: roots },
          }),
        );
        const done = await until('the attribute job to finish', 60_000, async () => {
          const j = await getJob(job.id);
          return ['succeeded', 'failed', 'cancelled'].includes(j.status) ? j : undefined;
        });
        expect(done.error).toBeNull();
        expect(done.status).toBe('succeeded');
        const result = done.result as { graphId: string; nodes: number };
        const { graph } = await user.api.graphs.payload.query({ graphId: result.graphId });
        const paths = { model: files.model, dictionary: files.transcoders };
        const local = await runAttribute(attributeParams.parse(params), jobContext(undefined, paths).ctx);
        expect(graph).toEqual(JSON.parse(JSON.stringify(local.graph.graph)));
        expect(result.nodes).toBe(local.summary.nodes);
        const nodes = await user.api.graphs.nodes.query({ graphId: result.graphId, limit: 100 });
        expect(nodes.items.length).toBe(Math.min(100, local.summary.nodes));
        await removeFixtureDirs();
      }),
    120_000,
  );
});
