'use client';

import type { AppRouter } from '@loupe/api';
import { buildGraphView, nodeTitle, pruneView, type ViewInput } from '@loupe/core';
import { useQuery } from '@tanstack/react-query';
import type { inferRouterOutputs } from '@trpc/server';
import { useMemo, useState } from 'react';
import { GraphCanvas } from '@/components/graph';
import { featureKeyOf } from '@/components/graph/feature-key';
import { CommentList, countByNode } from '../collab/comments';
import { InvestigationHeader } from '../investigation/header';
import { Ago, ErrorBox, Progress } from '../status';
import type { ShareClient } from './shared-investigation';

type Shared = inferRouterOutputs<AppRouter>['shares']['open'];

/**
 * The shared investigation read-only: the graph at its saved thresholds with its pins, supernodes and labels,
 * the selected node's labels and thread, the investigation's comments and experiments. No control writes.
 */
export function SharedViewer({
  token,
  shared,
  client,
}: {
  token: string;
  shared: Shared;
  client: ShareClient;
}) {
  const inv = shared.investigation;
  const payload = useQuery({
    queryKey: ['share-graph', token],
    queryFn: () => client.shares.graphPayload.query({ token }),
    enabled: shared.graph !== null,
    staleTime: Number.POSITIVE_INFINITY,
    retry: false,
  });
  const view = useMemo(
    () => (payload.data ? buildGraphView(payload.data.graph as unknown as ViewInput) : null),
    [payload.data],
  );
  const pruning = useMemo(
    () =>
      view
        ? pruneView(view, {
            nodeThreshold: inv.thresholds.node ?? 0.8,
            edgeThreshold: inv.thresholds.edge ?? 0.98,
          })
        : null,
    [view, inv.thresholds.node, inv.thresholds.edge],
  );
  const featureKeys = useMemo(() => {
    if (!view) return [];
    const keys: { layer: number; featureIndex: number }[] = [];
    for (let i = 0; i < view.ids.length && keys.length < 1000; i++) {
      if (view.kinds[i] !== 'feature') continue;
      const key = featureKeyOf(view.ids[i]);
      if (key) keys.push(key);
    }
    return keys;
  }, [view]);
  const featureLabels = useQuery({
    queryKey: ['share-features', token, featureKeys.length],
    queryFn: () => client.shares.features.query({ token, keys: featureKeys }),
    enabled: featureKeys.length > 0,
    retry: false,
  });
  const [selectedId, setSelectedId] = useState<string | null>(null);
  const labels = useMemo(() => new Map(Object.entries(inv.nodeLabels)), [inv.nodeLabels]);
  const title = (id: string) => (view ? nodeTitle(view, view.index.get(id) ?? 0, labels.get(id)) : id);
  const selected = selectedId !== null && view ? (view.index.get(selectedId) ?? null) : null;
  const teamLabel = useMemo(() => {
    if (selected === null || !view || !featureLabels.data) return null;
    const key = featureKeyOf(view.ids[selected]);
    if (!key) return null;
    return (
      featureLabels.data.find((f) => f.layer === key.layer && f.featureIndex === key.featureIndex)?.label ??
      null
    );
  }, [selected, view, featureLabels.data]);
  const badges = useMemo(() => countByNode(shared.comments), [shared.comments]);
  const general = shared.comments.filter((c) => c.nodeId === null);
  const onNode = selectedId ? shared.comments.filter((c) => c.nodeId === selectedId) : [];

  return (
    <div className="inv" style={{ height: '100vh' }}>
      <InvestigationHeader title={inv.title} prompt={inv.prompt}>
        <span className="chip">Read-only shared view</span>
      </InvestigationHeader>
      <div className="inv-main">
        {shared.graph === null ? (
          <p className="muted" style={{ padding: 12 }}>
            This investigation has no graph yet.
          </p>
        ) : payload.isError ? (
          <ErrorBox error={payload.error} retry={() => payload.refetch()} />
        ) : !view || !pruning ? (
          <Progress label="Loading the graph" />
        ) : (
          <GraphCanvas
            view={view}
            pruning={pruning}
            selectedId={selectedId}
            pinnedIds={inv.pinnedNodes.filter((id) => view.index.has(id))}
            labels={labels}
            badges={badges}
            onSelect={setSelectedId}
          />
        )}
      </div>
      <aside className="inv-side">
        {selectedId && view && selected !== null ? (
          <section className="thread" aria-label="Selected node">
            <h2>{title(selectedId)}</h2>
            <dl className="small">
              <dt className="muted">Investigation label</dt>
              <dd>{labels.get(selectedId) ?? <span className="muted">none</span>}</dd>
              <dt className="muted">Feature label (team)</dt>
              <dd>{teamLabel || <span className="muted">none</span>}</dd>
              <dt className="muted">Auto label</dt>
              <dd>{view.clerps[selected] || <span className="muted">none</span>}</dd>
            </dl>
            <h3>Comments on this node</h3>
            <CommentList items={onNode} />
          </section>
        ) : (
          <p className="small muted" style={{ padding: '8px 10px' }}>
            Click a node to see its labels and comments.
          </p>
        )}
        {inv.supernodes.length > 0 ? (
          <section className="thread" aria-label="Supernodes">
            <h3>Supernodes</h3>
            <ul className="plain small">
              {inv.supernodes.map((s) => (
                <li key={s.id}>
                  <strong>{s.name}</strong>: {s.nodeIds.map(title).join(', ')}
                </li>
              ))}
            </ul>
          </section>
        ) : null}
        <section className="thread" aria-label="Comments">
          <h3>Comments on the investigation</h3>
          <CommentList items={general} />
        </section>
        <section className="thread" aria-label="Experiments">
          <h3>Experiments</h3>
          {shared.experiments.length === 0 ? (
            <p className="muted small">No experiments yet.</p>
          ) : (
            <ul className="plain small">
              {shared.experiments.map((e) => (
                <li key={e.id}>
                  <strong>{e.name}</strong> · <Ago at={e.createdAt} />
                </li>
              ))}
            </ul>
          )}
        </section>
      </aside>
    </div>
  );
}
