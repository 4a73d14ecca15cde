'use client';

import { type GraphView, layoutView, nodeTitle, type ViewLayout, type ViewPruning } from '@loupe/core';
import Graph from 'graphology';
import { useEffect, useMemo, useRef, useState } from 'react';
import Sigma from 'sigma';
import { edgeColor, formatNumber, KIND_COLORS, KIND_NAMES } from './colors';
import styles from './graph.module.css';
import type { CameraState, GraphCanvasProps } from './types';

interface NodeAttrs {
  x: number;
  y: number;
  size: number;
  color: string;
  label: string;
  showLabel: boolean;
  [k: string]: unknown;
}

interface EdgeAttrs {
  weight: number;
  size: number;
  color: string;
  emph: boolean;
  [k: string]: unknown;
}

/** Radii and widths are in layout units (one node slot), so zooming never makes nodes overlap. */
const MIN_RADIUS = 0.14;
const MAX_RADIUS = 0.46;

function nodeRadii(view: GraphView): Float32Array {
  let max = 0;
  for (let i = 0; i < view.n; i++) if (view.kinds[i] !== 'logit') max = Math.max(max, view.influence[i]);
  return Float32Array.from(view.influence, (v, i) => {
    const k = view.kinds[i];
    if (k === 'embedding' || k === 'logit')
      return MAX_RADIUS * (k === 'logit' ? 0.6 + 0.4 * Math.sqrt(v) : 0.8);
    const s = max > 0 ? Math.sqrt(v / max) : 0;
    return MIN_RADIUS + (MAX_RADIUS - MIN_RADIUS) * s;
  });
}

function maxAbsWeight(view: GraphView, edgeMask: Uint8Array | null): number {
  let m = 0;
  for (let k = 0; k < view.weights.length; k++) {
    if (!edgeMask || edgeMask[k]) m = Math.max(m, Math.abs(view.weights[k]));
  }
  return m || 1;
}

function buildGraph(view: GraphView, pruning: ViewPruning | null, layout: ViewLayout, radii: Float32Array) {
  const g = new Graph<NodeAttrs, EdgeAttrs>({ type: 'directed', multi: false, allowSelfLoops: true });
  const nodeMask = pruning?.nodeMask ?? null;
  const edgeMask = pruning?.edgeMask ?? null;
  for (let i = 0; i < view.n; i++) {
    if (nodeMask && !nodeMask[i]) continue;
    g.addNode(view.ids[i], {
      x: layout.x[i],
      y: layout.y[i],
      size: radii[i],
      color: KIND_COLORS[view.kinds[i]],
      label: '',
      showLabel: false,
    });
  }
  const maxW = maxAbsWeight(view, edgeMask);
  for (let k = 0; k < view.weights.length; k++) {
    if (edgeMask && !edgeMask[k]) continue;
    const s = view.ids[view.colIdx[k]];
    const t = view.ids[view.edgeTarget[k]];
    if (!g.hasNode(s) || !g.hasNode(t)) continue;
    const rel = Math.sqrt(Math.abs(view.weights[k]) / maxW);
    g.addDirectedEdgeWithKey(String(k), s, t, {
      weight: view.weights[k],
      size: 0.02 + 0.16 * rel,
      color: edgeColor(view.weights[k], 0.1 + 0.45 * rel),
      emph: false,
    });
  }
  return { g, maxW };
}

/** Colours and label visibility for the selection and the pins; touches only what changes. */
function applyEmphasis(
  g: Graph<NodeAttrs, EdgeAttrs>,
  view: GraphView,
  maxW: number,
  selectedId: string | null,
  pinned: ReadonlySet<string>,
  labels: ReadonlyMap<string, string> | null | undefined,
) {
  const selected = selectedId !== null && g.hasNode(selectedId) ? selectedId : null;
  const neighbours = new Set<string>();
  if (selected !== null) {
    neighbours.add(selected);
    g.forEachNeighbor(selected, (nb) => {
      neighbours.add(nb);
    });
  }
  g.updateEachNodeAttributes(
    (id, a) => {
      const i = view.index.get(id)!;
      const base = KIND_COLORS[view.kinds[i]];
      const dim = selected !== null && !neighbours.has(id);
      const show = id === selected || pinned.has(id);
      return {
        ...a,
        color: dim ? `${base}40` : base,
        showLabel: show,
        label: show ? nodeTitle(view, i, labels?.get(id)) : '',
      };
    },
    { attributes: ['color', 'showLabel', 'label'] },
  );
  g.updateEachEdgeAttributes(
    (_key, a, source, target) => {
      const rel = Math.sqrt(Math.abs(a.weight) / maxW);
      const emph = selected !== null && (source === selected || target === selected);
      const alpha = selected === null ? 0.1 + 0.45 * rel : emph ? 0.55 + 0.45 * rel : 0.03;
      return { ...a, emph, color: edgeColor(a.weight, alpha), size: (emph ? 0.06 : 0.02) + 0.16 * rel };
    },
    { attributes: ['color', 'emph', 'size'] },
  );
}

