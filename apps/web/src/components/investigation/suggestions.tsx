'use client';

import type { ExplainableGraph } from '@loupe/core';
import { useQueries } from '@tanstack/react-query';
import { useEffect, useMemo, useState } from 'react';
import { useTRPC } from '@/trpc/client';
import { ErrorBox, Progress } from '../status';
import { useTeam } from '../team-shell';
import { featureKeyOf } from '../graph/feature-key';
import type { FirstPass, Suggestion } from './suggestions-model';
import type { FirstPassReply, FirstPassRequest } from './suggestions.worker';

/** features.getMany takes at most this many features a call. */
const labelBatch = 1000;

function percent(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

/** The team's labels of the graph's features, by "layer:index"; null until every batch has loaded. */
function useTeamLabels(graph: ExplainableGraph, dictionaryId: string | null): Map<string, string> | null {
  const trpc = useTRPC();
  const team = useTeam();
  const batches = useMemo(() => {
    const keys = new Map<string, { layer: number; featureIndex: number }>();
    for (const n of graph.nodes) {
      const k = featureKeyOf(n.node_id);
      if (k) keys.set(`${k.layer}:${k.featureIndex}`, k);
    }
    const all = [...keys.values()];
    return Array.from({ length: Math.ceil(all.length / labelBatch) }, (_, b) =>
      all.slice(b * labelBatch, (b + 1) * labelBatch),
    );
  }, [graph]);
  const results = useQueries({
    queries: dictionaryId
      ? batches.map((keys) => trpc.features.getMany.queryOptions({ teamId: team.id, dictionaryId, keys }))
      : [],
  });
  // Labels that cannot be read (a dictionary gone) leave the graph's own labels in place.
  const settled = results.every((r) => !r.isPending);
  const data = results.map((r) => r.data);
  // biome-ignore lint/correctness/useExhaustiveDependencies: the batches' data arrays are what change
  return useMemo(() => {
    if (!settled) return null;
    const labels = new Map<string, string>();
    for (const rows of data)
      for (const r of rows ?? []) if (r.label) labels.set(`${r.layer}:${r.featureIndex}`, r.label);
    return labels;
  }, [settled, ...data]);
}

type PassState = { pass: FirstPass } | { error: unknown } | null;

/**
 * The automatic first pass over the investigation's graph, once the team's feature labels are in, computed in a
 * worker so that the explorer stays responsive while a large graph is read.
 */
export function useFirstPass(graph: ExplainableGraph, dictionaryId: string | null): PassState {
  const teamLabels = useTeamLabels(graph, dictionaryId);
  const [state, setState] = useState<PassState>(null);
  useEffect(() => {
    if (teamLabels === null) return;
    const worker = new Worker(new URL('./suggestions.worker.ts', import.meta.url), { type: 'module' });
    worker.onmessage = (e: MessageEvent<FirstPassReply>) =>
      setState('pass' in e.data ? { pass: e.data.pass } : { error: new Error(e.data.error) });
    worker.onerror = (e) => setState({ error: new Error(`the first pass did not run: ${e.message}`) });
    const request: FirstPassRequest = { graph, labels: [...teamLabels] };
    worker.postMessage(request);
    return () => worker.terminate();
  }, [graph, teamLabels]);
  return state;
}

export interface SuggestionsPanelProps {
  state: PassState;
  reviewed: readonly string[];
  onAccept: (s: Suggestion) => void;
  onEdit: (s: Suggestion) => void;
  onDiscard: (s: Suggestion) => void;
  /** How many of the members the graph draws at the current thresholds (explain reads the stored graph). */
  shown: (members: readonly string[]) => number;
  /** The members of the suggestion pointed at or focused, or null when none is. */
  onHighlight: (members: readonly string[] | null) => void;
}

/**
 * Proposed supernodes to accept, edit or discard one by one, and the strongest token → logit paths as text.
 * A reviewed suggestion is saved on the investigation and not offered again, to anyone.
 */
export function SuggestionsPanel({
  state,
  reviewed,
  shown,
  onAccept,
  onEdit,
  onDiscard,
  onHighlight,
}: SuggestionsPanelProps) {
  const [open, setOpen] = useState(true);
  const done = useMemo(() => new Set(reviewed), [reviewed]);
  const pending = state && 'pass' in state ? state.pass.suggestions.filter((s) => !done.has(s.key)) : [];
  const review = (act: (s: Suggestion) => void, s: Suggestion) => {
    onHighlight(null);
    act(s);
  };
  return (
    <section className="suggestions" role="region" aria-label="Suggestions">
      <header className="row">
        <h3 className="spacer">Suggestions{state && 'pass' in state ? ` (${pending.length})` : ''}</h3>
        <button type="button" aria-expanded={open} onClick={() => setOpen(!open)}>
          {open ? 'Hide' : 'Show'}
        </button>
      </header>
      {!open ? null : state === null ? (
        <Progress label="Proposing supernodes" />
      ) : 'error' in state ? (
        <ErrorBox error={state.error} />
      ) : (
        <>
          <PathSummary pass={state.pass} />
          {pending.length === 0 ? (
            <p className="small muted">
              {state.pass.suggestions.length === 0
                ? 'No features of one position act alike enough to propose a supernode.'
                : 'Every proposed supernode has been reviewed.'}
            </p>
          ) : (
            <ul className="suggestion-list" aria-label="Proposed supernodes">
              {pending.map((s) => (
                <li
                  key={s.key}
                  data-suggestion={s.key}
                  onMouseEnter={() => onHighlight(s.members)}
                  onMouseLeave={() => onHighlight(null)}
                  onFocus={() => onHighlight(s.members)}
                  onBlur={(e) => {
                    if (!e.currentTarget.contains(e.relatedTarget as Node | null)) onHighlight(null);
                  }}
                >
                  <div className="suggestion-label">{s.label}</div>
                  <div className="small muted">
                    <span title="Features grouped in this supernode, and how many the graph draws at the current thresholds">
                      {s.members.length} features ({shown(s.members)} shown)
                    </span>{' '}
                    ·{' '}
                    <span title="Share of the top logit's influence that flows through at least one member">
                      influence {percent(s.influence)}
                    </span>{' '}
                    ·{' '}
                    <span title="Mean pairwise similarity of the members' edges and labels (0–1)">
                      cohesion {s.cohesion.toFixed(2)}
                    </span>
                  </div>
                  <div className="row">
                    <button type="button" className="primary" onClick={() => review(onAccept, s)}>
                      Accept
                    </button>
                    <button type="button" onClick={() => review(onEdit, s)}>
                      Edit
                    </button>
                    <button type="button" onClick={() => review(onDiscard, s)}>
                      Discard
                    </button>
                  </div>
                </li>
              ))}
            </ul>
          )}
        </>
      )}
    </section>
  );
}

/** What drives the top logit, and the strongest paths to it, as sentences. */
function PathSummary({ pass }: { pass: FirstPass }) {
  const { target, sources, paths } = pass.explanation;
  return (
    <div className="path-summary small">
      <p>
        {/* The logit's label carries its probability, as graph files write it. */}
        <strong>{target.label}</strong>: {percent(sources.tokens)} of its influence comes from the prompt's
        tokens, {percent(sources.errors)} from error nodes.
      </p>
      {paths.length > 0 ? (
        <ol aria-label="Strongest paths">
          {paths.slice(0, 3).map((p) => (
            <li key={p.steps.join('>')}>
              {p.labels.join(' → ')}{' '}
              <span className="muted" title="Product of the normalised |weights| along the path">
                (strength {p.strength.toPrecision(2)})
              </span>
            </li>
          ))}
        </ol>
      ) : null}
    </div>
  );
}
