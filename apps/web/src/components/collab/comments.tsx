'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useId, useState } from 'react';
import { useTRPC } from '@/trpc/client';
import { Ago, ErrorBox, Loaded } from '../status';
import { useMemberNames } from './people';

export interface CommentItem {
  id: string;
  nodeId: string | null;
  authorId: string;
  body: string;
  createdAt: string;
}

/** The investigation's comments (all threads), shared by the panel and the node badges. */
export function useComments(investigationId: string) {
  const trpc = useTRPC();
  return useQuery(trpc.comments.list.queryOptions({ investigationId, limit: 100 }));
}

/** How many comments each node's thread holds. */
export function countByNode(items: readonly { nodeId: string | null }[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const c of items) if (c.nodeId) counts.set(c.nodeId, (counts.get(c.nodeId) ?? 0) + 1);
  return counts;
}

/** One thread's comments, oldest first; authors named when the reader may see the team's members. */
export function CommentList({
  items,
  names,
}: {
  items: readonly CommentItem[];
  names?: ReadonlyMap<string, string>;
}) {
  if (items.length === 0) return <p className="muted small">No comments yet.</p>;
  return (
    <ol aria-label="Thread">
      {items.map((c) => (
        <li key={c.id}>
          <div className="row small muted">
            <strong>{names?.get(c.authorId) ?? 'a team member'}</strong>
            <Ago at={c.createdAt} />
          </div>
          <div style={{ whiteSpace: 'pre-wrap' }}>{c.body}</div>
        </li>
      ))}
    </ol>
  );
}

/**
 * Region "Comments": the thread on the whole investigation or on one node (the selected one, or any node that
 * has comments), with a box to post into it. `thread` is the node id, or null for the investigation.
 */
export function CommentsPanel({
  teamId,
  investigationId,
  selectedId,
  title,
  canWrite,
  onSelect,
}: {
  teamId: string;
  investigationId: string;
  selectedId: string | null;
  title: (nodeId: string) => string;
  canWrite: boolean;
  onSelect: (nodeId: string) => void;
}) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const names = useMemberNames(teamId);
  const comments = useComments(investigationId);
  const [thread, setThread] = useState<string | null>(null);
  const [text, setText] = useState('');
  const boxId = useId();
  const counts = countByNode(comments.data?.items ?? []);
  const threads = [...new Set([...(selectedId ? [selectedId] : []), ...counts.keys()])];
  const current = thread !== null && threads.includes(thread) ? thread : null;
  const add = useMutation(
    trpc.comments.add.mutationOptions({
      onSuccess: () => setText(''),
      onSettled: () => queryClient.invalidateQueries({ queryKey: trpc.comments.list.queryKey() }),
    }),
  );
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (text.trim() === '') return;
    add.mutate({ investigationId, body: text.trim(), ...(current ? { nodeId: current } : {}) });
  };
  const shown = (comments.data?.items ?? []).filter((c) => c.nodeId === current);
  return (
    <section className="thread" aria-label="Comments">
      <div className="row">
        <select
          aria-label="Thread"
          className="spacer"
          value={current ?? ''}
          onChange={(e) => setThread(e.target.value || null)}
        >
          <option value="">Whole investigation</option>
          {threads.map((id) => (
            <option key={id} value={id}>
              Node {title(id)}
              {counts.get(id) ? ` (${counts.get(id)})` : ''}
            </option>
          ))}
        </select>
        {current ? (
          <button type="button" onClick={() => onSelect(current)} title="Select this node in the graph">
            Show
          </button>
        ) : null}
      </div>
      <Loaded query={comments} label="Loading comments">
        {() => <CommentList items={shown} names={names} />}
      </Loaded>
      {canWrite ? (
        <form className="stack" style={{ gap: 4 }} onSubmit={submit}>
          <label htmlFor={boxId} className="small muted">
            Comment {current ? `on node ${title(current)}` : 'on the investigation'}
          </label>
          <textarea
            id={boxId}
            aria-label="Comment"
            value={text}
            maxLength={20_000}
            onChange={(e) => setText(e.target.value)}
            onKeyDown={(e) => {
              // Ctrl/Cmd+Enter posts, as in most review tools; Enter alone is a new line.
              if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) submit(e);
            }}
          />
          <div className="row">
            <span className="spacer small muted">
              <kbd>Ctrl</kbd>+<kbd>Enter</kbd> posts
            </span>
            <button type="submit" disabled={add.isPending || text.trim() === ''}>
              Post
            </button>
          </div>
          {add.error ? <ErrorBox error={add.error} /> : null}
        </form>
      ) : null}
    </section>
  );
}
