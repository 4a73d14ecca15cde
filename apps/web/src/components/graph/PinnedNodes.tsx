'use client';

import { compactLayout, type GraphView, nodeTitle } from '@loupe/core';
import { useMemo } from 'react';
import { edgeColor, KIND_COLORS } from './colors';
import styles from './graph.module.css';
import type { PinnedNodesProps } from './types';

const W = 280;
const H = 160;
const PAD = 14;

/** Only the pinned nodes and the links among them, laid out compactly (few nodes: SVG is fine here). */
function Subgraph({
  view,
  nodes,
  selected,
  onSelect,
}: {
  view: GraphView;
  nodes: number[];
  selected: number | undefined;
  onSelect: (id: string) => void;
}) {
  const { x, y } = useMemo(() => compactLayout(view, nodes), [view, nodes]);
  const links = useMemo(() => {
    const at = new Map(nodes.map((n, j) => [n, j]));
    const out: { k: number; s: number; t: number; w: number }[] = [];
    let max = 0;
    nodes.forEach((n, t) => {
      for (let k = view.rowPtr[n]; k < view.rowPtr[n + 1]; k++) {
        const s = at.get(view.colIdx[k]);
        if (s === undefined) continue;
        out.push({ k, s, t, w: view.weights[k] });
        max = Math.max(max, Math.abs(view.weights[k]));
      }
    });
    return out.map((l) => ({ ...l, rel: max > 0 ? Math.abs(l.w) / max : 0 }));
  }, [view, nodes]);
  const px = (j: number) => PAD + x[j] * (W - 2 * PAD);
  const py = (j: number) => H - PAD - y[j] * (H - 2 * PAD);
  return (
    <svg className={styles.subgraph} viewBox={`0 0 ${W} ${H}`} role="img" aria-label="Pinned subgraph">
      {links.map((l) => (
        <line
          key={l.k}
          x1={px(l.s)}
          y1={py(l.s)}
          x2={px(l.t)}
          y2={py(l.t)}
          stroke={edgeColor(l.w, 0.35 + 0.6 * l.rel)}
          strokeWidth={0.6 + 2.4 * l.rel}
        />
      ))}
      {nodes.map((n, j) => (
        <circle
          key={view.ids[n]}
          cx={px(j)}
          cy={py(j)}
          r={n === selected ? 7 : 5}
          fill={KIND_COLORS[view.kinds[n]]}
          stroke={n === selected ? 'currentColor' : 'none'}
          strokeWidth={1.5}
          onClick={() => onSelect(view.ids[n])}
        >
          <title>{nodeTitle(view, n)}</title>
        </circle>
      ))}
    </svg>
  );
}

/** Pinned nodes, grouped into the investigation's supernodes, with a drawing of their subgraph. */
export function PinnedNodes({
  view,
  pinnedIds,
  supernodes,
  labels,
  selectedId,
  onSelect,
  onUnpin,
  onUngroup,
}: PinnedNodesProps) {
  const nodes = useMemo(
    () => pinnedIds.map((id) => view.index.get(id)).filter((i): i is number => i !== undefined),
    [view, pinnedIds],
  );
  const grouped = new Set(supernodes.flatMap((s) => s.nodeIds));
  const loose = pinnedIds.filter((id) => !grouped.has(id));
  const item = (id: string) => {
    const i = view.index.get(id);
    const name = i === undefined ? id : nodeTitle(view, i, labels?.get(id));
    return (
      <li key={id} className={id === selectedId ? styles.current : undefined}>
        <button type="button" className={styles.linkButton} onClick={() => onSelect(id)}>
          {i !== undefined && (
            <i className={styles.swatch} style={{ background: KIND_COLORS[view.kinds[i]] }} />
          )}
          {name}
        </button>
        {onUnpin ? (
          <button
            type="button"
            className={styles.iconButton}
            aria-label={`Unpin ${name}`}
            onClick={() => onUnpin(id)}
          >
            ×
          </button>
        ) : null}
      </li>
    );
  };
  const selected = selectedId === null ? undefined : view.index.get(selectedId);
  return (
    <section className={styles.panel} role="region" aria-label="Pinned nodes">
      <h3>Pinned nodes</h3>
      {pinnedIds.length === 0 ? (
        <p className={styles.muted}>Press p to pin the selected node; g groups the pinned nodes.</p>
      ) : (
        <>
          {supernodes.map((s, j) => (
            <div
              key={`${s.label}-${s.nodeIds.join(',')}`}
              className={styles.group}
              role="group"
              aria-label={s.label}
            >
              <div className={styles.groupHead}>
                <strong>{s.label}</strong>
                {onUngroup ? (
                  <button type="button" className={styles.smallButton} onClick={() => onUngroup(j)}>
                    Ungroup
                  </button>
                ) : null}
              </div>
              <ul className={styles.pinList}>{s.nodeIds.map(item)}</ul>
            </div>
          ))}
          {loose.length > 0 && <ul className={styles.pinList}>{loose.map(item)}</ul>}
          {nodes.length > 0 && <Subgraph view={view} nodes={nodes} selected={selected} onSelect={onSelect} />}
        </>
      )}
    </section>
  );
}
