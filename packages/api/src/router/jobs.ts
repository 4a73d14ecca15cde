/** The jobs API: users enqueue, read, follow and cancel jobs; workers claim and run them (see jobs/queue.ts). */
import type { PrismaClient } from '@loupe/db';
import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { requireRole } from '../access.ts';
import { getJsonBlob } from '../blob.ts';
import { graphJson } from '../graph-store.ts';
import { announce } from '../investigation-access.ts';
import { isJobKind, jobKinds } from '../jobs/contract.ts';
import { createJob, maxTeamPriority } from '../jobs/enqueue.ts';
import { type Job, jobChannel, jobStatus, publicJob, publish } from '../jobs/public.ts';
import {
  ackCancel,
  cancelJob,
  claimJob,
  completeJob,
  failJob,
  heartbeatJob,
  releaseJob,
} from '../jobs/queue.ts';
import { pageArgs, pageInput, toPage } from '../pagination.ts';
import { notFound, router, userProcedure, workerProcedure } from '../trpc.ts';

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
    const saved = await cancelJob(ctx.db, job.id);
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
      const { claimed, paths, ended } = await claimJob(ctx.db, { ...input, dataDir: ctx.dataDir });
      for (const row of ended) publish(ctx.bus, row);
      if (!claimed?.leaseToken || !claimed.leaseExpiresAt) return null;
      publish(ctx.bus, claimed);
      return {
        ...publicJob(claimed),
        leaseToken: claimed.leaseToken,
        leaseExpiresAt: claimed.leaseExpiresAt,
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
      const saved = await heartbeatJob(ctx.db, input, input);
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
      const { saved, linked } = await completeJob(ctx.db, input, input, ctx.dataDir);
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
      const saved = await failJob(ctx.db, input, input);
      publish(ctx.bus, saved);
      return { status: saved.status as 'queued' | 'failed', runAt: saved.runAt };
    }),

  /** A worker shutting down hands its running job back (see releaseJob). */
  release: workerProcedure.input(z.object(lease)).mutation(async ({ ctx, input }) => {
    const saved = await releaseJob(ctx.db, input);
    publish(ctx.bus, saved);
    return { status: saved.status as 'queued' | 'cancelled' };
  }),

  ackCancel: workerProcedure.input(z.object(lease)).mutation(async ({ ctx, input }) => {
    publish(ctx.bus, await ackCancel(ctx.db, input));
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
