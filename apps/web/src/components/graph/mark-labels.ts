import { placeLabels } from './label-placement';
import type { GraphRenderer, RendererNodes } from './renderer';

/** A drawn mark: its label's span, the ring in viewport pixels, its kind and the node's influence. */
export interface Ring {
  el: HTMLElement;
  x: number;
  y: number;
  r: number;
  mark: 'selected' | 'highlight' | 'pin';
  influence: number;
}

/** A node's drawn radius in pixels: the renderer draws sprites at least 2.5 px across. */
export function nodeRadiusPx(radius: number, scale: number): number {
  return Math.max(1.25, radius * scale);
}

const MARK_ORDER = { selected: 0, highlight: 1, pin: 2 } as const;

/**
 * Puts each mark's label on a side clear of the other labels and of every node in view (label-placement.ts),
 * the selection first, then highlights and pins by influence; a label with no clear side is hidden, and the
 * node's tooltip names it on hover. The side goes in the span's data-side for the stylesheet.
 */
export function placeMarkLabels(
  r: GraphRenderer,
  nodes: RendererNodes,
  rings: Ring[],
  bounds: { width: number; height: number },
  sizes: Map<string, { w: number; h: number }>,
): void {
  if (rings.length === 0) return;
  const order = [...rings].sort(
    (a, b) => MARK_ORDER[a.mark] - MARK_ORDER[b.mark] || b.influence - a.influence,
  );
  const requests = order.map((m) => {
    const text = m.el.textContent ?? '';
    let size = sizes.get(text);
    if (!size) {
      size = { w: m.el.offsetWidth, h: m.el.offsetHeight };
      sizes.set(text, size);
    }
    return { x: m.x, y: m.y, r: m.r, w: size.w, h: size.h, force: m.mark === 'selected' };
  });
  // Graph → viewport is affine: two points give it, instead of a layout read per node.
  const o = r.graphToViewport(0, 0);
  const u = r.graphToViewport(1, 1);
  const scale = r.scale();
  const margin = 240;
  const xs: number[] = [];
  const ys: number[] = [];
  const rs: number[] = [];
  for (let k = 0; k < nodes.x.length; k++) {
    const x = o.x + nodes.x[k] * (u.x - o.x);
    const y = o.y + nodes.y[k] * (u.y - o.y);
    if (x < -margin || y < -margin || x > bounds.width + margin || y > bounds.height + margin) continue;
    xs.push(x);
    ys.push(y);
    rs.push(nodeRadiusPx(nodes.radius[k], scale) + 1);
  }
  for (const m of rings) {
    xs.push(m.x);
    ys.push(m.y);
    rs.push(m.r);
  }
  const sides = placeLabels(
    requests,
    { x: Float32Array.from(xs), y: Float32Array.from(ys), r: Float32Array.from(rs) },
    bounds,
  );
  order.forEach((m, j) => {
    m.el.dataset.side = sides[j] ?? 'hidden';
  });
}
