import type { Prisma } from '@loupe/db';
import { TRPCError } from '@trpc/server';
import { ZodError } from 'zod';
import { isJobKind, type JobKind, type JobParams, jobContract, jobKinds } from './contract.ts';
import { envCount } from '../rate-limit.ts';
import { checkJobRefs } from './refs.ts';

/** Stored params stay small: they travel with every job read. */
const maxParamsChars = 1_000_000;

/**
 * `params` checked against the contract of `kind`, defaults filled in. An unknown kind or bad params is
 * BAD_REQUEST at once (with the zod issues), never a job that waits for a worker that cannot run it.
 */
export function validateJob(kind: string, params: unknown): { kind: JobKind; params: JobParams<JobKind> } {
  if (!isJobKind(kind)) {
    throw new TRPCError({
      code: 'BAD_REQUEST',
      message: `unknown job kind "${kind}"; known: ${jobKinds.join(', ')}`,
    });
  }
  const parsed = jobContract[kind].safeParse(params);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new TRPCError({
      code: 'BAD_REQUEST',
      message: `invalid params for "${kind}": ${problems.join('; ')}`,
      cause: new ZodError(parsed.error.issues.map((i) => ({ ...i, path: ['params', ...i.path] }))),
    });
  }
  if (JSON.stringify(parsed.data).length > maxParamsChars) {
    throw new TRPCError({ code: 'BAD_REQUEST', message: 'params exceed 1 MB of JSON' });
  }
  return { kind, params: parsed.data };
}

/** LOUPE_TEAM_QUEUE_LIMIT (default 100): jobs one team may have queued or running at once. */
export function teamQueueLimit(): number {
  return envCount('LOUPE_TEAM_QUEUE_LIMIT', 100);
}

/** The highest priority a team may give its jobs: above the instance's background work, never above a cap. */
export const maxTeamPriority = 100;

/**
 * Validates a job against the contract and its team's catalogue, then queues it. A team with
 * teamQueueLimit() jobs waiting or running is told to wait, so one team cannot fill the queue for all.
 */
export async function createJob(
  db: Pick<Prisma.TransactionClient, 'job' | 'model' | 'dictionary' | 'blob'>,
  job: {
    teamId: string | null;
    kind: string;
    params: unknown;
    priority?: number;
    maxAttempts?: number;
    createdById: string | null;
  },
) {
  const { kind, params } = validateJob(job.kind, job.params);
  if (job.teamId !== null) {
    const limit = teamQueueLimit();
    const waiting = await db.job.count({
      where: { teamId: job.teamId, status: { in: ['queued', 'running'] } },
    });
    if (waiting >= limit) {
      throw new TRPCError({
        code: 'TOO_MANY_REQUESTS',
        message: `this team already has ${waiting} jobs queued or running (limit ${limit}); wait for some to finish or cancel them`,
      });
    }
  }
  await checkJobRefs(db, job.teamId, kind, params);
  return db.job.create({
    data: {
      teamId: job.teamId,
      kind,
      params: params as Prisma.InputJsonValue,
      priority: job.priority ?? 0,
      maxAttempts: job.maxAttempts ?? 3,
      createdById: job.createdById,
    },
  });
}
