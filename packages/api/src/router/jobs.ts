import { randomUUID } from 'node:crypto';
import { Prisma, type PrismaClient } from '@loupe/db';
import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { requireRole } from '../access.ts';
import { getJsonBlob, putJsonBlob } from '../blob.ts';
import { graphJson, storeGraph } from '../graph-store.ts';
import { isJobKind, type JobParams, type JobPaths, jobKinds } from '../jobs/contract.ts';
import { createJob, maxTeamPriority } from '../jobs/enqueue.ts';
import { type Job, jobChannel, jobStatus, publicJob, publish } from '../jobs/public.ts';
import { resolveJobPaths } from '../jobs/refs.ts';
import { announce } from '../investigation-access.ts';
import { pageArgs, pageInput, toPage } from '../pagination.ts';
import { notFound, router, userProcedure, workerProcedure } from '../trpc.ts';
import { linkTracedGraph, registerTrainedDictionary } from './job-outcomes.ts';

export { type Job, type JobStatus, jobStatus, publicJob } from '../jobs/public.ts';

/** Logs keep the last `maxLogLines` lines, each cut to `maxLogLineChars`. */
export const maxLogLines = 500;
const maxLogLineChars = 2000;

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
/** JSON results larger than this go compressed to the blob table instead of the job row. */
export const inlineResultBytes = 64 * 1024;
/** Backoff after failed attempt n (1-based): min(2^n s, 10 min). */
export function backoffMs(attempt: number): number {
  return Math.min(2 ** attempt * 1000, 600_000);
}

/** Timestamps as naive UTC text, the form Prisma stores in TIMESTAMP(3) columns, so raw SQL compares like Prisma. */
function sqlTs(d: Date): string {
  return d.toISOString().replace('T', ' ').replace('Z', '');
}

/**
 * A job the caller may read (viewer) or cancel (editor). Instance jobs are read by every signed-in user and
 * managed by the server only.
 */
async function readableJob(
  ctx: { db: PrismaClient; userId: string },
  jobId: string,
  min: 'viewer' | 'editor',
) {
  const job = await ctx.db.job.findUnique({ where: { id: jobId } });
  if (!job) throw notFound('job');
  if (job.teamId === null) {
    if (min !== 'viewer')
      throw new TRPCError({ code: 'FORBIDDEN', message: 'instance jobs are managed by the server' });
    return job;
  }
  await requireRole(ctx, job.teamId, min, 'job');
  return job;
}

function leaseLost(): TRPCError {
  return new TRPCError({
    code: 'CONFLICT',
    message: 'lease lost: the job was reclaimed by another worker, finished, or cancelled',
  });
}

const lease = { jobId: z.uuid(), leaseToken: z.uuid() };

