import type { AppRouter } from '@loupe/api';
import { jobPaths } from '@loupe/api/jobs';
import { createTRPCClient, httpBatchLink, TRPCClientError } from '@trpc/client';
import { z } from 'zod';
import { type ClaimedJob, LeaseLostError, type WorkerApi } from './api.ts';
import { PermanentJobError } from './registry.ts';
import { maxBatchCalls } from '@loupe/api/limits';

export type LoupeClient = ReturnType<typeof createTRPCClient<AppRouter>>;

/** requestTimeoutMs bounds every call, so an unresponsive server surfaces as an error instead of a hang. */
export function createLoupeClient(url: string, token: string, requestTimeoutMs = 60_000): LoupeClient {
  return createTRPCClient<AppRouter>({
    links: [
      httpBatchLink({
        url: `${url}/api/trpc`,
        maxItems: maxBatchCalls,
        headers: () => ({ authorization: `Bearer ${token}` }),
        fetch: (input, init) => {
          const timeout = AbortSignal.timeout(requestTimeoutMs);
          const signal = init?.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
          return fetch(input, { ...init, signal });
        },
      }),
    ],
  });
}

// The claim reply crosses a network boundary: check the fields the loop relies on rather than trusting the type.
const claimReply = z
  .object({
    id: z.string().min(1),
    kind: z.string().min(1),
    params: z.unknown(),
    attempts: z.number().int().min(1),
    leaseToken: z.string().min(1),
    paths: jobPaths,
  })
  .nullable();

/** CONFLICT is the server's "lease lost"; NOT_FOUND means the job itself is gone. Either way the work is no longer ours. */
function leaseLost(e: unknown): boolean {
  if (!(e instanceof TRPCClientError)) return false;
  const code = (e.data as { code?: unknown } | undefined)?.code;
  return code === 'CONFLICT' || code === 'NOT_FOUND';
}

async function guarded<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (e) {
    if (leaseLost(e)) throw new LeaseLostError(e instanceof Error ? e.message : String(e));
    throw e;
  }
}

/** The lease a call acts under: every job call after the claim names the job and the token it was claimed with. */
const lease = (req: { jobId: string; leaseToken: string }) => ({
  jobId: req.jobId,
  leaseToken: req.leaseToken,
});

/** WorkerApi over the web app's `jobs` worker procedures (packages/api/README.md). */
export function trpcWorkerApi(client: LoupeClient): WorkerApi {
  return {
    async claim(req): Promise<ClaimedJob | null> {
      const job = claimReply.parse(await client.jobs.claim.mutate(req));
      return (
        job && {
          id: job.id,
          kind: job.kind,
          params: job.params,
          attempt: job.attempts,
          leaseToken: job.leaseToken,
          paths: job.paths,
        }
      );
    },
    heartbeat: (req) =>
      guarded(async () => {
        const reply = await client.jobs.heartbeat.mutate({
          ...lease(req),
          leaseMs: req.leaseMs,
          progress: req.progress && { percent: req.progress.percent, message: req.progress.message ?? '' },
          logs: req.logs,
        });
        return { cancelRequested: reply.cancelRequested };
      }),
    complete: (req) =>
      guarded(async () => {
        await client.jobs.complete.mutate({
          ...lease(req),
          result: req.result,
          // Core's node interface lacks the index signature of the API's passthrough schema; plain copies have it.
          ...(req.graph
            ? {
                graph: {
                  ...req.graph,
                  graph: { ...req.graph.graph, nodes: req.graph.graph.nodes.map((n) => ({ ...n })) },
                },
              }
            : {}),
        });
      }),
    fail: (req) =>
      guarded(async () => {
        await client.jobs.fail.mutate({ ...lease(req), error: req.error, retryable: req.retryable });
      }),
    ackCancel: (req) =>
      guarded(async () => {
        await client.jobs.ackCancel.mutate(lease(req));
      }),
    release: (req) =>
      guarded(async () => {
        await client.jobs.release.mutate(lease(req));
      }),
    // Here NOT_FOUND names the dictionary, not the job: only CONFLICT means the lease is gone, and a refused
    // chunk or dictionary fails the job for good instead of being retried.
    async putFeatureIndex(req) {
      try {
        await client.dictionaries.putFeatureIndex.mutate(req);
      } catch (e) {
        const code =
          e instanceof TRPCClientError ? (e.data as { code?: unknown } | undefined)?.code : undefined;
        if (code === 'CONFLICT') throw new LeaseLostError((e as Error).message);
        if (code === 'BAD_REQUEST' || code === 'NOT_FOUND' || code === 'FORBIDDEN')
          throw new PermanentJobError(`loading the feature index: ${(e as Error).message}`);
        throw e;
      }
    },
  };
}
