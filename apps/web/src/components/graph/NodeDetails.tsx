'use client';

import { nodeTitle } from '@loupe/core';
import { useEffect, useState } from 'react';
import { AttentionSection } from './Attention';
import { inhibitors, nodeQkEdges } from './qk-edges';
import { emptyEdgesText, type NodeEdges, nodeEdges } from './edge-list';
import { LogitProbability } from './logit-probability';
import { NodeReadings } from './node-readings';
import { formatNumber, KIND_COLORS, KIND_NAMES, layerText, signClass } from './colors';
import styles from './graph.module.css';
import type { NodeDetailsProps } from './types';

function EdgeList({
  title,
  direction,
  edges,
  onPick,
  name,
}: {
  title: string;
  direction: 'in' | 'out';
  edges: NodeEdges;
  onPick: (node: number) => void;
  name: (node: number) => string;
}) {
  return (
    <section className={styles.edges} aria-label={title}>
      <h4>{title}</h4>
      {edges.shown.length === 0 ? (
        <p className={styles.muted}>{emptyEdgesText(direction, edges.total)}</p>
      ) : (
        <ul>
          {edges.shown.map((e) => (
            <li key={e.edge}>
              <button type="button" onClick={() => onPick(e.node)} className={styles.edgeButton}>
                <span className={styles[signClass(e.weight)]}>
                  {e.weight >= 0 ? '+' : '−'}
                  {formatNumber(Math.abs(e.weight))}
                </span>
                <span className={styles.edgeName}>{name(e.node)}</span>
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

/** Inhibitors named in an inactive feature's note. */
const INHIBITORS_NAMED = 3;

/** Why an inactive feature is in the graph: the inhibition it receives, strongest first. */
function InactiveNote({
  view,
  node,
  pre,
  name,
  onPick,
}: {
  view: NodeDetailsProps['view'];
  node: number;
  pre: { pre_activation: number; inputs: number; bias: number } | null;
  name: (node: number) => string;
  onPick: (node: number) => void;
}) {
  const by = inhibitors(view, node, INHIBITORS_NAMED);
  return (
    <p className={styles.inactiveNote}>
      Inactive on this prompt (activation 0); shown because it is inhibited by{' '}
      {by.length === 0
        ? 'nodes pruned from this graph'
        : by.map((b, j) => (
            <span key={b.node}>
              {j > 0 ? ', ' : ''}
              <button type="button" className={styles.qkSource} onClick={() => onPick(b.node)}>
                {name(b.node)}
              </button>{' '}
              <span className={styles.negative}>−{formatNumber(-b.weight)}</span>
            </span>
          ))}
      .
      {pre ? (
        <span className={styles.muted}>
          {' '}
          Pre-activation {formatNumber(pre.pre_activation)} = inputs {formatNumber(pre.inputs)} + bias{' '}
          {formatNumber(pre.bias)}.
        </span>
      ) : null}
    </p>
  );
}

/** The selected node: what it is, its labels (the investigation's own, editable; the feature's, shared) and links. */
export function NodeDetails({
  view,
  pruning = null,
  selectedId,
  label,
  feature,
  labels,
  onSaveLabel,
  onSelect,
  edgeLimit = 8,
  qk = [],
  inactive = null,
  featureHref = null,
}: NodeDetailsProps) {
  const [draft, setDraft] = useState(label);
  // biome-ignore lint/correctness/useExhaustiveDependencies: a new selection starts from its saved label
  useEffect(() => setDraft(label), [label, selectedId]);
  const i = selectedId === null ? undefined : view.index.get(selectedId);
  if (i === undefined) {
    return (
      <section className={styles.panel} role="region" aria-label="Node details">
        <h3>Node details</h3>
        <p className={styles.muted}>Click a node, or press j / k to walk nodes by influence.</p>
      </section>
    );
  }
  const id = view.ids[i];
  const kind = view.kinds[i];
  const pos = view.ctxIdx[i];
  const mask = pruning?.edgeMask ?? null;
  const name = (n: number) => nodeTitle(view, n, labels?.get(view.ids[n]));
  const pick = (n: number) => onSelect(view.ids[n]);
  const attention = nodeQkEdges(qk, id);
  return (
    <section className={styles.panel} role="region" aria-label="Node details">
      <h3>
        <i className={styles.swatch} style={{ background: KIND_COLORS[kind] }} />
        {nodeTitle(view, i, label)}
      </h3>
      <dl className={styles.facts}>
        <dt>Kind</dt>
        <dd>
          {KIND_NAMES[kind]}
          {view.inactive[i] ? ' (inactive)' : ''}
        </dd>
        <dt>Id</dt>
        <dd className={styles.mono}>{id}</dd>
        <dt>Layer</dt>
        <dd>{layerText(view, i)}</dd>
        <dt>Position</dt>
        <dd>{pos}</dd>
        <dt>Token</dt>
        <dd className={styles.mono}>“{view.promptTokens[pos]}”</dd>
        {!Number.isNaN(view.feature[i]) && kind === 'feature' && (
          <>
            <dt>Feature</dt>
            <dd className={styles.mono}>{view.feature[i]}</dd>
          </>
        )}
        <NodeReadings view={view} node={i} probability={(p) => <LogitProbability probability={p} />} />
      </dl>
      {view.inactive[i] ? (
        <InactiveNote view={view} node={i} pre={inactive?.get(id) ?? null} name={name} onPick={pick} />
      ) : null}
      <div className={styles.labels}>
        {onSaveLabel ? (
          <label className={styles.labelField}>
            <span>Label</span>
            <input
              type="text"
              value={draft}
              placeholder="name this node"
              onChange={(e) => setDraft(e.target.value)}
              onKeyDown={(e) => {
                if (e.key === 'Enter') {
                  e.preventDefault();
                  onSaveLabel(id, draft.trim());
                }
              }}
            />
          </label>
        ) : null}
        {kind === 'feature' && (
          <dl className={styles.featureLabels}>
            <dt title="Shared by everyone on the team for this feature">Team label</dt>
            <dd>{feature?.teamLabel || <span className={styles.muted}>none</span>}</dd>
            <dt title="Written automatically from the feature's top activations">Auto label</dt>
            <dd className={styles.auto}>
              {feature?.autoLabel || view.clerps[i] || <span className={styles.muted}>none</span>}
            </dd>
          </dl>
        )}
      </div>
      {attention.length > 0 ? (
        <AttentionSection links={{ view, labels, onSelect, featureHref }} qk={qk} edges={attention} />
      ) : null}
      {(['in', 'out'] as const).map((direction) => (
        <EdgeList
          key={direction}
          title={direction === 'in' ? 'Strongest inputs' : 'Strongest outputs'}
          direction={direction}
          edges={nodeEdges(view, i, direction, edgeLimit, mask)}
          onPick={pick}
          name={name}
        />
      ))}
    </section>
  );
}
