'use client';

import { keepPreviousData, useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { parseAsString, useQueryState } from 'nuqs';
import { useMemo } from 'react';
import { useTRPC } from '@/trpc/client';
import { NewInvestigation } from './new-investigation';
import { OpenGraph } from './open-graph';
import { Ago, ErrorBox, Progress, ReadOnlyBadge } from './status';
import { useTeam } from './team-shell';
import { DataTable } from './data-table';

/** The team's investigations (searchable, filterable by model, newest activity first) and what changed lately. */
export function InvestigationsHome() {
  const team = useTeam();
  const trpc = useTRPC();
  const [text, setText] = useQueryState('q', parseAsString.withDefault(''));
  const [modelId, setModelId] = useQueryState('model', parseAsString.withDefault(''));
  const catalog = useQuery(trpc.catalog.list.queryOptions({ teamId: team.id }));
  const modelName = useMemo(
    () => new Map((catalog.data?.models ?? []).map((m) => [m.id, m.name])),
    [catalog.data],
  );
  const list = useQuery(
    trpc.investigations.list.queryOptions(
      { teamId: team.id, text: text.trim() || undefined, modelId: modelId || undefined },
      { placeholderData: keepPreviousData },
    ),
  );
  const editor = team.role !== 'viewer';
  return (
    <div className="page">
      <div className="row">
        <h1>Investigations</h1>
        {team.readOnly ? <ReadOnlyBadge /> : null}
        <span className="spacer" />
        {editor ? <NewInvestigation /> : null}
      </div>
      {editor ? <OpenGraph /> : null}
      {team.readOnly ? (
        <p className="muted small">
          The case studies, rebuilt on the shipped organisms: open one to see its graph, supernodes, notes and
          interventions. Every user can read them; nobody can change them.
        </p>
      ) : null}
      <div className="row wrap">
        <input
          type="search"
          aria-label="Search investigations"
          placeholder="Search title and prompt"
          value={text}
          onChange={(e) => void setText(e.target.value || null)}
          className="spacer"
        />
        <select
          aria-label="Filter by model"
          value={modelId}
          onChange={(e) => void setModelId(e.target.value || null)}
        >
          <option value="">All models</option>
          {catalog.data?.models.map((m) => (
            <option key={m.id} value={m.id}>
              {m.name}
            </option>
          ))}
        </select>
      </div>
      <div style={{ display: 'grid', gridTemplateColumns: 'minmax(0, 1fr) 300px', gap: 14 }}>
        <section className="panel" aria-label="Investigation list">
          {list.isPending ? (
            <div className="body">
              <Progress label="Loading investigations" />
            </div>
          ) : list.isError ? (
            <div className="body">
              <ErrorBox error={list.error} retry={() => list.refetch()} />
            </div>
          ) : list.data.items.length === 0 ? (
            <p className="body muted">
              {text || modelId
                ? 'No investigation matches.'
                : 'No investigations yet. Start one with "New investigation" or open a graph JSON file.'}
            </p>
          ) : (
            <DataTable columns={['Title', 'Prompt', 'Model', 'Updated']}>
              {list.data.items.map((inv) => (
                <tr key={inv.id}>
                  <td>
                    <Link href={`/t/${team.id}/i/${inv.id}`}>{inv.title}</Link>
                  </td>
                  <td
                    className="mono"
                    style={{ maxWidth: 260, overflow: 'hidden', textOverflow: 'ellipsis' }}
                  >
                    {inv.prompt}
                  </td>
                  <td>{(inv.modelId && modelName.get(inv.modelId)) || '—'}</td>
                  <td>
                    <Ago at={inv.updatedAt} />
                    {inv.updatedBy ? <span className="muted"> by {inv.updatedBy.name}</span> : null}
                  </td>
                </tr>
              ))}
            </DataTable>
          )}
        </section>
        <Activity />
      </div>
    </div>
  );
}

const verbs: Record<string, string> = {
  create: 'created',
  update: 'changed',
  delete: 'deleted',
  restore: 'restored',
  trace: 'finished tracing the graph of',
  seed: 'loaded the example',
};

interface HistoryItem {
  id: string;
  actorId: string | null;
  entityId: string;
  action: string;
}

/** Consecutive entries of one person doing the same to the same thing read as one line with a count. */
function runs<T extends HistoryItem>(items: T[]): { entry: T; count: number }[] {
  const out: { entry: T; count: number }[] = [];
  for (const h of items) {
    const last = out.at(-1);
    if (
      last &&
      last.entry.actorId === h.actorId &&
      last.entry.entityId === h.entityId &&
      last.entry.action === h.action
    )
      last.count++;
    else out.push({ entry: h, count: 1 });
  }
  return out;
}

/** Who changed what and when, across the team, newest first. */
function Activity() {
  const team = useTeam();
  const trpc = useTRPC();
  const history = useQuery(trpc.teams.history.queryOptions({ teamId: team.id, limit: 20 }));
  const members = useQuery(trpc.teams.members.queryOptions({ teamId: team.id }));
  const names = new Map((members.data ?? []).map((m) => [m.userId, m.name]));
  return (
    <section className="panel" aria-labelledby="activity-h">
      <header id="activity-h">Recent activity</header>
      <div className="body stack small">
        {history.isPending ? <Progress label="Loading activity" /> : null}
        {history.isError ? <ErrorBox error={history.error} retry={() => history.refetch()} /> : null}
        {history.data?.items.length === 0 ? <span className="muted">Nothing yet.</span> : null}
        {runs(history.data?.items ?? []).map(({ entry: h, count }) => {
          const snap = h.snapshot as { title?: string; label?: string } | null;
          const what = snap?.title ?? snap?.label ?? h.entityType;
          const verb = verbs[h.action.split(':')[0]] ?? h.action;
          const link = h.entityType === 'investigation' && h.action !== 'delete';
          return (
            <div key={h.id}>
              <strong>
                {h.actorId
                  ? (names.get(h.actorId) ?? 'a former member')
                  : h.action.startsWith('seed:')
                    ? 'Loupe'
                    : 'the worker'}
              </strong>{' '}
              {verb} {h.entityType}{' '}
              {link ? <Link href={`/t/${team.id}/i/${h.entityId}`}>{what}</Link> : <em>{what}</em>}
              {count > 1 ? ` ${count}×` : ''}{' '}
              <span className="muted">
                <Ago at={h.createdAt} />
              </span>
            </div>
          );
        })}
      </div>
    </section>
  );
}
