import type { Prisma } from '@loupe/db';
import { z } from 'zod';
import { channels, type EventBus } from '../bus.ts';

export const jobStatus = z.enum(['queued', 'running', 'succeeded', 'failed', 'cancelled']);
export type JobStatus = z.infer<typeof jobStatus>;

type JobRow = Prisma.JobGetPayload<object>;

/** What users see of a job: never its lease, nor the files a worker is given at claim time. */
export function publicJob(j: JobRow) {
  return {
    id: j.id,
    /** null: an instance job (e.g. indexing a shipped dictionary), readable by every signed-in user. */
    teamId: j.teamId,
    kind: j.kind,
    params: j.params,
    priority: j.priority,
    status: j.status as JobStatus,
    attempts: j.attempts,
    maxAttempts: j.maxAttempts,
    runAt: j.runAt,
    workerId: j.workerId,
    cancelRequested: j.cancelRequested,
    progress:
      j.progressPercent === null ? null : { percent: j.progressPercent, message: j.progressMessage ?? '' },
    logs: j.logs as string[],
    result: j.result,
    hasResultBlob: j.resultBlobId !== null,
    error: j.error,
    queuedAt: j.queuedAt,
    startedAt: j.startedAt,
    finishedAt: j.finishedAt,
  };
}

export type Job = ReturnType<typeof publicJob>;

export function jobChannel(teamId: string | null): string {
  return teamId === null ? channels.instanceJobs : channels.teamJobs(teamId);
}

export function publish(bus: EventBus, job: JobRow): void {
  bus.emit(jobChannel(job.teamId), publicJob(job));
}
