'use client';

// Over 450 lines: the WebGL drawing, the HTML overlay (axes, marks, badges), pointer and camera handling and the
// imperative controller share one renderer and the live state its frames read, so they stay in one component.

import { type GraphView, layoutView, nodeTitle, type ViewLayout, type ViewPruning } from '@loupe/core';
import { useEffect, useImperativeHandle, useLayoutEffect, useMemo, useRef, useState } from 'react';
import { hexRgb, layerText, KIND_COLORS, KIND_NAMES, NEGATIVE_RGB, POSITIVE_RGB } from './colors';
import styles from './graph.module.css';
import { nodeRadiusPx, placeMarkLabels, type Ring } from './mark-labels';
import { probabilityText } from './logit-probability';
import { NodeReadings } from './node-readings';
import { GraphRenderer, type RendererEdges, type RendererNodes } from './renderer';
import type { CameraState, GraphCanvasController, GraphCanvasProps } from './types';

/** Radii are in layout units (one node slot), so zooming never makes nodes overlap. */
const MIN_RADIUS = 0.16;
const MAX_RADIUS = 0.46;

function nodeRadii(view: GraphView): Float32Array {
  let max = 0;
  for (let i = 0; i < view.n; i++) if (view.kinds[i] !== 'logit') max = Math.max(max, view.influence[i]);
  return Float32Array.from(view.influence, (v, i) => {
    const k = view.kinds[i];
    if (k === 'embedding') return MAX_RADIUS;
    if (k === 'logit') return MAX_RADIUS * (0.7 + 0.3 * Math.sqrt(v));
    const s = max > 0 ? Math.sqrt(v / max) : 0;
    return MIN_RADIUS + (MAX_RADIUS - MIN_RADIUS) * s;
  });
}

/** The drawn subset: kept nodes (renderer index → view index) and kept edges between them. */
interface Drawn {
  nodes: Int32Array; // [d] view node index
  at: Int32Array; // [n] renderer index, −1 when not drawn
  edges: Int32Array; // [e] view edge index
  rel: Float32Array; // [e] sqrt(|w| / max |w|)
  geometry: RendererNodes;
  source: Int32Array; // [e] renderer index
  target: Int32Array; // [e]
}

function drawnSubset(
  view: GraphView,
  pruning: ViewPruning | null,
  layout: ViewLayout,
  radii: Float32Array,
): Drawn {
  const at = new Int32Array(view.n).fill(-1);
  const nodes: number[] = [];
  for (let i = 0; i < view.n; i++) {
    if (Number.isNaN(layout.x[i])) continue;
    at[i] = nodes.length;
    nodes.push(i);
  }
  const edges: number[] = [];
  let maxW = 0;
  for (let k = 0; k < view.weights.length; k++) {
    if (pruning && !pruning.edgeMask[k]) continue;
    if (at[view.colIdx[k]] < 0 || at[view.edgeTarget[k]] < 0) continue;
    edges.push(k);
    maxW = Math.max(maxW, Math.abs(view.weights[k]));
  }
  const d = nodes.length;
  return {
    nodes: Int32Array.from(nodes),
    at,
    edges: Int32Array.from(edges),
    rel: Float32Array.from(edges, (k) => (maxW > 0 ? Math.sqrt(Math.abs(view.weights[k]) / maxW) : 0)),
    geometry: {
      x: Float32Array.from(nodes, (i) => layout.x[i]),
      y: Float32Array.from(nodes, (i) => layout.y[i]),
      radius: Float32Array.from(nodes, (i) => radii[i]),
      color: new Uint8Array(4 * d),
      shape: Uint8Array.from(nodes, (i) => (view.kinds[i] === 'error' ? 1 : view.inactive[i] ? 2 : 0)),
    },
    source: Int32Array.from(edges, (k) => at[view.colIdx[k]]),
    target: Int32Array.from(edges, (k) => at[view.edgeTarget[k]]),
  };
}

const noIds: readonly string[] = [];

const KIND_RGB = Object.fromEntries(Object.entries(KIND_COLORS).map(([k, hex]) => [k, hexRgb(hex)]));

