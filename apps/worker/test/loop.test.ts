import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { JobPaths } from '@loupe/api/jobs';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type ClaimedJob, type LeaseRef, LeaseLostError, type WorkerApi } from '../src/api.ts';
import { JobLoop, LogBuffer, type LoopOptions } from '../src/loop.ts';
import { defineHandler, HandlerRegistry, PermanentJobError } from '../src/registry.ts';

/**
 * An in-memory server with the lease rules of the jobs router, so the loop's timing behaviour (heartbeats,
 * cancellation, lease loss, shutdown) is tested in milliseconds. The real queue is tested in queue.test.ts.
 */
class MemoryServer implements WorkerApi {
  jobs = new Map<
    string,
    {
      kind: string;
      params: unknown;
      paths: JobPaths;
      status: 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
      attempts: number;
      leaseToken?: string;
      cancelRequested: boolean;
      progress?: { percent: number; message?: string };
      logs: string[];
      result?: unknown;
      error?: string;
      retryable?: boolean;
    }
  >();
  heartbeats = 0;
  private next = 0;
  /** When set, every call throws this (a network outage). */
  outage: Error | undefined;

  enqueue(kind: string, params: unknown, paths: JobPaths = {}): string {
    const id = `job-${++this.next}`;
    this.jobs.set(id, {
      kind,
      params,
      paths,
      status: 'queued',
      attempts: 0,
      cancelRequested: false,
      logs: [],
    });
    return id;
  }

  private owned(req: LeaseRef) {
    if (this.outage) throw this.outage;
    const job = this.jobs.get(req.jobId);
    if (job?.status !== 'running' || job.leaseToken !== req.leaseToken)
      throw new LeaseLostError('lease lost');
    return job;
  }

  async claim(req: { kinds: string[] }): Promise<ClaimedJob | null> {
    if (this.outage) throw this.outage;
    for (const [id, job] of this.jobs) {
      if (job.status !== 'queued' || !req.kinds.includes(job.kind)) continue;
      job.status = 'running';
      job.attempts++;
      job.leaseToken = `${id}-lease-${job.attempts}`;
      return {
        id,
        kind: job.kind,
        params: job.params,
        attempt: job.attempts,
        leaseToken: job.leaseToken,
        paths: job.paths,
      };
    }
    return null;
  }

  async heartbeat(req: LeaseRef & { progress?: { percent: number; message?: string }; logs: string[] }) {
    const job = this.owned(req);
    this.heartbeats++;
    if (req.progress) job.progress = req.progress;
    job.logs.push(...req.logs);
    return { cancelRequested: job.cancelRequested };
  }

  async complete(req: LeaseRef & { result: unknown }) {
    const job = this.owned(req);
    job.status = 'succeeded';
    job.result = req.result;
  }

  async fail(req: LeaseRef & { error: string; retryable: boolean }) {
    const job = this.owned(req);
    job.status = 'failed';
    job.error = req.error;
    job.retryable = req.retryable;
  }

  async ackCancel(req: LeaseRef) {
    const job = this.owned(req);
    if (!job.cancelRequested) throw new Error('ackCancel without a cancel request');
    job.status = 'cancelled';
  }

  /** Simulates the lease expiring and the job being re-queued for another worker. */
  expire(id: string) {
    const job = this.jobs.get(id)!;
    job.status = 'queued';
    job.leaseToken = undefined;
  }
}