export const jobsRouter = router({
  enqueue: userProcedure
    .input(
      z.object({
        teamId: z.uuid(),
        kind: z.string().min(1).max(100),
        params: z.record(z.string(), z.unknown()),
        priority: z.number().int().min(-maxTeamPriority).max(maxTeamPriority).default(0),
        maxAttempts: z.number().int().min(1).max(20).default(3),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      await requireRole(ctx, input.teamId, 'editor');
      const job = await createJob(ctx.db, { ...input, createdById: ctx.userId });
      publish(ctx.bus, job);
      return publicJob(job);
    }),

  get: userProcedure.input(z.object({ jobId: z.uuid() })).query(async ({ ctx, input }) => {
    return publicJob(await readableJob(ctx, input.jobId, 'viewer'));
  }),

  result: userProcedure.input(z.object({ jobId: z.uuid() })).query(async ({ ctx, input }) => {
    const job = await readableJob(ctx, input.jobId, 'viewer');
    if (job.resultBlobId) return { result: await getJsonBlob(ctx.db, job.resultBlobId) };
    return { result: job.result };
  }),

  list: userProcedure
    .input(
      z.object({
        teamId: z.uuid(),
        status: jobStatus.optional(),
        kind: z.string().min(1).max(100).optional(),
        ...pageInput,
      }),
    )
    .query(async ({ ctx, input }) => {
      await requireRole(ctx, input.teamId, 'viewer');
      const rows = await ctx.db.job.findMany({
        where: {
          teamId: input.teamId,
          ...(input.status ? { status: input.status } : {}),
          ...(input.kind ? { kind: input.kind } : {}),
        },
        orderBy: [{ queuedAt: 'desc' }, { id: 'desc' }],
        ...pageArgs(input),
      });
      return toPage(rows.map(publicJob), input.limit);
    }),

  cancel: userProcedure.input(z.object({ jobId: z.uuid() })).mutation(async ({ ctx, input }) => {
    const job = await readableJob(ctx, input.jobId, 'editor');
    const now = new Date();
    // Two guarded updates: whichever matches the job's current state wins, so a racing claim cannot be overwritten.
    await ctx.db.job.updateMany({
      where: { id: job.id, status: 'queued' },
      data: { status: 'cancelled', cancelRequested: true, finishedAt: now },
    });
    await ctx.db.job.updateMany({
      where: { id: job.id, status: 'running' },
      data: { cancelRequested: true },
    });
    const saved = await ctx.db.job.findUniqueOrThrow({ where: { id: job.id } });
    publish(ctx.bus, saved);
    return publicJob(saved);
  }),

  onUpdate: userProcedure
    .input(z.object({ teamId: z.uuid(), jobId: z.uuid().optional() }))
    .subscription(async function* ({ ctx, input, signal }) {
      await requireRole(ctx, input.teamId, 'viewer');
      // One instance job (an index of a shared dictionary) is followed on the instance channel.
      const teamId = input.jobId ? (await readableJob(ctx, input.jobId, 'viewer')).teamId : input.teamId;
      for await (const job of ctx.bus.listen<Job>(jobChannel(teamId), signal)) {
        if (!input.jobId || job.id === input.jobId) yield job;
      }
    }),

  claim: workerProcedure
    .input(
      z.object({
        workerId: z.string().min(1).max(200),
        kinds: z.array(z.string().min(1).max(100)).min(1).max(50),
        leaseMs: z.number().int().min(1000).max(3_600_000),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      checkClaimKinds(input.kinds, ctx.workerKinds);
      const now = new Date();
      const ts = sqlTs(now);
      const { claimed, swept, paths } = await ctx.db.$transaction(async (tx) => {
        // Expired leases that must not run again end here: cancelled if asked, failed when out of attempts.
        const swept = await tx.$queryRaw<{ id: string }[]>`
          UPDATE "Job" SET
            status = CASE WHEN "cancelRequested" THEN 'cancelled' ELSE 'failed' END,
            error = CASE WHEN "cancelRequested" THEN error ELSE 'lease expired on the last attempt (worker lost)' END,
            "finishedAt" = ${ts}::timestamp, "leaseToken" = NULL, version = version + 1
          WHERE status = 'running' AND "leaseExpiresAt" < ${ts}::timestamp
            AND ("cancelRequested" OR attempts >= "maxAttempts")
          RETURNING id`;
        // A queued job of a kind this server no longer knows could never run: it fails now, saying why.
        const orphaned = await tx.$queryRaw<{ id: string }[]>`
          UPDATE "Job" SET status = 'failed', error = 'unknown job kind ' || kind || '; no worker can run it',
            "finishedAt" = ${ts}::timestamp, version = version + 1
          WHERE status = 'queued' AND kind NOT IN (${Prisma.join(jobKinds)})
          RETURNING id`;
        swept.push(...orphaned);
        const picked = await tx.$queryRaw<{ id: string }[]>`
          SELECT id FROM "Job"
          WHERE kind IN (${Prisma.join(input.kinds)}) AND NOT "cancelRequested"
            AND ((status = 'queued' AND "runAt" <= ${ts}::timestamp)
              OR (status = 'running' AND "leaseExpiresAt" < ${ts}::timestamp))
          ORDER BY priority DESC, "runAt" ASC, "queuedAt" ASC
          LIMIT 1
          FOR UPDATE SKIP LOCKED`;
        if (picked.length === 0) return { claimed: null, swept, paths: {} };
        const job = await tx.job.findUniqueOrThrow({ where: { id: picked[0].id } });
        // A catalogue record deleted since the job was queued fails it here, for good.
        let paths: JobPaths;
        try {
          paths = await resolveJobPaths(tx, job, ctx.dataDir);
        } catch (err) {
          if (!(err instanceof TRPCError)) throw err;
          await tx.job.update({
            where: { id: job.id },
            data: { status: 'failed', error: err.message, finishedAt: now, version: { increment: 1 } },
          });
          return { claimed: null, swept: [...swept, { id: job.id }], paths: {} };
        }
        const leaseToken = randomUUID();
        const claimed = await tx.job.update({
          where: { id: picked[0].id },
          data: {
            status: 'running',
            attempts: { increment: 1 },
            leaseToken,
            leaseExpiresAt: new Date(now.getTime() + input.leaseMs),
            workerId: input.workerId,
            startedAt: now,
            version: { increment: 1 },
          },
        });
        return { claimed, swept, paths };
      });
      for (const s of swept) {
        const row = await ctx.db.job.findUnique({ where: { id: s.id } });
        if (row) publish(ctx.bus, row);
      }
      if (!claimed) return null;
      publish(ctx.bus, claimed);
      return {
        ...publicJob(claimed),
        leaseToken: claimed.leaseToken as string,
        leaseExpiresAt: claimed.leaseExpiresAt as Date,
        paths,
      };
    }),

  heartbeat: workerProcedure
    .input(
      z.object({
        ...lease,
        leaseMs: z.number().int().min(1000).max(3_600_000).default(30_000),
        progress: z.object({ percent: z.number().min(0).max(100), message: z.string().max(1000) }).optional(),
        logs: z.array(z.string()).max(1000).optional(),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      const saved = await ctx.db.$transaction(async (tx) => {
        const job = await tx.job.findFirst({
          where: { id: input.jobId, leaseToken: input.leaseToken, status: 'running' },
        });
        if (!job) throw leaseLost();
        const logs = input.logs?.length
          ? [
              ...(job.logs as string[]),
              ...input.logs.flatMap((l) => {
                const kept = withoutStack(l);
                return kept ? [kept.slice(0, maxLogLineChars)] : [];
              }),
            ].slice(-maxLogLines)
          : undefined;
        const { count } = await tx.job.updateMany({
          where: { id: job.id, leaseToken: input.leaseToken, status: 'running' },
          data: {
            leaseExpiresAt: new Date(Date.now() + input.leaseMs),
            ...(input.progress
              ? { progressPercent: input.progress.percent, progressMessage: input.progress.message }
              : {}),
            ...(logs ? { logs } : {}),
            version: { increment: 1 },
          },
        });
        if (count === 0) throw leaseLost();
        return tx.job.findUniqueOrThrow({ where: { id: job.id } });
      });
      publish(ctx.bus, saved);
      return { cancelRequested: saved.cancelRequested, leaseExpiresAt: saved.leaseExpiresAt as Date };
    }),

  complete: workerProcedure
    .input(
      z.object({
        ...lease,
        result: z.unknown(),
        graph: z
          .object({ prompt: z.string().max(20_000), slug: z.string().max(200).optional(), graph: graphJson })
          .optional(),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      const { saved, linked } = await ctx.db.$transaction(
        async (tx) => {
          // Lock the row: of two completions racing on one lease, the second sees the finished state.
          const locked = await tx.$queryRaw<{ id: string }[]>`
            SELECT id FROM "Job" WHERE id = ${input.jobId} AND "leaseToken" = ${input.leaseToken}
              AND status = 'running' FOR UPDATE`;
          if (locked.length === 0) throw leaseLost();
          const job = await tx.job.findUniqueOrThrow({ where: { id: input.jobId } });
          // Cancellation asked for while the job ran wins over its result: a cancelled job never succeeds.
          if (job.cancelRequested) {
            const saved = await tx.job.update({
              where: { id: job.id },
              data: {
                status: 'cancelled',
                finishedAt: new Date(),
                leaseToken: null,
                version: { increment: 1 },
              },
            });
            return { saved, linked: [] };
          }
          let result = (input.result ?? null) as Prisma.InputJsonValue | null;
          let linked: { id: string; version: number }[] = [];
          const teamId = job.teamId;
          if (input.graph) {
            if (teamId === null)
              throw new TRPCError({ code: 'BAD_REQUEST', message: 'an instance job cannot store a graph' });
            const params = job.params as { modelId?: unknown; dictionaryId?: unknown };
            const g = await storeGraph(
              tx,
              {
                teamId,
                prompt: input.graph.prompt,
                slug: input.graph.slug ?? null,
                jobId: job.id,
                modelId: typeof params.modelId === 'string' ? params.modelId : null,
                dictionaryId: typeof params.dictionaryId === 'string' ? params.dictionaryId : null,
              },
              input.graph.graph,
            );
            result = { ...(isObject(result) ? result : { value: result }), graphId: g.id };
            if (job.kind === 'attribute') linked = await linkTracedGraph(tx, { id: job.id, teamId }, g.id);
          }
          if (job.kind === 'train-dictionary' && teamId !== null) {
            const dictionaryId = await registerTrainedDictionary(
              tx,
              { id: job.id, teamId, params: job.params as JobParams<'train-dictionary'> },
              ctx.dataDir,
            );
            result = { ...(isObject(result) ? result : { value: result }), dictionaryId };
          }
          const text = JSON.stringify(result);
          // Instance jobs have no team to own a blob; their results (index summaries) are small.
          const big = teamId !== null && text !== undefined && text.length > inlineResultBytes;
          const resultBlobId = big ? await putJsonBlob(tx, teamId, result) : null;
          const { count } = await tx.job.updateMany({
            where: { id: job.id, leaseToken: input.leaseToken, status: 'running' },
            data: {
              status: 'succeeded',
              result: big || result === null ? Prisma.JsonNull : result,
              resultBlobId,
              finishedAt: new Date(),
              leaseToken: null,
              progressPercent: 100,
              version: { increment: 1 },
            },
          });
          if (count === 0) throw leaseLost();
          return { saved: await tx.job.findUniqueOrThrow({ where: { id: job.id } }), linked };
        },
        { timeout: 120_000 },
      );
      publish(ctx.bus, saved);
      for (const inv of linked) {
        announce(ctx.bus, inv.id, {
          entityType: 'investigation',
          entityId: inv.id,
          action: 'trace',
          actorId: null,
          version: inv.version,
        });
      }
      return { ok: true as const, status: saved.status as 'succeeded' | 'cancelled' };
    }),

  fail: workerProcedure
    .input(z.object({ ...lease, error: z.string().min(1).max(20_000), retryable: z.boolean() }))
    .mutation(async ({ ctx, input }) => {
      const saved = await ctx.db.$transaction(async (tx) => {
        const job = await tx.job.findFirst({
          where: { id: input.jobId, leaseToken: input.leaseToken, status: 'running' },
        });
        if (!job) throw leaseLost();
        const retry = input.retryable && !job.cancelRequested && job.attempts < job.maxAttempts;
        const now = Date.now();
        const { count } = await tx.job.updateMany({
          where: { id: job.id, leaseToken: input.leaseToken, status: 'running' },
          data: retry
            ? {
                status: 'queued',
                runAt: new Date(now + backoffMs(job.attempts)),
                leaseToken: null,
                error: withoutStack(input.error),
                version: { increment: 1 },
              }
            : {
                status: 'failed',
                finishedAt: new Date(now),
                leaseToken: null,
                error: withoutStack(input.error),
                version: { increment: 1 },
              },
        });
        if (count === 0) throw leaseLost();
        return tx.job.findUniqueOrThrow({ where: { id: job.id } });
      });
      publish(ctx.bus, saved);
      return { status: saved.status as 'queued' | 'failed', runAt: saved.runAt };
    }),

  /**
   * A worker that shuts down gracefully hands its running job back: queued to run at once, and the attempt its
   * claim counted is taken back, since the job itself did not fail. A job whose cancellation was requested ends
   * cancelled instead.
   */
  release: workerProcedure.input(z.object(lease)).mutation(async ({ ctx, input }) => {
    const saved = await ctx.db.$transaction(async (tx) => {
      const job = await tx.job.findFirst({
        where: { id: input.jobId, leaseToken: input.leaseToken, status: 'running' },
      });
      if (!job) throw leaseLost();
      const now = new Date();
      const { count } = await tx.job.updateMany({
        where: { id: job.id, leaseToken: input.leaseToken, status: 'running' },
        data: job.cancelRequested
          ? { status: 'cancelled', finishedAt: now, leaseToken: null, version: { increment: 1 } }
          : {
              status: 'queued',
              runAt: now,
              attempts: { decrement: 1 },
              leaseToken: null,
              leaseExpiresAt: null,
              workerId: null,
              version: { increment: 1 },
            },
      });
      if (count === 0) throw leaseLost();
      return tx.job.findUniqueOrThrow({ where: { id: job.id } });
    });
    publish(ctx.bus, saved);
    return { status: saved.status as 'queued' | 'cancelled' };
  }),

  ackCancel: workerProcedure.input(z.object(lease)).mutation(async ({ ctx, input }) => {
    const { count } = await ctx.db.job.updateMany({
      where: { id: input.jobId, leaseToken: input.leaseToken, status: 'running', cancelRequested: true },
      data: { status: 'cancelled', finishedAt: new Date(), leaseToken: null, version: { increment: 1 } },
    });
    if (count === 0) {
      const job = await ctx.db.job.findUnique({ where: { id: input.jobId } });
      if (job?.leaseToken === input.leaseToken && job.status === 'running') {
        throw new TRPCError({ code: 'BAD_REQUEST', message: 'cancellation was not requested for this job' });
      }
      throw leaseLost();
    }
    const saved = await ctx.db.job.findUniqueOrThrow({ where: { id: input.jobId } });
    publish(ctx.bus, saved);
    return { ok: true as const };
  }),
});

/**
 * A claim names only kinds of the job contract (BAD_REQUEST otherwise: it could never be given one) and only
 * kinds its worker token was provisioned for (FORBIDDEN otherwise).
 */
function checkClaimKinds(kinds: string[], allowed: string[] | null): void {
  const unknown = kinds.filter((k) => !isJobKind(k));
  if (unknown.length > 0) {
    throw new TRPCError({
      code: 'BAD_REQUEST',
      message: `unknown job kind(s) ${unknown.join(', ')}; known: ${jobKinds.join(', ')}`,
    });
  }
  const refused = allowed ? kinds.filter((k) => !allowed.includes(k)) : [];
  if (refused.length > 0) {
    throw new TRPCError({
      code: 'FORBIDDEN',
      message: `this worker token may claim only ${allowed?.join(', ')}, not ${refused.join(', ')}`,
    });
  }
}

function isObject(v: unknown): v is Record<string, Prisma.InputJsonValue> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