/** Node colours and edge colours and widths for the selection: its links bright and wide, the rest faded. */
function emphasis(view: GraphView, drawn: Drawn, selected: number | null) {
  const neighbour = new Uint8Array(view.n);
  if (selected !== null) {
    neighbour[selected] = 1;
    for (let k = view.rowPtr[selected]; k < view.rowPtr[selected + 1]; k++) neighbour[view.colIdx[k]] = 1;
    for (let j = view.outPtr[selected]; j < view.outPtr[selected + 1]; j++)
      neighbour[view.edgeTarget[view.outEdge[j]]] = 1;
  }
  const nodeColor = new Uint8Array(4 * drawn.nodes.length);
  drawn.nodes.forEach((i, r) => {
    nodeColor.set(KIND_RGB[view.kinds[i]], 4 * r);
    nodeColor[4 * r + 3] = selected !== null && !neighbour[i] ? 70 : 255;
  });
  const e = drawn.edges.length;
  const edgeColor = new Uint8Array(4 * e);
  const width = new Float32Array(e);
  for (let j = 0; j < e; j++) {
    const k = drawn.edges[j];
    const rel = drawn.rel[j];
    const touches = selected !== null && (view.colIdx[k] === selected || view.edgeTarget[k] === selected);
    const alpha = selected === null ? 0.07 + 0.5 * rel : touches ? 0.6 + 0.4 * rel : 0.035;
    const rgb = view.weights[k] >= 0 ? POSITIVE_RGB : NEGATIVE_RGB;
    edgeColor[4 * j] = rgb[0];
    edgeColor[4 * j + 1] = rgb[1];
    edgeColor[4 * j + 2] = rgb[2];
    edgeColor[4 * j + 3] = Math.round(255 * alpha);
    width[j] = (touches ? 1.2 : 0.4) + (touches ? 3 : 1.6) * rel;
  }
  return { nodeColor, edgeColor, width };
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
 * The link graph at fixed positions from layoutView, drawn with WebGL (renderer.ts), with token and layer axes,
 * selection and pin marks as an HTML overlay that follows the camera. Drag pans, the wheel zooms, a click
 * selects.
 */
export function GraphCanvas({
  controller,
  view,
  pruning = null,
  selectedId,
  pinnedIds,
  highlightIds = noIds,
  labels,
  badges = null,
  onSelect,
  camera,
  onCameraChange,
  onRendered,
  className,
}: GraphCanvasProps) {
  const stageRef = useRef<HTMLDivElement>(null);
  const tokensRef = useRef<HTMLDivElement>(null);
  const layersRef = useRef<HTMLDivElement>(null);
  const marksRef = useRef<HTMLDivElement>(null);
  const badgesRef = useRef<HTMLDivElement>(null);
  const rendererRef = useRef<GraphRenderer | null>(null);
  const [hover, setHover] = useState<Hover | null>(null);
  const [error, setError] = useState<string | null>(null);

  const callbacks = useRef({ onSelect, onCameraChange, onRendered });
  callbacks.current = { onSelect, onCameraChange, onRendered };

  /** The stage's width ÷ height (inside the renderer's padding), which the layout spreads to; null until measured. */
  const [aspect, setAspect] = useState<number | null>(null);
  const layout = useMemo(
    () => layoutView(view, pruning?.nodeMask ?? null, aspect === null ? {} : { aspect }),
    [view, pruning, aspect],
  );
  const radii = useMemo(() => nodeRadii(view), [view]);
  const drawn = useMemo(() => drawnSubset(view, pruning, layout, radii), [view, pruning, layout, radii]);
  const selected = selectedId === null ? null : (view.index.get(selectedId) ?? null);
  const highlighted = useMemo(() => new Set(highlightIds), [highlightIds]);
  const marked = useMemo(() => {
    // Highlights and the selection are drawn last, over the pins they may share a node with.
    const ids = [
      ...pinnedIds.filter((id) => id !== selectedId && !highlighted.has(id)),
      ...highlightIds.filter((id) => id !== selectedId),
    ];
    return selectedId === null ? ids : [...ids, selectedId];
  }, [pinnedIds, highlightIds, highlighted, selectedId]);
  const badged = useMemo(() => [...(badges ?? [])], [badges]);
  const live = useRef({ view, layout, drawn, marked, highlighted, selectedId, labels, badged });
  live.current = { view, layout, drawn, marked, highlighted, selectedId, labels, badged };

  /** Label text → its box in pixels, measured once: reading a size forces a layout. */
  const labelSizes = useRef(new Map<string, { w: number; h: number }>());

  /** Axes and marks follow the live camera, frame by frame, without React renders. */
  const drawOverlay = () => {
    const r = rendererRef.current;
    const tokens = tokensRef.current;
    const layers = layersRef.current;
    const marks = marksRef.current;
    const bubbles = badgesRef.current;
    if (!r || !tokens || !layers || !marks || !bubbles) return;
    const {
      layout: lay,
      drawn: d,
      marked: ids,
      highlighted: lit,
      selectedId: sel,
      view: v,
      labels: names,
      badged,
    } = live.current;
    const width = stageRef.current?.clientWidth ?? 0;
    const height = stageRef.current?.clientHeight ?? 0;
    lay.columns.forEach((c, p) => {
      const el = tokens.children[p] as HTMLElement | undefined;
      if (!el) return;
      const left = r.graphToViewport(c.x0 - 0.5, 0).x;
      const right = r.graphToViewport(c.x1 + 0.5, 0).x;
      el.style.transform = `translateX(${left}px)`;
      el.style.width = `${Math.max(0, right - left)}px`;
      el.style.visibility = right < 0 || left > width ? 'hidden' : 'visible';
    });
    lay.rows.forEach((row, j) => {
      const el = layers.children[j] as HTMLElement | undefined;
      if (!el) return;
      const y = r.graphToViewport(0, row.y).y;
      el.style.transform = `translateY(${y}px)`;
      el.style.visibility = y < 0 || y > height ? 'hidden' : 'visible';
    });
    while (marks.children.length < ids.length) {
      const mark = document.createElement('div');
      mark.appendChild(document.createElement('span'));
      marks.appendChild(mark);
    }
    const rings: Ring[] = [];
    Array.from(marks.children).forEach((child, j) => {
      const el = child as HTMLElement;
      const i = ids[j] === undefined ? undefined : v.index.get(ids[j]);
      const at = i === undefined ? -1 : d.at[i];
      if (i === undefined || at < 0) {
        el.style.display = 'none';
        return;
      }
      const c = r.graphToViewport(d.geometry.x[at], d.geometry.y[at]);
      const radius = Math.max(5, d.geometry.radius[at] * r.scale() + 3);
      const mark = ids[j] === sel ? 'selected' : lit.has(ids[j]) ? 'highlight' : 'pin';
      el.className = styles[`${mark}Mark`];
      el.dataset.mark = mark;
      el.style.display = 'block';
      el.style.transform = `translate(${c.x - radius}px, ${c.y - radius}px)`;
      el.style.width = el.style.height = `${2 * radius}px`;
      (el.firstChild as HTMLElement).textContent = nodeTitle(v, i, names?.get(ids[j]));
      rings.push({
        el: el.firstChild as HTMLElement,
        x: c.x,
        y: c.y,
        r: radius,
        mark,
        influence: v.influence[i],
      });
    });
    placeMarkLabels(
      r,
      d.geometry,
      rings,
      { width: marks.clientWidth, height: marks.clientHeight },
      labelSizes.current,
    );
    while (bubbles.children.length < badged.length) bubbles.appendChild(document.createElement('span'));
    Array.from(bubbles.children).forEach((child, j) => {
      const el = child as HTMLElement;
      const [id, count] = badged[j] ?? [];
      const i = id === undefined ? undefined : v.index.get(id);
      const at = i === undefined ? -1 : d.at[i];
      if (id === undefined || at < 0) {
        el.style.display = 'none';
        delete el.dataset.node;
        return;
      }
      // At the node's upper right, clear of its ring.
      const c = r.graphToViewport(d.geometry.x[at], d.geometry.y[at]);
      const radius = Math.max(5, d.geometry.radius[at] * r.scale() + 3);
      el.className = styles.badge;
      el.style.display = 'block';
      el.style.transform = `translate(${c.x + 0.6 * radius}px, ${c.y - 0.6 * radius - 14}px)`;
      el.textContent = String(count);
      el.dataset.node = id;
      el.title = `${count} comment${count === 1 ? '' : 's'}`;
    });
  };
  const overlayRef = useRef(drawOverlay);
  overlayRef.current = drawOverlay;

  useLayoutEffect(() => {
    const stage = stageRef.current!;
    const measure = () => {
      const pad = 48;
      const a = Math.max(0.2, (stage.clientWidth - pad) / Math.max(1, stage.clientHeight - pad));
      // Rounded, so that small resizes do not lay the graph out again.
      setAspect(Math.round(a * 10) / 10);
    };
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(stage);
    return () => observer.disconnect();
  }, []);

  // One renderer for the component's life; data is swapped in below.
  useEffect(() => {
    const stage = stageRef.current!;
    let r: GraphRenderer;
    try {
      r = new GraphRenderer(stage);
    } catch (e) {
      setError((e as Error).message);
      return;
    }
    rendererRef.current = r;
    const offFrame = r.onFrame(() => overlayRef.current());
    let settle: ReturnType<typeof setTimeout> | undefined;
    const offCamera = r.onCamera((c) => {
      clearTimeout(settle);
      settle = setTimeout(() => callbacks.current.onCameraChange?.({ x: c.x, y: c.y, ratio: c.ratio }), 200);
    });

    let drag: { x: number; y: number; moved: boolean } | null = null;
    const local = (e: MouseEvent) => {
      const box = stage.getBoundingClientRect();
      return { x: e.clientX - box.left, y: e.clientY - box.top };
    };
    const onDown = (e: PointerEvent) => {
      if (e.button !== 0) return;
      drag = { x: e.clientX, y: e.clientY, moved: false };
      stage.setPointerCapture(e.pointerId);
    };
    const onMove = (e: PointerEvent) => {
      if (drag) {
        const dx = e.clientX - drag.x;
        const dy = e.clientY - drag.y;
        if (drag.moved || Math.abs(dx) + Math.abs(dy) > 3) {
          drag.moved = true;
          r.panBy(dx, dy);
          drag.x = e.clientX;
          drag.y = e.clientY;
          setHover(null);
          return;
        }
      }
      const p = local(e);
      const hit = r.pick(p.x, p.y);
      stage.style.cursor = hit >= 0 ? 'pointer' : drag ? 'grabbing' : 'grab';
      const node = hit >= 0 ? live.current.drawn.nodes[hit] : -1;
      // The tooltip lives in the outer box (axes included), on the side of the pointer with more room.
      const outer = stage.parentElement!.getBoundingClientRect();
      const at = { x: e.clientX - outer.left, y: e.clientY - outer.top };
      const flipX = at.x > outer.width - 300;
      const flipY = at.y > outer.height - 160;
      setHover((h) =>
        node < 0
          ? null
          : h?.node === node
            ? h
            : { node, x: flipX ? at.x - 294 : at.x + 14, y: flipY ? at.y - 150 : at.y + 14 },
      );
    };
    const onUp = (e: PointerEvent) => {
      const wasDrag = drag?.moved ?? false;
      drag = null;
      if (stage.hasPointerCapture(e.pointerId)) stage.releasePointerCapture(e.pointerId);
      if (wasDrag || e.button !== 0) return;
      const p = local(e);
      const hit = r.pick(p.x, p.y);
      callbacks.current.onSelect(hit >= 0 ? live.current.view.ids[live.current.drawn.nodes[hit]] : null);
    };
    const onWheel = (e: WheelEvent) => {
      e.preventDefault();
      const p = local(e);
      const step = e.deltaMode === 1 ? e.deltaY * 16 : e.deltaY;
      r.zoomAround(p.x, p.y, Math.exp(Math.max(-100, Math.min(100, step)) * 0.0025));
    };
    const onLeave = () => setHover(null);
    stage.addEventListener('pointerdown', onDown);
    stage.addEventListener('pointermove', onMove);
    stage.addEventListener('pointerup', onUp);
    stage.addEventListener('pointerleave', onLeave);
    stage.addEventListener('wheel', onWheel, { passive: false });
    const resize = new ResizeObserver(() => r.resized());
    resize.observe(stage);
    return () => {
      clearTimeout(settle);
      offFrame();
      offCamera();
      resize.disconnect();
      stage.removeEventListener('pointerdown', onDown);
      stage.removeEventListener('pointermove', onMove);
      stage.removeEventListener('pointerup', onUp);
      stage.removeEventListener('pointerleave', onLeave);
      stage.removeEventListener('wheel', onWheel);
      r.destroy();
      rendererRef.current = null;
    };
  }, []);

  useEffect(() => {
    const r = rendererRef.current;
    if (!r || aspect === null) return;
    const t0 = performance.now();
    r.setGraph(
      drawn.geometry,
      {
        source: drawn.source,
        target: drawn.target,
        color: new Uint8Array(4 * drawn.edges.length),
        width: new Float32Array(drawn.edges.length),
      } satisfies RendererEdges,
      { minX: -0.5, minY: layout.rows[0].y - 1, maxX: layout.width + 0.5, maxY: layout.height + 1 },
    );
    const off = r.onFrame(() => {
      off();
      callbacks.current.onRendered?.({
        nodes: drawn.nodes.length,
        edges: drawn.edges.length,
        ms: performance.now() - t0,
      });
    });
    return off;
  }, [drawn, layout, aspect]);

  useEffect(() => {
    const r = rendererRef.current;
    if (!r) return;
    const { nodeColor, edgeColor, width } = emphasis(view, drawn, selected);
    r.setNodeColors(nodeColor);
    r.setEdgeStyle(edgeColor, width);
  }, [view, drawn, selected]);

  // Marks and labels change without a new frame being drawn.
  // biome-ignore lint/correctness/useExhaustiveDependencies: the overlay reads them through live
  useEffect(() => {
    overlayRef.current();
  }, [marked, labels, badged]);

  useEffect(() => {
    const r = rendererRef.current;
    if (!r || !camera) return;
    if (!sameCamera(r.getCamera(), camera)) r.setCamera(camera);
  }, [camera]);

  /** Pans to a node that is outside the viewport, keeping the zoom. */
  const focusNode = (id: string) => {
    const r = rendererRef.current;
    const i = live.current.view.index.get(id);
    const at = i === undefined ? -1 : live.current.drawn.at[i];
    if (!r || at < 0) return;
    const { x, y } = live.current.drawn.geometry;
    const p = r.graphToViewport(x[at], y[at]);
    const box = stageRef.current!;
    const margin = 12;
    if (p.x > margin && p.x < box.clientWidth - margin && p.y > margin && p.y < box.clientHeight - margin)
      return;
    r.setCamera(r.cameraAt(x[at], y[at]));
  };
  const focusRef = useRef(focusNode);
  focusRef.current = focusNode;

  // A new selection (j/k, search, an edge in the details) comes into view; the one the page opens with does
  // not move the camera, which may come from a shared link.
  const openedWith = useRef(true);
  useEffect(() => {
    if (openedWith.current) {
      openedWith.current = false;
      return;
    }
    if (selectedId !== null) focusRef.current(selectedId);
  }, [selectedId]);

  useImperativeHandle(
    controller,
    (): GraphCanvasController => ({
      getCamera: () => rendererRef.current?.getCamera() ?? { x: 0.5, y: 0.5, ratio: 1 },
      setCamera: (c) => rendererRef.current?.setCamera(c),
      fit: () => rendererRef.current?.setCamera({ x: 0.5, y: 0.5, ratio: 1 }),
      focusNode: (id) => focusRef.current(id),
      onFrame: (callback) => rendererRef.current?.onFrame(callback) ?? (() => {}),
      nodePosition: (id) => {
        const r = rendererRef.current;
        const i = view.index.get(id);
        const at = i === undefined ? -1 : live.current.drawn.at[i];
        if (!r || at < 0) return null;
        const { geometry } = live.current.drawn;
        const p = r.graphToViewport(geometry.x[at], geometry.y[at]);
        const box = stageRef.current!.getBoundingClientRect();
        return { x: box.left + p.x, y: box.top + p.y, radius: nodeRadiusPx(geometry.radius[at], r.scale()) };
      },
      drawn: () => ({ nodes: live.current.drawn.nodes.length, edges: live.current.drawn.edges.length }),
    }),
    [view],
  );

  const hovered = hover !== null ? hover.node : null;
  const hasInactive = useMemo(() => view.inactive.includes(1), [view]);
  return (
    <div
      className={`${styles.canvas} ${className ?? ''}`}
      role="application"
      aria-label="Attribution graph"
      tabIndex={0}
      data-nodes={drawn.nodes.length}
      data-edges={drawn.edges.length}
    >
      <div ref={stageRef} className={styles.stage} />
      {error !== null && <p className={styles.error}>{error}</p>}
      <div ref={marksRef} className={styles.marks} aria-hidden="true" />
      <div ref={badgesRef} className={styles.marks} aria-hidden="true" data-comment-badges={badged.length} />
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
        {hasInactive ? (
          <span>
            <i className={styles.hollow} style={{ borderColor: KIND_COLORS.feature }} />
            Inactive
          </span>
        ) : null}
        <span>
          <i className={styles.positive} />+
        </span>
        <span>
          <i className={styles.negative} />−
        </span>
      </div>
      {hovered !== null && hover !== null && (
        <div className={styles.tooltip} role="tooltip" style={{ left: hover.x, top: hover.y }}>
          <strong>{nodeTitle(view, hovered, labels?.get(view.ids[hovered]))}</strong>
          <dl>
            <dt>Kind</dt>
            <dd>
              {KIND_NAMES[view.kinds[hovered]]}
              {view.inactive[hovered] ? ' (inactive)' : ''}
            </dd>
            <dt>Layer</dt>
            <dd>{layerText(view, hovered)}</dd>
            <dt>Position</dt>
            <dd>
              {view.ctxIdx[hovered]} “{view.promptTokens[view.ctxIdx[hovered]]}”
            </dd>
            <NodeReadings view={view} node={hovered} probability={probabilityText} />
          </dl>
        </div>
      )}
    </div>
  );
}
