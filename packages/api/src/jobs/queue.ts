/**
 * The job queue's state machine on the Job table: queued → running (claim, heartbeat) → succeeded, failed,
 * cancelled, or queued again (retry, release). Every transition a worker makes under its lease goes through
 * `underLease`, which locks the row, checks the lease still holds, and writes the transition in one transaction;
 * whoever loses a race (an expired lease reclaimed, a cancel, a second completion) gets CONFLICT.
 *
 * The router only authorizes, calls these and publishes the rows they return.
 */
import { randomUUID } from 'node:crypto';
import { Prisma, type PrismaClient } from '@loupe/db';
import { TRPCError } from '@trpc/server';
import { putJsonBlob } from '../blob.ts';
import { type GraphJson, storeGraph } from '../graph-store.ts';
import { type JobParams, type JobPaths, jobKinds } from './contract.ts';
import { linkTracedGraph, registerTrainedDictionary } from './outcomes.ts';
import { resolveJobPaths } from './refs.ts';

type JobRow = Prisma.JobGetPayload<object>;
type Tx = Prisma.TransactionClient;

/** A worker's hold on one running job: the claim's token, which every later call must show. */
export interface Lease {
  jobId: string;
  leaseToken: string;
}

/** Logs keep the last `maxLogLines` lines, each cut to `maxLogLineChars`. */
export const maxLogLines = 500;
const maxLogLineChars = 2000;

/** JSON results larger than this go compressed to the blob table instead of the job row. */
export const inlineResultBytes = 64 * 1024;

/** Backoff after failed attempt n (1-based): min(2^n s, 10 min). */
export function backoffMs(attempt: number): number {
  return Math.min(2 ** attempt * 1000, 600_000);
}

// A stack frame as V8 ("    at fn (file:1:2)") or Firefox/Python-style tracebacks print them.
const stackFrame = /^\s*(at\s.+|File ".+", line \d+.*|Traceback \(most recent call last\):)$/;

/**
 * What team viewers may read of a worker's text: stack frames name the worker's files and code, so they are
 * dropped, line by line, wherever a worker sends text that users see.
 */
export function withoutStack(text: string): string {
  return text
    .split('\n')
    .filter((line) => !stackFrame.test(line))
    .join('\n');
}

export function leaseLost(): TRPCError {
  return new TRPCError({
    code: 'CONFLICT',
    message: 'lease lost: the job was reclaimed by another worker, finished, or cancelled',
  });
}

/** Timestamps as naive UTC text, the form Prisma stores in TIMESTAMP(3) columns, so raw SQL compares like Prisma. */
function sqlTs(d: Date): string {
  return d.toISOString().replace('T', ' ').replace('Z', '');
}

/**
 * The job `lease` holds, its row locked until the transaction ends (CONFLICT when the lease no longer holds).
 * Of two calls racing on one lease, the second waits for the lock and then sees the first one's outcome.
 */
export async function lockLeased(tx: Tx, lease: Lease): Promise<JobRow> {
  const locked = await tx.$queryRaw<{ id: string }[]>`
    SELECT id FROM "Job" WHERE id = ${lease.jobId} AND "leaseToken" = ${lease.leaseToken}
      AND status = 'running' FOR UPDATE`;
  if (locked.length === 0) throw leaseLost();
  return tx.job.findUniqueOrThrow({ where: { id: lease.jobId } });
}

/**
 * One transition under a lease: lock the leased row, let `step` decide the update from it (and do any writes
 * of its own in the same transaction), apply it with the version bumped. Returns the saved row and `step`'s
 * extra value.
 */
async function underLease<T = undefined>(
  db: PrismaClient,
  lease: Lease,
  step: (tx: Tx, job: JobRow) => Promise<{ data: Prisma.JobUncheckedUpdateInput; extra?: T }>,
  timeoutMs?: number,
): Promise<{ saved: JobRow; extra: T }> {
  return db.$transaction(
    async (tx) => {
      const job = await lockLeased(tx, lease);
      const { data, extra } = await step(tx, job);
      const saved = await tx.job.update({
        where: { id: job.id },
        data: { ...data, version: { increment: 1 } },
      });
      return { saved, extra: extra as T };
    },
    timeoutMs === undefined ? undefined : { timeout: timeoutMs },
  );
}

/**
 * Ends expired leases that must not run again: cancelled if asked, failed when out of attempts. Queued jobs of
 * a kind this server no longer knows could never run: they fail, saying why. Returns the ids it ended.
 */
