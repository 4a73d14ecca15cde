'use client';

import type { AppRouter } from '@loupe/api';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useSubscription } from '@trpc/tanstack-react-query';
import type { inferRouterInputs, inferRouterOutputs } from '@trpc/server';
import { useCallback, useEffect, useRef, useState } from 'react';
import { useTRPC, useTRPCClient } from '@/trpc/client';
import { errorCode, errorMessage } from './errors';

export type InvestigationDoc = inferRouterOutputs<AppRouter>['investigations']['get'];
export type InvestigationPatch = inferRouterInputs<AppRouter>['investigations']['update']['patch'];
/** A change to the saved state, computed from whatever state it lands on (so it can be re-applied). */
export type Edit = (doc: InvestigationDoc) => InvestigationPatch;

export interface SaveNotice {
  kind: 'conflict' | 'error';
  message: string;
}

function applyEdit(doc: InvestigationDoc, edit: Edit): InvestigationDoc {
  return { ...doc, ...edit(doc) } as InvestigationDoc;
}

/**
 * An investigation with optimistic, ordered saves. Each edit shows at once and is written with the version it
 * was computed on; when someone else saved first (CONFLICT), the latest state is reloaded, the edit is
 * re-applied to it and written again, and a notice says so. An edit that still cannot be saved is reported by
 * name and the saved state reloaded, so nothing is lost without a message.
 */
export function useInvestigationDoc(id: string) {
  const trpc = useTRPC();
  const client = useTRPCClient();
  const queryClient = useQueryClient();
  const queryKey = trpc.investigations.get.queryKey({ id });
  const query = useQuery(
    trpc.investigations.get.queryOptions(
      { id },
      { staleTime: Number.POSITIVE_INFINITY, refetchOnWindowFocus: false },
    ),
  );
  const confirmed = useRef<InvestigationDoc | null>(null);
  const pending = useRef<Edit[]>([]);
  const chain = useRef<Promise<void>>(Promise.resolve());
  const [saving, setSaving] = useState(false);
  const [notice, setNotice] = useState<SaveNotice | null>(null);

  if (query.data && pending.current.length === 0) confirmed.current = query.data;

  const show = useCallback(() => {
    const base = confirmed.current;
    if (base) queryClient.setQueryData(queryKey, pending.current.reduce(applyEdit, base));
  }, [queryClient, queryKey]);

  const write = useCallback(
    async (edit: Edit, what: string) => {
      const base = confirmed.current as InvestigationDoc;
      try {
        confirmed.current = await client.investigations.update.mutate({
          id,
          version: base.version,
          patch: edit(base),
        });
      } catch (err) {
        if (errorCode(err) !== 'CONFLICT') throw err;
        const fresh = await client.investigations.get.query({ id });
        confirmed.current = fresh;
        confirmed.current = await client.investigations.update.mutate({
          id,
          version: fresh.version,
          patch: edit(fresh),
        });
        setNotice({
          kind: 'conflict',
          message: `Someone else changed this investigation meanwhile: their version was loaded and your change (${what}) re-applied on top.`,
        });
      }
    },
    [client, id],
  );

  const edit = useCallback(
    (change: Edit, what: string) => {
      if (!confirmed.current) return;
      pending.current.push(change);
      show();
      setSaving(true);
      chain.current = chain.current.then(async () => {
        try {
          await write(change, what);
        } catch (err) {
          setNotice({
            kind: 'error',
            message: `Could not save ${what}: ${errorMessage(err)}. Reloaded the saved state.`,
          });
          try {
            confirmed.current = await client.investigations.get.query({ id });
          } catch {
            // The reload itself failed (offline): keep the last confirmed state; the query shows the error.
          }
        } finally {
          pending.current.shift();
          show();
          if (pending.current.length === 0) setSaving(false);
        }
      });
    },
    [client, id, show, write],
  );

  // Others' saves arrive as change events: reload when idle, so this tab never writes on a stale version twice.
  // Comments and experiments are their own records: their lists reload, and the timeline with every change.
  useSubscription(
    trpc.investigations.onChange.subscriptionOptions(
      { id },
      {
        onData: (e) => {
          if (e.entityType === 'comment')
            void queryClient.invalidateQueries({ queryKey: trpc.comments.list.queryKey() });
          else if (e.entityType === 'experiment')
            void queryClient.invalidateQueries({ queryKey: trpc.experiments.list.queryKey() });
          else {
            void queryClient.invalidateQueries({ queryKey: trpc.investigations.history.queryKey({ id }) });
            if (pending.current.length === 0 && e.version > (confirmed.current?.version ?? 0))
              void queryClient.invalidateQueries({ queryKey });
          }
        },
      },
    ),
  );

  useEffect(() => {
    if (notice?.kind !== 'conflict') return;
    const t = setTimeout(() => setNotice(null), 8_000);
    return () => clearTimeout(t);
  }, [notice]);

  return { query, edit, saving, notice, dismissNotice: () => setNotice(null) };
}
