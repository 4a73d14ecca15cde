'use client';

import type { FeatureExample, FeatureJson } from '@loupe/core';
import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { useMemo } from 'react';
import { useTRPC } from '@/trpc/client';
import { FeatureLabelForm } from '../investigation/feature-label';
import { Ago, ErrorBox, Loaded, Progress } from '../status';
import { useTeam } from '../team-shell';
import { DensityHistogram, LogitBars, show } from './charts';

export interface FeatureKey {
  dictionaryId: string;
  layer: number;
  featureIndex: number;
}

export function featureHref(teamId: string, k: FeatureKey): string {
  return `/t/${teamId}/features/${k.dictionaryId}/${k.layer}/${k.featureIndex}`;
}

/**
 * Everything known about one dictionary feature: the team's label and its edits, the auto label, the top
 * activating contexts, examples across activation quantiles, the density histogram and logit effects.
 * `compact` is the panel beside the graph (narrow, fewer examples); the feature page shows it whole.
 */
export function FeatureView({ feature: k, compact = false }: { feature: FeatureKey; compact?: boolean }) {
  const team = useTeam();
  const trpc = useTRPC();
  const data = useQuery(trpc.features.get.queryOptions({ teamId: team.id, ...k }));
  const width = compact ? 300 : 560;
  return (
    <section className="feature" aria-label="Feature">
      <div className="row">
        <h2 className="spacer">
          Feature {k.featureIndex} · layer {k.layer}
        </h2>
        {compact ? (
          <Link href={featureHref(team.id, k)} className="small">
            Open page
          </Link>
        ) : null}
      </div>
      <Loaded query={data} label="Loading the feature">
        {(entry) => (
          <>
            {team.role !== 'viewer' ? (
              <FeatureLabelForm
                key={`${k.dictionaryId}:${k.layer}:${k.featureIndex}`}
                teamId={team.id}
                dictionaryId={k.dictionaryId}
                layer={k.layer}
                featureIndex={k.featureIndex}
                annotation={entry.annotation}
              />
            ) : (
              <p>
                <span className="muted small">Team label </span>
                {entry.annotation?.label || <span className="muted">none</span>}
              </p>
            )}
            <LabelHistory feature={k} compact={compact} />
            <p>
              <span className="muted small">Auto label </span>
              {entry.autoLabel ?? <span className="muted">none</span>}
            </p>
            {entry.feature ? (
              <FeatureIndexView json={entry.feature} compact={compact} width={width} />
            ) : (
              <MissingIndex dictionaryId={k.dictionaryId} />
            )}
            <Containing feature={k} />
          </>
        )}
      </Loaded>
    </section>
  );
}

/** What the index knows about the feature: contexts, quantile examples, histogram and logits. */
function FeatureIndexView({ json, compact, width }: { json: FeatureJson; compact: boolean; width: number }) {
  const [top, ...rest] = json.examples_quantiles;
  return (
    <>
      <p className="small muted">
        fires on {(json.activation_frequency * 100).toPrecision(3)}% of tokens · max activation{' '}
        {json.act_max.toPrecision(3)}
      </p>
      <h3>Top activating contexts</h3>
      {top && top.examples.length > 0 ? (
        <Examples examples={top.examples.slice(0, compact ? 5 : 20)} actMax={json.act_max} />
      ) : (
        <p className="muted small">No examples in the index.</p>
      )}
      <h3>Activation density</h3>
      <DensityHistogram
        histogram={json.histogram}
        actMax={json.act_max}
        quantiles={json.quantile_values}
        width={width}
      />
      <h3>Logit effects</h3>
      <LogitBars logits={json} width={width} />
      {rest.length > 0 ? (
        <>
          <h3>Examples across activation quantiles</h3>
          {rest.map((q) => (
            <details key={q.quantile_name} open={!compact}>
              <summary className="small">
                {q.quantile_name} ({q.examples.length})
              </summary>
              <Examples examples={q.examples.slice(0, compact ? 3 : 8)} actMax={json.act_max} />
            </details>
          ))}
        </>
      ) : null}
    </>
  );
}

/** The team's investigations whose graph holds the feature, each opening on its most influential node. */
function Containing({ feature: k }: { feature: FeatureKey }) {
  const team = useTeam();
  const trpc = useTRPC();
  const found = useQuery(trpc.features.investigations.queryOptions({ teamId: team.id, ...k }));
  return (
    <>
      <h3>In investigations</h3>
      <Loaded query={found} label="Finding the investigations">
        {(investigations) =>
          investigations.length === 0 ? (
            <p className="muted small">No investigation's graph holds this feature.</p>
          ) : (
            <ul className="plain small" aria-label="Investigations with this feature">
              {investigations.map((inv) => (
                <li key={inv.id}>
                  <Link href={`/t/${team.id}/i/${inv.id}?node=${encodeURIComponent(inv.nodeId)}`}>
                    {inv.title}
                  </Link>{' '}
                  <span className="mono muted">{inv.prompt}</span>{' '}
                  <span className="muted">
                    · {inv.positions} position{inv.positions === 1 ? '' : 's'} · <Ago at={inv.updatedAt} />
                  </span>
                </li>
              ))}
            </ul>
          )
        }
      </Loaded>
    </>
  );
}