async function sweep(tx: Tx, now: Date): Promise<string[]> {
  const ts = sqlTs(now);
  const expired = await tx.$queryRaw<{ id: string }[]>`
    UPDATE "Job" SET
      status = CASE WHEN "cancelRequested" THEN 'cancelled' ELSE 'failed' END,
      error = CASE WHEN "cancelRequested" THEN error ELSE 'lease expired on the last attempt (worker lost)' END,
      "finishedAt" = ${ts}::timestamp, "leaseToken" = NULL, version = version + 1
    WHERE status = 'running' AND "leaseExpiresAt" < ${ts}::timestamp
      AND ("cancelRequested" OR attempts >= "maxAttempts")
    RETURNING id`;
  const orphaned = await tx.$queryRaw<{ id: string }[]>`
    UPDATE "Job" SET status = 'failed', error = 'unknown job kind ' || kind || '; no worker can run it',
      "finishedAt" = ${ts}::timestamp, version = version + 1
    WHERE status = 'queued' AND kind NOT IN (${Prisma.join(jobKinds)})
    RETURNING id`;
  return [...expired, ...orphaned].map((r) => r.id);
}

export interface Claim {
  /** The job now running under a fresh lease, or null when none was ready. */
  claimed: JobRow | null;
  paths: JobPaths;
  /** Rows the claim ended on the way (swept leases, unknown kinds, catalogue records gone), to publish. */
  ended: JobRow[];
}

/**
 * Sweeps, then hands the next ready job of `kinds` (highest priority, then oldest) to `workerId` for `leaseMs`:
 * a queued job whose time has come, or a running one whose lease expired. SKIP LOCKED lets concurrent claims
 * pass each other, so no job goes to two workers.
 */
export async function claimJob(
  db: PrismaClient,
  req: { workerId: string; kinds: string[]; leaseMs: number; dataDir: string },
): Promise<Claim> {
  const now = new Date();
  const ts = sqlTs(now);
  const { claimed, endedIds, paths } = await db.$transaction(async (tx) => {
    const endedIds = await sweep(tx, now);
    const picked = await tx.$queryRaw<{ id: string }[]>`
      SELECT id FROM "Job"
      WHERE kind IN (${Prisma.join(req.kinds)}) AND NOT "cancelRequested"
        AND ((status = 'queued' AND "runAt" <= ${ts}::timestamp)
          OR (status = 'running' AND "leaseExpiresAt" < ${ts}::timestamp))
      ORDER BY priority DESC, "runAt" ASC, "queuedAt" ASC
      LIMIT 1
      FOR UPDATE SKIP LOCKED`;
    const id = picked[0]?.id;
    if (id === undefined) return { claimed: null, endedIds, paths: {} };
    const job = await tx.job.findUniqueOrThrow({ where: { id } });
    // A catalogue record deleted since the job was queued fails it here, for good.
    let paths: JobPaths;
    try {
      paths = await resolveJobPaths(tx, job, req.dataDir);
    } catch (err) {
      if (!(err instanceof TRPCError)) throw err;
      await tx.job.update({
        where: { id },
        data: { status: 'failed', error: err.message, finishedAt: now, version: { increment: 1 } },
      });
      return { claimed: null, endedIds: [...endedIds, id], paths: {} };
    }
    const claimed = await tx.job.update({
      where: { id },
      data: {
        status: 'running',
        attempts: { increment: 1 },
        leaseToken: randomUUID(),
        leaseExpiresAt: new Date(now.getTime() + req.leaseMs),
        workerId: req.workerId,
        startedAt: now,
        version: { increment: 1 },
      },
    });
    return { claimed, endedIds, paths };
  });
  const ended = await db.job.findMany({ where: { id: { in: endedIds } } });
  return { claimed, paths, ended };
}

/** Extends the lease by `leaseMs` and records progress and log lines (stack frames dropped, the log bounded). */
export async function heartbeatJob(
  db: PrismaClient,
  lease: Lease,
  beat: { leaseMs: number; progress?: { percent: number; message: string }; logs?: string[] },
): Promise<JobRow> {
  const { saved } = await underLease(db, lease, async (_tx, job) => {
    const kept = (beat.logs ?? []).flatMap((l) => {
      const text = withoutStack(l);
      return text ? [text.slice(0, maxLogLineChars)] : [];
    });
    return {
      data: {
        leaseExpiresAt: new Date(Date.now() + beat.leaseMs),
        ...(beat.progress
          ? { progressPercent: beat.progress.percent, progressMessage: beat.progress.message }
          : {}),
        ...(beat.logs?.length ? { logs: [...(job.logs as string[]), ...kept].slice(-maxLogLines) } : {}),
      },
    };
  });
  return saved;
}

/** What a worker hands in with a finished job: its JSON result and, for a trace, the graph to store. */
export interface Completion {
  result: unknown;
  graph?: { prompt: string; slug?: string; graph: GraphJson };
}

/**
 * Succeeds the job with its result, storing a graph it brought for the team (and linking the investigations
 * waiting on the trace) and registering a trained dictionary. Cancellation asked for while the job ran wins
 * over its result: a cancelled job never succeeds. Returns the saved row and the investigations linked.
 */
