import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { maxLogLines } from '../src/index.ts';
import { backendNames, type Caller, codeOf, Harness, teamWithRoles, tinyGraph } from './harness.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(backendNames)('job queue on %s', (backend) => {
  let h: Harness;
  let fx: Awaited<ReturnType<typeof teamWithRoles>>;
  let worker: Caller;
  // Queue mechanics are kind-agnostic: they run on diagnostics jobs, which need no catalogue.
  const newKind = () => 'diagnostics' as const;

  beforeAll(async () => {
    h = await Harness.open(backend);
    fx = await teamWithRoles(h);
    worker = await h.worker();
  }, 120_000);
  afterAll(async () => h?.close());
  // Jobs one test leaves unfinished are cancelled, so they never reach another test's claims.
  afterEach(async () => {
    await h.db.prisma.job.updateMany({
      where: { status: { in: ['queued', 'running'] } },
      data: { status: 'cancelled', cancelRequested: true, leaseToken: null },
    });
  });

  it('claims the highest priority first, records attempts, worker, timings; completes once', async () => {
    const kind = newKind();
    const low = await fx.editor.caller.jobs.enqueue({ teamId: fx.team.id, kind, params: { durationMs: 1 } });
    const high = await fx.editor.caller.jobs.enqueue({
      teamId: fx.team.id,
      kind,
      params: { durationMs: 2 },
      priority: 5,
    });
    expect(low.status).toBe('queued');
    const c1 = await worker.jobs.claim({ workerId: 'w1', kinds: [kind], leaseMs: 30_000 });
    expect(c1?.id).toBe(high.id);
    expect([c1?.status, c1?.attempts, c1?.workerId]).toEqual(['running', 1, 'w1']);
    const hb = await worker.jobs.heartbeat({
      jobId: high.id,
      leaseToken: c1?.leaseToken as string,
      progress: { percent: 40, message: 'layer 2' },
      logs: ['started', 'layer 1 done'],
    });
    expect(hb.cancelRequested).toBe(false);
    const mid = await fx.viewer.caller.jobs.get({ jobId: high.id });
    expect([mid.progress, mid.logs]).toEqual([
      { percent: 40, message: 'layer 2' },
      ['started', 'layer 1 done'],
    ]);
    await worker.jobs.complete({
      jobId: high.id,
      leaseToken: c1?.leaseToken as string,
      result: { answer: 42 },
    });
    expect(
      await codeOf(
        worker.jobs.complete({
          jobId: high.id,
          leaseToken: c1?.leaseToken as string,
          result: { answer: 43 },
        }),
      ),
    ).toBe('CONFLICT');
    const done = await fx.viewer.caller.jobs.get({ jobId: high.id });
    expect([done.status, done.result, done.hasResultBlob]).toEqual(['succeeded', { answer: 42 }, false]);
    expect(done.startedAt && done.finishedAt && done.queuedAt).toBeTruthy();
    expect(new Date(done.finishedAt as Date).getTime()).toBeGreaterThanOrEqual(
      new Date(done.startedAt as Date).getTime(),
    );
    const c2 = await worker.jobs.claim({ workerId: 'w1', kinds: [kind], leaseMs: 30_000 });
    expect(c2?.id).toBe(low.id);
    expect(await worker.jobs.claim({ workerId: 'w1', kinds: [kind], leaseMs: 30_000 })).toBeNull();
  });

  it('concurrent claims never hand one job to two workers', async () => {
    const kind = newKind();
    for (let i = 0; i < 3; i++)
      await fx.editor.caller.jobs.enqueue({ teamId: fx.team.id, kind, params: { durationMs: i } });
    const claims = await Promise.all(
      ['a', 'b', 'c', 'd'].map((w) => worker.jobs.claim({ workerId: w, kinds: [kind], leaseMs: 30_000 })),
    );
    const ids = claims.filter((c) => c !== null).map((c) => c?.id);
    expect(ids).toHaveLength(3);
    expect(new Set(ids).size).toBe(3);
  });

  it('an expired lease is reclaimed; the old worker can neither heartbeat nor complete', async () => {
    const kind = newKind();
    const job = await fx.editor.caller.jobs.enqueue({ teamId: fx.team.id, kind, params: {} });
    const first = await worker.jobs.claim({ workerId: 'slow', kinds: [kind], leaseMs: 1000 });
    expect(await worker.jobs.claim({ workerId: 'fast', kinds: [kind], leaseMs: 30_000 })).toBeNull();
    await sleep(1100);
    const second = await worker.jobs.claim({ workerId: 'fast', kinds: [kind], leaseMs: 30_000 });
    expect([second?.id, second?.attempts, second?.workerId]).toEqual([job.id, 2, 'fast']);
    expect(second?.leaseToken).not.toBe(first?.leaseToken);
    const stale = { jobId: job.id, leaseToken: first?.leaseToken as string };
    expect(await codeOf(worker.jobs.heartbeat(stale))).toBe('CONFLICT');
    expect(await codeOf(worker.jobs.complete({ ...stale, result: 'late' }))).toBe('CONFLICT');
    await worker.jobs.complete({
      jobId: job.id,
      leaseToken: second?.leaseToken as string,
      result: 'on time',
    });
    expect((await fx.viewer.caller.jobs.get({ jobId: job.id })).result).toBe('on time');
  });

  it('retries with exponential backoff up to maxAttempts, then fails', async () => {
    const kind = newKind();
    const job = await fx.editor.caller.jobs.enqueue({ teamId: fx.team.id, kind, params: {}, maxAttempts: 2 });
    const c1 = await worker.jobs.claim({ workerId: 'w', kinds: [kind], leaseMs: 30_000 });
    const before = Date.now();
    const f1 = await worker.jobs.fail({
      jobId: job.id,
      leaseToken: c1?.leaseToken as string,
      error: 'OOM',
      retryable: true,
    });
    expect(f1.status).toBe('queued');
    const delay = new Date(f1.runAt).getTime() - before;
    expect(delay).toBeGreaterThanOrEqual(1900);
    expect(delay).toBeLessThan(4000);
    expect(await worker.jobs.claim({ workerId: 'w', kinds: [kind], leaseMs: 30_000 })).toBeNull();
    await h.db.prisma.job.update({ where: { id: job.id }, data: { runAt: new Date(Date.now() - 1) } });
    const c2 = await worker.jobs.claim({ workerId: 'w', kinds: [kind], leaseMs: 30_000 });
    expect(c2?.attempts).toBe(2);
    const f2 = await worker.jobs.fail({
      jobId: job.id,
      leaseToken: c2?.leaseToken as string,
      error: 'OOM again',
      retryable: true,
    });
    expect(f2.status).toBe('failed');
    const final = await fx.viewer.caller.jobs.get({ jobId: job.id });
    expect([final.status, final.error, final.attempts]).toEqual(['failed', 'OOM again', 2]);
    const other = await fx.editor.caller.jobs.enqueue({ teamId: fx.team.id, kind, params: {} });
    const c3 = await worker.jobs.claim({ workerId: 'w', kinds: [kind], leaseMs: 30_000 });
    expect(
      (
        await worker.jobs.fail({
          jobId: other.id,
          leaseToken: c3?.leaseToken as string,
          error: 'bad params',
          retryable: false,
        })
      ).status,
    ).toBe('failed');
  });

  it('cancels a queued job at once and a running one through the worker', async () => {
    const kind = newKind();
    const queued = await fx.editor.caller.jobs.enqueue({ teamId: fx.team.id, kind, params: {} });
    expect((await fx.editor.caller.jobs.cancel({ jobId: queued.id })).status).toBe('cancelled');
    expect(await worker.jobs.claim({ workerId: 'w', kinds: [kind], leaseMs: 30_000 })).toBeNull();

    const running = await fx.editor.caller.jobs.enqueue({ teamId: fx.team.id, kind, params: {} });
    const c = await worker.jobs.claim({ workerId: 'w', kinds: [kind], leaseMs: 30_000 });
    const lease = { jobId: running.id, leaseToken: c?.leaseToken as string };
    expect(await codeOf(worker.jobs.ackCancel(lease))).toBe('BAD_REQUEST');
    const asked = await fx.editor.caller.jobs.cancel({ jobId: running.id });
    expect([asked.status, asked.cancelRequested]).toEqual(['running', true]);
    expect((await worker.jobs.heartbeat(lease)).cancelRequested).toBe(true);
    await worker.jobs.ackCancel(lease);
    expect((await fx.viewer.caller.jobs.get({ jobId: running.id })).status).toBe('cancelled');
    expect(await codeOf(worker.jobs.complete({ ...lease, result: 1 }))).toBe('CONFLICT');
  });

  it('release hands a running job back without counting the attempt; a stale lease gets CONFLICT', async () => {
    const kind = newKind();
    const job = await fx.editor.caller.jobs.enqueue({ teamId: fx.team.id, kind, params: {} });
    const c1 = await worker.jobs.claim({ workerId: 'w1', kinds: [kind], leaseMs: 30_000 });
    expect(c1?.attempts).toBe(1);
    const lease1 = { jobId: job.id, leaseToken: c1?.leaseToken as string };
    expect(await worker.jobs.release(lease1)).toEqual({ status: 'queued' });
    const back = await fx.viewer.caller.jobs.get({ jobId: job.id });
    expect([back.status, back.attempts, back.workerId]).toEqual(['queued', 0, null]);
    expect(await codeOf(worker.jobs.release(lease1))).toBe('CONFLICT');
    expect(await codeOf(worker.jobs.heartbeat(lease1))).toBe('CONFLICT');
    const c2 = await worker.jobs.claim({ workerId: 'w2', kinds: [kind], leaseMs: 30_000 });
    expect([c2?.id, c2?.attempts, c2?.workerId]).toEqual([job.id, 1, 'w2']);
    expect(await codeOf(worker.jobs.release(lease1))).toBe('CONFLICT');
    await fx.editor.caller.jobs.cancel({ jobId: job.id });
    expect(await worker.jobs.release({ jobId: job.id, leaseToken: c2?.leaseToken as string })).toEqual({
      status: 'cancelled',
    });
    expect((await fx.viewer.caller.jobs.get({ jobId: job.id })).status).toBe('cancelled');
  });

  it('keeps logs bounded and puts large results in a compressed blob', async () => {
    const kind = newKind();
    const job = await fx.editor.caller.jobs.enqueue({ teamId: fx.team.id, kind, params: {} });
    const c = await worker.jobs.claim({ workerId: 'w', kinds: [kind], leaseMs: 30_000 });
    const lease = { jobId: job.id, leaseToken: c?.leaseToken as string };
    for (let b = 0; b < 3; b++) {
      await worker.jobs.heartbeat({
        ...lease,
        logs: Array.from({ length: 250 }, (_, i) => `line ${b * 250 + i}`),
      });
    }
    const logs = (await fx.viewer.caller.jobs.get({ jobId: job.id })).logs;
    expect(logs).toHaveLength(maxLogLines);
    expect(logs[logs.length - 1]).toBe('line 749');
    const big = { values: Array.from({ length: 20_000 }, (_, i) => i * 0.5) };
    await worker.jobs.complete({ ...lease, result: big });
    const got = await fx.viewer.caller.jobs.get({ jobId: job.id });
    expect([got.result, got.hasResultBlob]).toEqual([null, true]);
    expect((await fx.viewer.caller.jobs.result({ jobId: job.id })).result).toEqual(big);
  });

  it('an attribution job gets its files at claim and completes with a graph stored for the team', async () => {
    const { model, dictionary } = await h.catalogPair(fx.team.id);
    const job = await fx.editor.caller.jobs.enqueue({
      teamId: fx.team.id,
      kind: 'attribute',
      params: { modelId: model.id, dictionaryId: dictionary.id, prompt: 'roses' },
    });
    // Defaults are filled in when queued, so the worker runs exactly what is stored.
    expect(job.params).toMatchObject({ prompt: 'roses', maxNLogits: 10, targets: { kind: 'salient' } });
    expect(JSON.stringify(await fx.viewer.caller.jobs.get({ jobId: job.id }))).not.toContain(model.path);
    const c = await worker.jobs.claim({ workerId: 'w', kinds: ['attribute'], leaseMs: 30_000 });
    expect(c?.paths).toEqual({ model: model.path, dictionary: dictionary.path });
    await worker.jobs.complete({
      jobId: job.id,
      leaseToken: c?.leaseToken as string,
      result: { seconds: 1.5 },
      graph: { prompt: 'roses', graph: tinyGraph('j') },
    });
    const { result } = await fx.viewer.caller.jobs.result({ jobId: job.id });
    const graphId = (result as { graphId: string }).graphId;
    const g = await fx.viewer.caller.graphs.get({ graphId });
    expect([g.jobId, g.teamId, g.nodeCount, g.modelId]).toEqual([job.id, fx.team.id, 4, model.id]);
  });

  it('refuses unknown kinds, bad params and other teams’ ids at enqueue', async () => {
    const t = fx.team.id;
    const enqueue = (kind: string, params: Record<string, unknown>) =>
      fx.editor.caller.jobs.enqueue({ teamId: t, kind, params });
    const mine = await h.catalogPair(t);
    const theirs = await h.catalogPair(fx.otherTeam.id);
    const shared = await h.catalogPair(null, { key: `enqueue-${Date.now()}` });
    expect(await codeOf(enqueue('no-such-kind', {}))).toBe('BAD_REQUEST');
    const ids = { modelId: mine.model.id, dictionaryId: mine.dictionary.id };
    // A path where an id belongs, a missing prompt, an unknown field: refused before anything is queued.
    expect(await codeOf(enqueue('attribute', { ...ids, model: '/etc', prompt: 'x' }))).toBe('BAD_REQUEST');
    expect(await codeOf(enqueue('attribute', ids))).toBe('BAD_REQUEST');
    expect(await codeOf(enqueue('index-features', { dictionaryId: 'not-a-uuid' }))).toBe('BAD_REQUEST');
    expect(
      await codeOf(
        enqueue('train-dictionary', { modelId: mine.model.id, kind: 'plt', width: 64, out: '/tmp' }),
      ),
    ).toBe('BAD_REQUEST');
    try {
      await enqueue('attribute', { ...ids, prompt: 'x', maxNLogits: 0 });
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).toMatch(/invalid params for "attribute": maxNLogits/);
    }
    // Another team's model or dictionary is NOT_FOUND, as if it did not exist; instance ones are usable.
    const cross = [
      () => enqueue('attribute', { modelId: theirs.model.id, dictionaryId: mine.dictionary.id, prompt: 'x' }),
      () =>
        enqueue('intervene', {
          modelId: mine.model.id,
          dictionaryId: theirs.dictionary.id,
          prompt: 'x',
          set: ['0:0:1=0'],
        }),
      () => enqueue('index-features', { dictionaryId: theirs.dictionary.id }),
      () => enqueue('train-dictionary', { modelId: theirs.model.id, kind: 'plt', width: 64 }),
      () =>
        enqueue('train-dictionary', {
          modelId: mine.model.id,
          kind: 'plt',
          width: 64,
          corpus: { kind: 'blob', blobId: '00000000-0000-4000-8000-000000000000' },
        }),
    ];
    for (const call of cross) expect(await codeOf(call())).toBe('NOT_FOUND');
    // A dictionary is used with its own model only.
    expect(
      await codeOf(
        enqueue('attribute', { modelId: shared.model.id, dictionaryId: mine.dictionary.id, prompt: 'x' }),
      ),
    ).toBe('BAD_REQUEST');
    const ok = await enqueue('attribute', {
      modelId: shared.model.id,
      dictionaryId: shared.dictionary.id,
      prompt: 'x',
    });
    expect(ok.status).toBe('queued');
  });

  it('a claim whose catalogue record is gone fails the job for good', async () => {
    const { model, dictionary } = await h.catalogPair(fx.team.id);
    const job = await fx.editor.caller.jobs.enqueue({
      teamId: fx.team.id,
      kind: 'index-features',
      params: { dictionaryId: dictionary.id },
    });
    await h.db.prisma.model.delete({ where: { id: model.id } });
    expect(await worker.jobs.claim({ workerId: 'w', kinds: ['index-features'], leaseMs: 30_000 })).toBeNull();
    const failed = await fx.viewer.caller.jobs.get({ jobId: job.id });
    expect([failed.status, failed.error]).toEqual(['failed', 'dictionary not found']);
  });

  it('a train-dictionary job writes where the server says and becomes a team dictionary', async () => {
    const { model } = await h.catalogPair(fx.team.id);
    const job = await fx.editor.caller.jobs.enqueue({
      teamId: fx.team.id,
      kind: 'train-dictionary',
      params: { modelId: model.id, kind: 'clt', width: 64, name: 'my clt' },
    });
    const c = await worker.jobs.claim({ workerId: 'w', kinds: ['train-dictionary'], leaseMs: 30_000 });
    expect(c?.paths).toEqual({ model: model.path, out: path.join(h.dataDir, 'dictionaries', job.id) });
    await worker.jobs.complete({ jobId: job.id, leaseToken: c?.leaseToken as string, result: { steps: 1 } });
    const { result } = await fx.viewer.caller.jobs.result({ jobId: job.id });
    const dictionaryId = (result as { dictionaryId: string }).dictionaryId;
    const listed = await fx.viewer.caller.dictionaries.list({ teamId: fx.team.id, modelId: model.id });
    const dict = listed.items.find((d) => d.id === dictionaryId);
    expect(dict).toMatchObject({ name: 'my clt', kind: 'clt', scope: 'team', modelId: model.id });
    expect(JSON.stringify(listed)).not.toContain(h.dataDir);
    const stored = await h.db.prisma.dictionary.findUniqueOrThrow({ where: { id: dictionaryId } });
    expect(stored.path).toBe(path.join(h.dataDir, 'dictionaries', job.id));
  });

  it('streams job updates to team subscribers', async () => {
    const kind = newKind();
    const stream = await fx.viewer.caller.jobs.onUpdate({ teamId: fx.team.id });
    const it = stream[Symbol.asyncIterator]();
    const next = it.next();
    await sleep(50);
    const job = await fx.editor.caller.jobs.enqueue({ teamId: fx.team.id, kind, params: {} });
    const ev = await next;
    expect(ev.value).toMatchObject({ id: job.id, status: 'queued' });
    const outsiderStream = await fx.outsider.caller.jobs.onUpdate({ teamId: fx.team.id });
    expect(await codeOf(outsiderStream[Symbol.asyncIterator]().next())).toBe('NOT_FOUND');
    await it.return?.(undefined);
  });

  it('user tokens cannot act as workers, and workers cannot use user procedures', async () => {
    const { token } = await fx.owner.caller.auth.createToken({ name: 'cli' });
    const userToken = h.caller({ authorization: `Bearer ${token}` });
    expect(await codeOf(userToken.jobs.claim({ workerId: 'x', kinds: ['k'], leaseMs: 5000 }))).toBe(
      'FORBIDDEN',
    );
    expect(await codeOf(worker.jobs.enqueue({ teamId: fx.team.id, kind: 'k', params: {} }))).toBe(
      'FORBIDDEN',
    );
    expect(await codeOf(worker.investigations.list({ teamId: fx.team.id }))).toBe('FORBIDDEN');
    expect(
      await codeOf(
        h
          .caller({ authorization: 'Bearer lpw_not-a-token' })
          .jobs.claim({ workerId: 'x', kinds: ['k'], leaseMs: 5000 }),
      ),
    ).toBe('UNAUTHORIZED');
  });
});