/** Each example as its tokens, shaded by the feature's activation on them relative to its maximum. */
function Examples({ examples, actMax }: { examples: readonly FeatureExample[]; actMax: number }) {
  return (
    <ol className="examples">
      {examples.map((ex, i) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: examples are a fixed list from the index
        <li key={i} className="mono">
          {ex.tokens.map((t, j) => {
            const a = ex.tokens_acts_list[j] ?? 0;
            const alpha = actMax > 0 ? Math.max(0, Math.min(1, a / actMax)) : 0;
            return (
              <span
                // biome-ignore lint/suspicious/noArrayIndexKey: tokens repeat; their position is their identity
                key={j}
                className={wordLevel(ex.tokens) ? 'tok word' : 'tok'}
                title={`${JSON.stringify(t)}: ${a.toPrecision(3)}`}
                style={
                  alpha > 0 ? { background: `rgb(234 88 12 / ${(alpha * 0.85).toFixed(3)})` } : undefined
                }
              >
                {show(t)}
              </span>
            );
          })}
        </li>
      ))}
    </ol>
  );
}

/**
 * Tokens of a word-level vocabulary (the organisms') carry no spaces of their own, so they are set apart;
 * byte-level BPE and SentencePiece pieces carry theirs (' ', 'Ġ', '▁'), as core's joinTokens reads them.
 */
function wordLevel(tokens: readonly string[]): boolean {
  return !tokens.some((t) => /^[ Ġ▁]/.test(t));
}

/** The team label's edits, newest first: from the team's history, kept to this feature. */
function LabelHistory({ feature: k, compact }: { feature: FeatureKey; compact: boolean }) {
  const team = useTeam();
  const trpc = useTRPC();
  const history = useQuery(
    trpc.teams.history.queryOptions({ teamId: team.id, entityType: 'feature', limit: 100 }),
  );
  const members = useQuery(trpc.teams.members.queryOptions({ teamId: team.id }));
  const names = useMemo(() => new Map((members.data ?? []).map((m) => [m.userId, m.name])), [members.data]);
  const edits = (history.data?.items ?? []).filter((h) => {
    const s = h.snapshot as { dictionaryId?: string; layer?: number; featureIndex?: number } | null;
    return s?.dictionaryId === k.dictionaryId && s.layer === k.layer && s.featureIndex === k.featureIndex;
  });
  if (history.isError) return <ErrorBox error={history.error} retry={() => history.refetch()} />;
  if (edits.length === 0) return null;
  return (
    <details open={!compact} className="small">
      <summary>Label history ({edits.length})</summary>
      <ul className="plain" aria-label="Label history">
        {edits.map((h) => (
          <li key={h.id}>
            “{(h.snapshot as { label?: string }).label || '(cleared)'}” —{' '}
            {(h.actorId && names.get(h.actorId)) ?? 'someone'}, <Ago at={h.createdAt} />
          </li>
        ))}
      </ul>
    </details>
  );
}

/** No index yet: where it comes from and how far the background job is. */
function MissingIndex({ dictionaryId }: { dictionaryId: string }) {
  const team = useTeam();
  const trpc = useTRPC();
  const catalog = useQuery(trpc.catalog.list.queryOptions({ teamId: team.id }, { refetchInterval: 3_000 }));
  const dict = catalog.data?.models.flatMap((m) => m.dictionaries).find((d) => d.id === dictionaryId);
  const state = dict?.featureIndex;
  if (state?.status === 'running' || state?.status === 'queued')
    return (
      <Progress
        label={`Building this dictionary's feature index in the background (${state.status})`}
        percent={state.percent}
      />
    );
  return (
    <div className="notice small" role="note">
      {state?.status === 'failed'
        ? 'Building the feature index failed; see the job in the team’s jobs. '
        : 'This dictionary has no feature index yet, so no contexts, histogram or logits. '}
      The server builds the index of every shipped dictionary in a background job when it starts (unless
      LOUPE_AUTO_INDEX=0); for a dictionary of your own, run an index-features job (
      <code>pnpm loupe index-features</code>).
    </div>
  );
}