export async function completeJob(
  db: PrismaClient,
  lease: Lease,
  done: Completion,
  dataDir: string,
): Promise<{ saved: JobRow; linked: { id: string; version: number }[] }> {
  const { saved, extra } = await underLease(
    db,
    lease,
    async (tx, job) => {
      const finished = { finishedAt: new Date(), leaseToken: null };
      if (job.cancelRequested) return { data: { status: 'cancelled', ...finished }, extra: [] };
      let result = (done.result ?? null) as Prisma.InputJsonValue | null;
      let linked: { id: string; version: number }[] = [];
      const teamId = job.teamId;
      if (done.graph) {
        if (teamId === null)
          throw new TRPCError({ code: 'BAD_REQUEST', message: 'an instance job cannot store a graph' });
        const params = job.params as { modelId?: unknown; dictionaryId?: unknown };
        const g = await storeGraph(
          tx,
          {
            teamId,
            prompt: done.graph.prompt,
            slug: done.graph.slug ?? null,
            jobId: job.id,
            modelId: typeof params.modelId === 'string' ? params.modelId : null,
            dictionaryId: typeof params.dictionaryId === 'string' ? params.dictionaryId : null,
          },
          done.graph.graph,
        );
        result = withField(result, 'graphId', g.id);
        if (job.kind === 'attribute') linked = await linkTracedGraph(tx, { id: job.id, teamId }, g.id);
      }
      if (job.kind === 'train-dictionary' && teamId !== null) {
        const dictionaryId = await registerTrainedDictionary(
          tx,
          { id: job.id, teamId, params: job.params as JobParams<'train-dictionary'> },
          dataDir,
        );
        result = withField(result, 'dictionaryId', dictionaryId);
      }
      const text = JSON.stringify(result);
      // Instance jobs have no team to own a blob; their results (index summaries) are small.
      const big = teamId !== null && text !== undefined && text.length > inlineResultBytes;
      const resultBlobId = big ? await putJsonBlob(tx, teamId, result) : null;
      return {
        data: {
          status: 'succeeded',
          result: big || result === null ? Prisma.JsonNull : result,
          resultBlobId,
          progressPercent: 100,
          ...finished,
        },
        extra: linked,
      };
    },
    120_000,
  );
  return { saved, linked: extra };
}

/**
 * Records a failed attempt: queued again after backoffMs when the worker says a retry may help and attempts
 * remain (and no cancellation was asked for), failed for good otherwise.
 */
export async function failJob(
  db: PrismaClient,
  lease: Lease,
  failure: { error: string; retryable: boolean },
): Promise<JobRow> {
  const { saved } = await underLease(db, lease, async (_tx, job) => {
    const retry = failure.retryable && !job.cancelRequested && job.attempts < job.maxAttempts;
    const now = Date.now();
    const ended = { leaseToken: null, error: withoutStack(failure.error) };
    return {
      data: retry
        ? { status: 'queued', runAt: new Date(now + backoffMs(job.attempts)), ...ended }
        : { status: 'failed', finishedAt: new Date(now), ...ended },
    };
  });
  return saved;
}

/**
 * A worker that shuts down gracefully hands its running job back: queued to run at once, and the attempt its
 * claim counted is taken back, since the job itself did not fail. A job whose cancellation was requested ends
 * cancelled instead.
 */
export async function releaseJob(db: PrismaClient, lease: Lease): Promise<JobRow> {
  const { saved } = await underLease(db, lease, async (_tx, job) => {
    const now = new Date();
    return {
      data: job.cancelRequested
        ? { status: 'cancelled', finishedAt: now, leaseToken: null }
        : {
            status: 'queued',
            runAt: now,
            attempts: { decrement: 1 },
            leaseToken: null,
            leaseExpiresAt: null,
            workerId: null,
          },
    };
  });
  return saved;
}

/** The worker stops a job whose cancellation was requested (BAD_REQUEST when none was). */
export async function ackCancel(db: PrismaClient, lease: Lease): Promise<JobRow> {
  const { saved } = await underLease(db, lease, async (_tx, job) => {
    if (!job.cancelRequested) {
      throw new TRPCError({ code: 'BAD_REQUEST', message: 'cancellation was not requested for this job' });
    }
    return { data: { status: 'cancelled', finishedAt: new Date(), leaseToken: null } };
  });
  return saved;
}

/**
 * A user's cancel: a queued job ends cancelled at once; a running one is asked to stop, and ends when its
 * worker acknowledges, completes or loses its lease. Finished jobs stay as they are.
 */
export async function cancelJob(db: PrismaClient, jobId: string): Promise<JobRow> {
  // Two guarded updates: whichever matches the job's current state wins, so a racing claim cannot be overwritten.
  await db.job.updateMany({
    where: { id: jobId, status: 'queued' },
    data: { status: 'cancelled', cancelRequested: true, finishedAt: new Date() },
  });
  await db.job.updateMany({
    where: { id: jobId, status: 'running' },
    data: { cancelRequested: true },
  });
  return db.job.findUniqueOrThrow({ where: { id: jobId } });
}

function withField(result: Prisma.InputJsonValue | null, key: string, value: string): Prisma.InputJsonValue {
  const base =
    typeof result === 'object' && result !== null && !Array.isArray(result) ? result : { value: result };
  return { ...(base as Record<string, Prisma.InputJsonValue>), [key]: value };
}
