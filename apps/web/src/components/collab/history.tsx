'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useTRPC } from '@/trpc/client';
import { Ago, ErrorBox, Loaded } from '../status';
import { useMemberNames } from './people';

interface Snapshot {
  title?: string;
  pinnedNodes?: string[];
  supernodes?: unknown[];
  nodeLabels?: Record<string, string>;
}

/** What a snapshot holds, in a few words: enough to tell the entries apart. */
function summary(s: Snapshot | null): string {
  if (!s) return '';
  const labels = Object.keys(s.nodeLabels ?? {}).length;
  return `${s.pinnedNodes?.length ?? 0} pinned · ${s.supernodes?.length ?? 0} supernodes · ${labels} labels`;
}

function actionText(action: string): string {
  if (action.startsWith('restore:')) return `restored the state of #${action.slice('restore:'.length)}`;
  return action === 'create'
    ? 'created it'
    : action === 'trace'
      ? 'linked the traced graph'
      : `${action}d it`;
}

/**
 * Region "History": each saved change of the investigation (who, when, what it then held), newest first, with
 * a restore for editors. A restore is itself a change, so it can be undone the same way.
 */
export function HistoryPanel({
  teamId,
  investigationId,
  version,
  canWrite,
}: {
  teamId: string;
  investigationId: string;
  version: number;
  canWrite: boolean;
}) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const names = useMemberNames(teamId);
  const history = useQuery(trpc.investigations.history.queryOptions({ id: investigationId, limit: 100 }));
  const restore = useMutation(
    trpc.investigations.restore.mutationOptions({
      onSettled: () =>
        Promise.all([
          queryClient.invalidateQueries({
            queryKey: trpc.investigations.get.queryKey({ id: investigationId }),
          }),
          queryClient.invalidateQueries({ queryKey: trpc.investigations.history.queryKey() }),
        ]),
    }),
  );
  return (
    <section aria-label="History">
      <Loaded query={history} label="Loading the history">
        {(page) => (
          <ol className="timeline">
            {page.items.map((h, i) => (
              <li key={h.id}>
                <span className="mono small muted">#{h.seq}</span>
                <span className="spacer">
                  <strong>{h.actorId ? (names.get(h.actorId) ?? 'a former member') : 'Loupe'}</strong>{' '}
                  {actionText(h.action)} · <Ago at={h.createdAt} />
                  <br />
                  <span className="small muted">{summary(h.snapshot as Snapshot | null)}</span>
                </span>
                {canWrite && i > 0 && h.action !== 'delete' ? (
                  <button
                    type="button"
                    disabled={restore.isPending}
                    onClick={() => restore.mutate({ id: investigationId, historyId: h.id, version })}
                    title="Make the investigation hold this state again (recorded as a new change)"
                  >
                    Restore
                  </button>
                ) : null}
              </li>
            ))}
          </ol>
        )}
      </Loaded>
      {restore.error ? <ErrorBox error={restore.error} /> : null}
    </section>
  );
}