/** The one data root of these tests; paths elsewhere are refused before a handler runs. */
const root = mkdtempSync(path.join(tmpdir(), 'loupe-loop-root-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const opts: LoopOptions = {
  dataRoots: [root],
  workerId: 'test-worker',
  concurrency: 1,
  leaseMs: 600,
  heartbeatMs: 40,
  pollMs: 20,
  shutdownGraceMs: 150,
  abortGraceMs: 200,
  log: () => {},
};

async function until(cond: () => boolean, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A job that ticks every 10 ms for `ms`, reporting progress, and stops when its signal aborts. */
const sleeper = defineHandler({
  kind: 'sleep',
  paramsSchema: z.strictObject({ ms: z.number().int().min(0), result: z.string().default('done') }),
  async run(p, ctx) {
    const start = Date.now();
    while (Date.now() - start < p.ms) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      ctx.progress((100 * (Date.now() - start)) / p.ms, `ticking`);
      await new Promise((r) => setTimeout(r, 10));
    }
    ctx.log(`slept ${p.ms} ms on attempt ${ctx.attempt}`);
    return { value: p.result };
  },
});

const failing = defineHandler({
  kind: 'fail',
  paramsSchema: z.strictObject({ permanent: z.boolean() }),
  async run(p) {
    if (p.permanent) throw new PermanentJobError('input file is corrupt');
    throw new Error('transient trouble');
  },
});

/** Ignores its signal entirely, like a handler stuck in a long synchronous call would. */
const stubborn = defineHandler({
  kind: 'stubborn',
  paramsSchema: z.strictObject({}),
  run: () => new Promise((r) => setTimeout(() => r('late'), 2_000)),
});

function setup(o: Partial<LoopOptions> = {}) {
  const server = new MemoryServer();
  const loop = new JobLoop(server, new HandlerRegistry([sleeper, failing, stubborn]), { ...opts, ...o });
  const done = loop.run();
  return { server, loop, done };
}

describe('JobLoop', () => {
  it('refuses a job whose files lie outside the data roots, without running it or retrying', async () => {
    const { server, loop, done } = setup();
    const outside = server.enqueue('sleep', { ms: 0 }, { model: tmpdir() });
    const inside = server.enqueue('sleep', { ms: 0 }, { model: root, out: path.join(root, 'new', 'out') });
    await until(() => server.jobs.get(outside)!.status === 'failed');
    await until(() => server.jobs.get(inside)!.status === 'succeeded');
    const refused = server.jobs.get(outside)!;
    expect([refused.retryable, refused.logs]).toEqual([false, []]);
    expect(refused.error).toMatch(/refused model path .* outside the worker's data roots/);
    await loop.stop();
    await done;
  });

  it('runs a job, streams progress and logs, and completes it once', async () => {
    const { server, loop, done } = setup();
    const id = server.enqueue('sleep', { ms: 200, result: 'ok' });
    await until(() => server.jobs.get(id)!.progress !== undefined);
    expect(server.jobs.get(id)!.status).toBe('running');
    await until(() => server.jobs.get(id)!.status === 'succeeded');
    const job = server.jobs.get(id)!;
    expect(job.result).toEqual({ value: 'ok' });
    expect(job.attempts).toBe(1);
    expect(job.logs).toContain('slept 200 ms on attempt 1');
    await loop.stop();
    await done;
  });

  it('stops a cancelled job promptly and acknowledges the cancellation', async () => {
    const { server, loop, done } = setup();
    const id = server.enqueue('sleep', { ms: 60_000 });
    await until(() => server.jobs.get(id)!.progress !== undefined);
    const t0 = Date.now();
    server.jobs.get(id)!.cancelRequested = true;
    await until(() => server.jobs.get(id)!.status === 'cancelled');
    expect(Date.now() - t0).toBeLessThan(1_000);
    expect(server.jobs.get(id)!.result).toBeUndefined();
    await loop.stop();
    await done;
  });

  it('drops a job whose lease was lost without reporting a result, and moves on', async () => {
    const { server, loop, done } = setup();
    const lost = server.enqueue('sleep', { ms: 60_000 });
    await until(() => server.jobs.get(lost)!.progress !== undefined);
    server.expire(lost);
    server.jobs.get(lost)!.kind = 'parked'; // keep the re-queued job away from this same worker
    const next = server.enqueue('sleep', { ms: 10 });
    await until(() => server.jobs.get(next)!.status === 'succeeded');
    expect(server.jobs.get(lost)!.status).toBe('queued');
    expect(server.jobs.get(lost)!.result).toBeUndefined();
    await loop.stop();
    await done;
  });

  it('gives up a job when heartbeats fail for a whole lease', async () => {
    const { server, loop, done } = setup();
    const id = server.enqueue('sleep', { ms: 60_000 });
    await until(() => server.jobs.get(id)!.progress !== undefined);
    const beats = server.heartbeats;
    server.outage = new Error('ECONNREFUSED');
    await new Promise((r) => setTimeout(r, opts.leaseMs + 300));
    server.outage = undefined;
    await new Promise((r) => setTimeout(r, 100));
    expect(server.heartbeats).toBe(beats);
    expect(server.jobs.get(id)!.status).toBe('running');
    await loop.stop();
    await done;
  });

  it('marks permanent errors as not retryable and other errors as retryable', async () => {
    const { server, loop, done } = setup();
    const a = server.enqueue('fail', { permanent: true });
    const b = server.enqueue('fail', { permanent: false });
    await until(() => server.jobs.get(a)!.status === 'failed' && server.jobs.get(b)!.status === 'failed');
    expect(server.jobs.get(a)!).toMatchObject({ error: 'input file is corrupt', retryable: false });
    expect(server.jobs.get(b)!).toMatchObject({ error: 'transient trouble', retryable: true });
    expect(server.jobs.get(b)!.logs.join('\n')).toContain('transient trouble');
    // Team viewers read these logs: the error's name and message only, no stack frames naming worker files.
    expect(server.jobs.get(b)!.logs.join('\n')).not.toMatch(/^\s+at\s/m);
    await loop.stop();
    await done;
  });

  it('fails a job with invalid params without running it or retrying', async () => {
    const { server, loop, done } = setup();
    const id = server.enqueue('sleep', { ms: -5, extra: 1 });
    await until(() => server.jobs.get(id)!.status === 'failed');
    expect(server.jobs.get(id)!.retryable).toBe(false);
    expect(server.jobs.get(id)!.error).toMatch(/invalid params for 'sleep'.*ms/);
    await loop.stop();
    await done;
  });

  it('lets a running job finish within the shutdown grace', async () => {
    const { server, loop, done } = setup({ shutdownGraceMs: 2_000 });
    const id = server.enqueue('sleep', { ms: 150 });
    await until(() => server.jobs.get(id)!.status === 'running');
    await loop.stop();
    await done;
    expect(server.jobs.get(id)!.status).toBe('succeeded');
  });

  it('hands a long job back on shutdown instead of failing it', async () => {
    const { server, loop, done } = setup({ shutdownGraceMs: 50 });
    const id = server.enqueue('sleep', { ms: 60_000 });
    await until(() => server.jobs.get(id)!.status === 'running');
    const t0 = Date.now();
    await loop.stop();
    await done;
    expect(Date.now() - t0).toBeLessThan(1_000);
    // No release call on this server: the job stays leased until it expires, with no failure recorded.
    expect(server.jobs.get(id)!.status).toBe('running');
    expect(server.jobs.get(id)!.error).toBeUndefined();
  });

  it('does not wait forever for a handler that ignores its signal', async () => {
    const { server, loop, done } = setup({ shutdownGraceMs: 0, abortGraceMs: 100 });
    const id = server.enqueue('stubborn', {});
    await until(() => server.jobs.get(id)!.status === 'running');
    const t0 = Date.now();
    await loop.stop();
    await done;
    expect(Date.now() - t0).toBeLessThan(1_000);
  });

  it('rejects a heartbeat interval that could let the lease lapse', () => {
    expect(
      () => new JobLoop(new MemoryServer(), new HandlerRegistry([sleeper]), { ...opts, heartbeatMs: 400 }),
    ).toThrow(/heartbeatMs/);
  });
});

describe('LogBuffer', () => {
  it('bounds pending lines and says how many were dropped', () => {
    const b = new LogBuffer();
    for (let i = 0; i < LogBuffer.maxLines + 5; i++) b.push(`line ${i}`);
    const out = b.drain();
    expect(out[0]).toBe('[5 log lines dropped]');
    expect(out[1]).toBe('line 5');
    expect(out).toHaveLength(LogBuffer.maxLines + 1);
    expect(b.drain()).toEqual([]);
  });

  it('truncates huge lines and restores undelivered ones first', () => {
    const b = new LogBuffer();
    b.push('x'.repeat(10 * LogBuffer.maxLineChars));
    const first = b.drain();
    expect(first[0].length).toBe(LogBuffer.maxLineChars + 1);
    b.push('newer');
    b.restore(['older']);
    expect(b.drain()).toEqual(['older', 'newer']);
  });
});

describe('HandlerRegistry', () => {
  it('restricts to the configured kinds and names unknown ones', () => {
    const r = new HandlerRegistry([sleeper, failing]);
    expect(r.restrict(['sleep']).kinds()).toEqual(['sleep']);
    expect(r.restrict(undefined).kinds()).toEqual(['fail', 'sleep']);
    expect(() => r.restrict(['sleep', 'attribute'])).toThrow(/unknown kind\(s\) attribute/);
    expect(() => r.register(sleeper)).toThrow(/registered twice/);
  });
});
