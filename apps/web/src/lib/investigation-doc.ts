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

/**
 * Reads the one thing an edit changes (a node's label, say) as text, or null when unset: when another save
 * changed that same thing meanwhile, the edit is held back and both versions are shown.
 */
export type Touches = (doc: InvestigationDoc) => string | null;

export interface SaveNotice {
  kind: 'conflict' | 'error';
  message: string;
}

/** Two people changed the same thing: the saved version stands until this person keeps theirs instead. */
export interface Clash {
  what: string;
  theirs: string | null;
  mine: string | null;
  /** Who saved the version that stands. */
  byId: string | null;
  keepMine: () => void;
}

function applyEdit(doc: InvestigationDoc, edit: Edit): InvestigationDoc {
  return { ...doc, ...edit(doc) } as InvestigationDoc;
}

/**
 * An investigation with optimistic, ordered saves. Each edit shows at once and is written with the version it
 * was computed on; when someone else saved first (CONFLICT), the latest state is reloaded. An edit of another
 * thing is re-applied to it and written again, with a notice; an edit of the same thing (what `touches` reads
 * changed meanwhile) is held back as a clash that shows both versions until this person keeps theirs or the
 * other's. An edit that still cannot be saved is reported by name and the saved state reloaded, so nothing is
 * lost without a message.
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
  const [clash, setClash] = useState<Clash | null>(null);
  const editRef = useRef<(change: Edit, what: string, touches?: Touches) => void>(() => {});

  if (query.data && pending.current.length === 0) confirmed.current = query.data;

  const show = useCallback(() => {
    const base = confirmed.current;
    if (base) queryClient.setQueryData(queryKey, pending.current.reduce(applyEdit, base));
  }, [queryClient, queryKey]);

  const write = useCallback(
    async (edit: Edit, what: string, touches: Touches | undefined) => {
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
        if (touches && touches(fresh) !== touches(base)) {
          setClash({
            what,
            theirs: touches(fresh),
            mine: touches(applyEdit(base, edit)),
            byId: fresh.updatedById,
            keepMine: () => {
              setClash(null);
              editRef.current(edit, what);
            },
          });
          return;
        }
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
    (change: Edit, what: string, touches?: Touches) => {
      if (!confirmed.current) return;
      pending.current.push(change);
      show();
      setSaving(true);
      chain.current = chain.current.then(async () => {
        try {
          await write(change, what, touches);
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
  editRef.current = edit;

  // Others' saves arrive as change events: reload when idle, so this tab never writes on a stale version twice.
  // Comments and experiments are their own records: their lists reload, and the timeline with every change.
  // Changes made while the stream was down (it reconnected, or the server's bus did and says "missed") are
  // caught up by reloading everything.
  const reloadAll = useCallback(() => {
    void queryClient.invalidateQueries({ queryKey: trpc.comments.list.queryKey() });
    void queryClient.invalidateQueries({ queryKey: trpc.experiments.list.queryKey() });
    void queryClient.invalidateQueries({ queryKey: trpc.investigations.history.queryKey({ id }) });
    if (pending.current.length === 0) void queryClient.invalidateQueries({ queryKey });
  }, [queryClient, trpc, id, queryKey]);
  const streamStarts = useRef(0);
  useSubscription(
    trpc.investigations.onChange.subscriptionOptions(
      { id },
      {
        onStarted: () => {
          streamStarts.current += 1;
          if (streamStarts.current > 1) reloadAll();
        },
        onData: (e) => {
          if (e.action === 'missed') reloadAll();
          else if (e.entityType === 'comment')
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

  return {
    query,
    edit,
    saving,
    notice,
    dismissNotice: () => setNotice(null),
    clash,
    keepTheirs: () => setClash(null),
  };
}