function sameCamera(a: CameraState, b: CameraState): boolean {
  return Math.abs(a.x - b.x) < 1e-6 && Math.abs(a.y - b.y) < 1e-6 && Math.abs(a.ratio - b.ratio) < 1e-6;
}

interface Hover {
  node: number;
  x: number;
  y: number;
}

/**
 * The link graph: sigma on graphology (WebGL) at fixed positions from layoutView, with token and layer axes
 * drawn as an HTML overlay that follows the camera.
 */
export function GraphCanvas({
  view,
  pruning = null,
  selectedId,
  pinnedIds,
  labels,
  onSelect,
  camera,
  onCameraChange,
  onRendered,
  className,
}: GraphCanvasProps) {
  const containerRef = useRef<HTMLDivElement>(null);
  const stageRef = useRef<HTMLDivElement>(null);
  const tokensRef = useRef<HTMLDivElement>(null);
  const layersRef = useRef<HTMLDivElement>(null);
  const marksRef = useRef<HTMLDivElement>(null);
  const sigmaRef = useRef<Sigma<NodeAttrs, EdgeAttrs> | null>(null);
  const maxWRef = useRef(1);
  const [hover, setHover] = useState<Hover | null>(null);
  const [graphVersion, setGraphVersion] = useState(0);

  const callbacks = useRef({ onSelect, onCameraChange, onRendered });
  callbacks.current = { onSelect, onCameraChange, onRendered };

  const layout = useMemo(() => layoutView(view, pruning?.nodeMask ?? null), [view, pruning]);
  const radii = useMemo(() => nodeRadii(view), [view]);
  const pinnedSet = useMemo(() => new Set(pinnedIds), [pinnedIds]);
  const overlay = useRef({ layout, pinned: pinnedSet, selectedId });
  overlay.current = { layout, pinned: pinnedSet, selectedId };

  // One sigma instance for the component's life; graphs are swapped in with setGraph.
  useEffect(() => {
    const stage = stageRef.current!;
    const dark = window.matchMedia('(prefers-color-scheme: dark)').matches;
    const sigma = new Sigma<NodeAttrs, EdgeAttrs>(new Graph<NodeAttrs, EdgeAttrs>(), stage, {
      settings: {
        itemSizesReference: 'positions',
        zoomToSizeRatioFunction: (r: number) => r,
        minEdgeThickness: 0.6,
        stagePadding: 24,
        hideEdgesOnMove: false,
        labelDensity: 1,
        minCameraRatio: 0.02,
        maxCameraRatio: 4,
        gestureTarget: 'graph',
      },
      styles: {
        nodes: {
          x: { attribute: 'x' },
          y: { attribute: 'y' },
          size: { attribute: 'size' },
          color: { attribute: 'color' },
          label: { attribute: 'label' },
          labelColor: dark ? '#e6e6ee' : '#16161d',
          labelSize: 11,
          labelVisibility: (a) => (a.showLabel === true ? 'visible' : 'hidden'),
          depth: (a) => (a.showLabel === true ? 'topNodes' : 'nodes'),
          cursor: 'pointer',
        },
        edges: {
          size: { attribute: 'size' },
          color: { attribute: 'color' },
          depth: (a) => (a.emph === true ? 'topEdges' : 'edges'),
        },
      },
    });
    sigmaRef.current = sigma;

    const drawOverlay = () => {
      const { layout: lay, pinned, selectedId: sel } = overlay.current;
      const tokens = tokensRef.current;
      const layers = layersRef.current;
      const marks = marksRef.current;
      if (!tokens || !layers || !marks) return;
      const { width, height } = sigma.getDimensions();
      lay.columns.forEach((c, p) => {
        const el = tokens.children[p] as HTMLElement | undefined;
        if (!el) return;
        const left = sigma.graphToViewport({ x: c.x0 - 0.5, y: 0 }).x;
        const right = sigma.graphToViewport({ x: c.x1 + 0.5, y: 0 }).x;
        el.style.transform = `translateX(${left}px)`;
        el.style.width = `${Math.max(0, right - left)}px`;
        el.style.visibility = right < 0 || left > width ? 'hidden' : 'visible';
      });
      lay.rows.forEach((r, j) => {
        const el = layers.children[j] as HTMLElement | undefined;
        if (!el) return;
        const y = sigma.graphToViewport({ x: 0, y: r.y }).y;
        el.style.transform = `translateY(${y}px)`;
        el.style.visibility = y < 0 || y > height ? 'hidden' : 'visible';
      });
      const ringed = [...pinned, ...(sel !== null ? [sel] : [])].filter((id) => sigma.getGraph().hasNode(id));
      while (marks.children.length < ringed.length) marks.appendChild(document.createElement('div'));
      Array.from(marks.children).forEach((child, j) => {
        const el = child as HTMLElement;
        const id = ringed[j];
        if (id === undefined) {
          el.style.display = 'none';
          return;
        }
        const a = sigma.getGraph().getNodeAttributes(id);
        const c = sigma.graphToViewport({ x: a.x, y: a.y });
        const r = Math.max(5, (a.size / sigma.getCamera().ratio) * sigma.getGraphToViewportRatio() + 3);
        el.className = id === sel && j === ringed.length - 1 ? styles.selectedRing : styles.pinRing;
        el.style.display = 'block';
        el.style.transform = `translate(${c.x - r}px, ${c.y - r}px)`;
        el.style.width = el.style.height = `${2 * r}px`;
      });
    };
    sigma.on('afterRender', drawOverlay);
    sigma.on('clickNode', ({ node }) => callbacks.current.onSelect(node));
    sigma.on('clickStage', () => callbacks.current.onSelect(null));
    sigma.on('enterNode', ({ node, event }) => {
      const i = view.index.get(node);
      if (i !== undefined) setHover({ node: i, x: event.x, y: event.y });
    });
    sigma.on('leaveNode', () => setHover(null));
    let settle: ReturnType<typeof setTimeout> | undefined;
    const onCamera = () => {
      clearTimeout(settle);
      settle = setTimeout(() => {
        const s = sigma.getCamera().getState();
        callbacks.current.onCameraChange?.({ x: s.x, y: s.y, ratio: s.ratio });
      }, 200);
    };
    sigma.getCamera().on('updated', onCamera);
    return () => {
      clearTimeout(settle);
      sigma.kill();
      sigmaRef.current = null;
    };
  }, [view]);

  useEffect(() => {
    const sigma = sigmaRef.current;
    if (!sigma) return;
    const t0 = performance.now();
    const { g, maxW } = buildGraph(view, pruning, layout, radii);
    maxWRef.current = maxW;
    sigma.setGraph(g);
    sigma.once('afterRender', () => {
      callbacks.current.onRendered?.({ nodes: g.order, edges: g.size, ms: performance.now() - t0 });
    });
    setGraphVersion((v) => v + 1);
  }, [view, pruning, layout, radii]);

  // biome-ignore lint/correctness/useExhaustiveDependencies: graphVersion re-applies emphasis to a new graph
  useEffect(() => {
    const sigma = sigmaRef.current;
    if (!sigma) return;
    applyEmphasis(sigma.getGraph(), view, maxWRef.current, selectedId, pinnedSet, labels);
  }, [view, selectedId, pinnedSet, labels, graphVersion]);

  useEffect(() => {
    const sigma = sigmaRef.current;
    if (!sigma || !camera) return;
    const cam = sigma.getCamera();
    const s = cam.getState();
    if (!sameCamera({ x: s.x, y: s.y, ratio: s.ratio }, camera)) cam.setState(camera);
  }, [camera]);

  const hovered = hover !== null ? hover.node : null;
  return (
    <div
      ref={containerRef}
      className={`${styles.canvas} ${className ?? ''}`}
      role="application"
      aria-label="Attribution graph"
      tabIndex={0}
      data-nodes={pruning ? pruning.nodeCount : view.n}
    >
      <div ref={stageRef} className={styles.stage} />
      <div ref={marksRef} className={styles.marks} aria-hidden="true" />
      <div ref={layersRef} className={styles.layerAxis} aria-hidden="true">
        {layout.rows.map((r) => (
          <span key={r.row}>{r.label}</span>
        ))}
      </div>
      <div ref={tokensRef} className={styles.tokenAxis} aria-hidden="true">
        {layout.columns.map((c) => (
          <span key={c.pos} title={c.token}>
            {c.token}
          </span>
        ))}
      </div>
      <div className={styles.legend} aria-hidden="true">
        {(['embedding', 'feature', 'error', 'logit'] as const).map((k) => (
          <span key={k}>
            <i style={{ background: KIND_COLORS[k] }} />
            {KIND_NAMES[k]}
          </span>
        ))}
        <span>
          <i className={styles.positive} />+
        </span>
        <span>
          <i className={styles.negative} />−
        </span>
      </div>
      {hovered !== null && hover !== null && (
        <div className={styles.tooltip} role="tooltip" style={{ left: hover.x + 14, top: hover.y + 14 }}>
          <strong>{nodeTitle(view, hovered, labels?.get(view.ids[hovered]))}</strong>
          <dl>
            <dt>Kind</dt>
            <dd>{KIND_NAMES[view.kinds[hovered]]}</dd>
            <dt>Layer</dt>
            <dd>{view.layer[hovered] < 0 ? '—' : view.layer[hovered]}</dd>
            <dt>Position</dt>
            <dd>
              {view.ctxIdx[hovered]} “{view.promptTokens[view.ctxIdx[hovered]]}”
            </dd>
            <dt>Activation</dt>
            <dd>{formatNumber(view.activation[hovered])}</dd>
            <dt>Influence</dt>
            <dd>{formatNumber(view.influence[hovered])}</dd>
          </dl>
        </div>
      )}
    </div>
  );
}
