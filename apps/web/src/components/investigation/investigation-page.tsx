'use client';

import { buildGraphView, type GraphView, type ViewInput } from '@loupe/core';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import dynamic from 'next/dynamic';
import Link from 'next/link';
import { type ReactNode, useCallback, useMemo } from 'react';
import { errorCode } from '@/lib/errors';
import { type Edit, type InvestigationDoc, useInvestigationDoc } from '@/lib/investigation-doc';
import { useTRPC } from '@/trpc/client';
import { ErrorBox, Progress } from '../status';
import { useTeam } from '../team-shell';
import { JobProgress } from '../trace-progress';

// Sigma touches WebGL globals when its module loads, so the explorer is loaded in the browser only.
const Explorer = dynamic(() => import('./explorer').then((m) => m.Explorer), {
  ssr: false,
  loading: () => <Progress label="Loading the graph explorer" />,
});

/** An investigation: its graph explorer once the graph exists, the trace's progress before. */
export function InvestigationPage({ id }: { id: string }) {
  const team = useTeam();
  const { query, edit, saving, notice, dismissNotice } = useInvestigationDoc(id);
  if (query.isPending)
    return (
      <Padded>
        <Progress label="Loading the investigation" />
      </Padded>
    );
  if (query.isError)
    return (
      <Padded>
        <ErrorBox
          error={
            errorCode(query.error) === 'NOT_FOUND'
              ? new Error('This investigation does not exist or was deleted.')
              : query.error
          }
          retry={() => query.refetch()}
        />
        <Link href={`/t/${team.id}`}>Back to the investigations</Link>
      </Padded>
    );
  const doc = query.data;
  return (
    <>
      {doc.graphId ? (
        <GraphLoader doc={doc} graphId={doc.graphId} edit={edit} saving={saving} />
      ) : (
        <PendingGraph doc={doc} />
      )}
      {notice ? (
        <div className="toast">
          <div role="alert" className={notice.kind === 'error' ? 'error row' : 'notice row'}>
            <span className="spacer">{notice.message}</span>
            <button type="button" onClick={dismissNotice}>
              Dismiss
            </button>
          </div>
        </div>
      ) : null}
    </>
  );
}

function Padded({ children }: { children: ReactNode }) {
  return <div className="page">{children}</div>;
}

function PendingGraph({ doc }: { doc: InvestigationDoc }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const reload = useCallback(
    () => queryClient.invalidateQueries({ queryKey: trpc.investigations.get.queryKey({ id: doc.id }) }),
    [queryClient, trpc, doc.id],
  );
  return (
    <Padded>
      <h1>{doc.title}</h1>
      <p className="mono">{doc.prompt}</p>
      {doc.traceJobId ? (
        <section className="panel">
          <header>Tracing the attribution graph</header>
          <div className="body">
            <JobProgress jobId={doc.traceJobId} onSucceeded={reload} />
          </div>
        </section>
      ) : (
        <p className="muted">This investigation has no graph yet.</p>
      )}
    </Padded>
  );
}

function GraphLoader({
  doc,
  graphId,
  edit,
  saving,
}: {
  doc: InvestigationDoc;
  graphId: string;
  edit: (change: Edit, what: string) => void;
  saving: boolean;
}) {
  const trpc = useTRPC();
  const payload = useQuery(
    trpc.graphs.payload.queryOptions(
      { graphId },
      { staleTime: Number.POSITIVE_INFINITY, refetchOnWindowFocus: false },
    ),
  );
  const built = useMemo((): { view: GraphView } | { error: unknown } | null => {
    if (!payload.data) return null;
    try {
      return { view: buildGraphView(payload.data.graph as unknown as ViewInput) };
    } catch (error) {
      return { error };
    }
  }, [payload.data]);
  if (payload.isError)
    return (
      <Padded>
        <ErrorBox error={payload.error} retry={() => payload.refetch()} />
      </Padded>
    );
  if (!built)
    return (
      <Padded>
        <Progress label="Loading the graph" />
      </Padded>
    );
  if ('error' in built)
    return (
      <Padded>
        <ErrorBox error={built.error} />
      </Padded>
    );
  return <Explorer doc={doc} view={built.view} edit={edit} saving={saving} />;
}
