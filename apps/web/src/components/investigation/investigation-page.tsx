'use client';

import { buildGraphView, type ExplainableGraph, type GraphView, type ViewInput } from '@loupe/core';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import dynamic from 'next/dynamic';
import Link from 'next/link';
import { type ReactNode, useCallback, useMemo } from 'react';
import { errorCode } from '@/lib/errors';
import {
  type Clash,
  type Edit,
  type InvestigationDoc,
  type Touches,
  useInvestigationDoc,
} from '@/lib/investigation-doc';
import { useTRPC } from '@/trpc/client';
import { ErrorBox, Progress } from '../status';
import { useMemberNames } from '../collab/people';
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
  const { query, edit, saving, notice, dismissNotice, clash, keepTheirs } = useInvestigationDoc(id);
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
      {clash ? <ClashNotice clash={clash} keepTheirs={keepTheirs} /> : null}
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

/** Both versions of a thing two people changed at once; the saved one stands until this person keeps theirs. */
function ClashNotice({ clash, keepTheirs }: { clash: Clash; keepTheirs: () => void }) {
  const team = useTeam();
  const names = useMemberNames(team.id);
  const who = (clash.byId && names.get(clash.byId)) || 'Someone else';
  const shown = (v: string | null) => (v === null ? '(none)' : `“${v}”`);
  return (
    <div className="toast">
      <div role="alert" aria-label="Conflicting change" className="notice clash">
        <p>
          {who} changed the {clash.what} while you were editing it. Their version is saved; yours is kept here
          until you choose.
        </p>
        <dl>
          <dt>Theirs</dt>
          <dd>{shown(clash.theirs)}</dd>
          <dt>Yours</dt>
          <dd>{shown(clash.mine)}</dd>
        </dl>
        <div className="row">
          <span className="spacer" />
          <button type="button" onClick={keepTheirs}>
            Keep theirs
          </button>
          <button type="button" className="primary" onClick={clash.keepMine}>
            Keep mine
          </button>
        </div>
      </div>
    </div>
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
  edit: (change: Edit, what: string, touches?: Touches) => void;
  saving: boolean;
}) {
  const trpc = useTRPC();
  const payload = useQuery(
    trpc.graphs.payload.queryOptions(
      { graphId },
      { staleTime: Number.POSITIVE_INFINITY, refetchOnWindowFocus: false },
    ),
  );
  const built = useMemo((): { view: GraphView; graph: ExplainableGraph } | { error: unknown } | null => {
    if (!payload.data) return null;
    try {
      // The server validated the file as a graph JSON when it was stored.
      const graph = payload.data.graph as unknown as ViewInput & ExplainableGraph;
      return { view: buildGraphView(graph), graph };
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
  return <Explorer doc={doc} view={built.view} graph={built.graph} edit={edit} saving={saving} />;
}
