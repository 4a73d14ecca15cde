'use client';

import { useQuery } from '@tanstack/react-query';
import { useEffect } from 'react';
import { useTRPC } from '@/trpc/client';
import { ErrorBox, Progress } from './status';

const activeStates = new Set(['queued', 'running']);

/**
 * Live progress of a job: polled once a second while it is queued or running (a poll survives proxies and
 * reconnects that an event stream may not). Calls `onSucceeded` once when it has finished well.
 */
export function JobProgress({ jobId, onSucceeded }: { jobId: string; onSucceeded?: () => void }) {
  const trpc = useTRPC();
  const job = useQuery(
    trpc.jobs.get.queryOptions(
      { jobId },
      {
        refetchInterval: (q) => (q.state.data && !activeStates.has(q.state.data.status) ? false : 1_000),
        staleTime: 0,
      },
    ),
  );
  const status = job.data?.status;
  useEffect(() => {
    if (status === 'succeeded') onSucceeded?.();
  }, [status, onSucceeded]);
  if (job.isError) return <ErrorBox error={job.error} retry={() => job.refetch()} />;
  if (!job.data) return <Progress label="Starting the job" />;
  const j = job.data;
  if (j.status === 'failed')
    return <ErrorBox error={new Error(`The job failed: ${j.error ?? 'no reason given'}`)} />;
  if (j.status === 'cancelled') return <ErrorBox error={new Error('The job was cancelled.')} />;
  if (j.status === 'queued')
    return (
      <Progress
        label={j.error ? `Queued for a retry after: ${j.error}` : 'Queued: waiting for a worker'}
        percent={null}
      />
    );
  if (j.status === 'running')
    return <Progress label={j.progress?.message || 'Running'} percent={j.progress?.percent ?? null} />;
  return <Progress label="Done" percent={100} />;
}
