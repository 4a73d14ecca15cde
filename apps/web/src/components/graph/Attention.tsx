'use client';

import { type GraphView, nodeTitle } from '@loupe/core';
import {
  type NodeQkEdge,
  type QkEdge,
  type QkSource,
  qkBars,
  qkEdgeAnchor,
  qkEdgeTitle,
  type QkRole,
} from './qk-edges';
import { formatNumber, signClass } from './colors';
import { featureKeyOf } from './feature-key';
import styles from './graph.module.css';

/** Query × key pairs shown per edge. */
const PAIRS_SHOWN = 8;
/** Query-side and key-side totals shown per edge. */
const MARGINALS_SHOWN = 4;

const ROLE_TEXT: Record<QkRole, string> = {
  into: 'carries into this node',
  query: 'this node is on the query side',
  key: 'this node is on the key side',
};

export interface SourceLinks {
  view: GraphView;
  labels?: ReadonlyMap<string, string> | null;
  onSelect: (id: string) => void;
  /** A feature's page, for features the graph does not hold; null when there is none (no dictionary). */
  featureHref?: ((nodeId: string) => string | null) | null;
}

/** A source's short name: the node's title when the graph holds it, else one read from its id. */
function sourceName(links: SourceLinks, s: QkSource | { kind: 'into'; node_id: string }): string {
  if (s.kind === 'constant' || s.node_id === undefined) return 'constants';
  const i = links.view.index.get(s.node_id);
  if (i !== undefined) return nodeTitle(links.view, i, links.labels?.get(s.node_id));
  const key = s.kind === 'feature' ? featureKeyOf(s.node_id) : null;
  return key ? `L${key.layer} #${key.featureIndex}` : s.node_id;
}

/**
 * A source: selects its node when the graph holds it, opens its feature page otherwise, else plain text. The
 * page link is a plain anchor: the graph components run outside Next too (the render harness).
 */
function Source({
  links,
  source,
}: {
  links: SourceLinks;
  /** 'into': the node an edge was ranked into, named by id only. */
  source: QkSource | { kind: 'into'; node_id: string };
}) {
  const name = sourceName(links, source);
  const id = source.node_id;
  if (id !== undefined && links.view.index.has(id))
    return (
      <button type="button" className={styles.qkSource} onClick={() => links.onSelect(id)} title={id}>
        {name}
      </button>
    );
  const href = id !== undefined && source.kind === 'feature' ? links.featureHref?.(id) : null;
  if (href)
    return (
      <a href={href} className={styles.qkSource} title={`${id}: pruned from this graph; open its page`}>
        {name}
      </a>
    );
  return (
    <span
      className={`${styles.qkSource} ${styles.muted}`}
      title={id ? `${id}: pruned from this graph` : undefined}
    >
      {name}
    </span>
  );
}

function Bar({ value, extent }: { value: number; extent: number }) {
  return (
    <span className={styles.qkBar} aria-hidden="true">
      <i className={styles[`${signClass(value)}Bar`]} style={{ width: `${(100 * extent).toFixed(1)}%` }} />
    </span>
  );
}

function Value({ value }: { value: number }) {
  return (
    <span className={styles[signClass(value)]}>
      {value >= 0 ? '+' : '−'}
      {formatNumber(Math.abs(value))}
    </span>
  );
}

/** One decomposed attention edge: its head and positions, its strongest query × key pairs as signed bars. */
function QkEdgeView({ links, edge, roles }: { links: SourceLinks; edge: QkEdge; roles: readonly QkRole[] }) {
  const title = qkEdgeTitle(links.view, edge);
  const bars = qkBars(edge, PAIRS_SHOWN);
  return (
    <article className={styles.qkEdge} aria-label={title}>
      <h5 className={styles.mono}>{title}</h5>
      <p className={styles.muted}>
        score {formatNumber(edge.score)} · pattern {formatNumber(edge.pattern)}
        {edge.into ? (
          <>
            {' '}
            · carries <Value value={edge.into.carried} /> into{' '}
            <Source links={links} source={{ kind: 'into', node_id: edge.into.node_id }} />
          </>
        ) : null}
        {roles.length > 0 ? <> · {roles.map((r) => ROLE_TEXT[r]).join(', ')}</> : null}
      </p>
      <ul className={styles.qkPairs} aria-label="Query × key pairs">
        {bars.map((p) => (
          <li
            key={`${p.q.node_id ?? 'constants'} ${p.k.node_id ?? 'constants'}`}
            aria-label={`${sourceName(links, p.q)} × ${sourceName(links, p.k)}: ${formatNumber(p.value)}`}
          >
            <span className={styles.qkNames}>
              <Source links={links} source={p.q} />
              <span className={styles.muted}> × </span>
              <Source links={links} source={p.k} />
            </span>
            <Bar value={p.value} extent={p.extent} />
            <Value value={p.value} />
          </li>
        ))}
      </ul>
      <details className={styles.qkMarginals}>
        <summary>Query-side and key-side totals</summary>
        {(['query_top', 'key_top'] as const).map((side) => (
          <ul key={side} aria-label={side === 'query_top' ? 'Query side' : 'Key side'}>
            {edge[side].slice(0, MARGINALS_SHOWN).map((t) => (
              <li key={t.source.node_id ?? 'constants'}>
                <span className={styles.qkNames}>
                  <span className={styles.muted}>{side === 'query_top' ? 'q ' : 'k '}</span>
                  <Source links={links} source={t.source} />
                </span>
                <Value value={t.value} />
              </li>
            ))}
          </ul>
        ))}
      </details>
    </article>
  );
}

/** The node panel's attention section: each recorded attention edge the selected node takes part in. */
export function AttentionSection({
  links,
  qk,
  edges,
}: {
  links: SourceLinks;
  qk: readonly QkEdge[];
  edges: readonly NodeQkEdge[];
}) {
  return (
    <section className={styles.attention} aria-label="Attention">
      <h4>Attention (QK attribution)</h4>
      {edges.map(({ edge, roles }) => (
        <QkEdgeView key={edge} links={links} edge={qk[edge]} roles={roles} />
      ))}
    </section>
  );
}

/** The graph's recorded attention edges, each selecting the node it is found by. */
export function AttentionEdges({
  view,
  qk,
  problem,
  onSelect,
}: {
  view: GraphView;
  qk: readonly QkEdge[];
  problem: string | null;
  onSelect: (id: string) => void;
}) {
  if (qk.length === 0 && problem === null) return null;
  return (
    <section className={styles.panel} role="region" aria-label="Attention edges">
      <h3>Attention edges ({qk.length})</h3>
      {problem !== null ? <p role="alert">{problem}</p> : null}
      <ul className={styles.results}>
        {qk.map((e, j) => {
          const anchor = qkEdgeAnchor(view, e);
          const title = qkEdgeTitle(view, e);
          return (
            // biome-ignore lint/suspicious/noArrayIndexKey: the file's edges have no id, and one may be recorded twice
            <li key={j}>
              <button
                type="button"
                className={styles.linkButton}
                disabled={anchor === null}
                onClick={() => anchor && onSelect(anchor)}
                title={anchor ? `Select ${anchor}` : 'None of its nodes is in this graph'}
              >
                <span className={`${styles.edgeName} ${styles.mono}`}>{title}</span>
                {e.into ? (
                  <Value value={e.into.carried} />
                ) : (
                  <span className={styles.muted}>p {formatNumber(e.pattern)}</span>
                )}
              </button>
            </li>
          );
        })}
      </ul>
    </section>
  );
}
