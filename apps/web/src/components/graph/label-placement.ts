/**
 * Where the labels of marked nodes go so that they overlap neither each other nor any drawn node: each label
 * tries the right of its node's ring, then the left, above and below, and takes the first side that is clear;
 * a label with no clear side is hidden (the node's tooltip still names it). Screen pixels throughout.
 */

export type LabelSide = 'right' | 'left' | 'above' | 'below';

export interface LabelRequest {
  /** The ring's centre and radius. */
  x: number;
  y: number;
  r: number;
  /** The label's box. */
  w: number;
  h: number;
  /** Shown even without a clear side (the selection): on the first side inside the viewport. */
  force: boolean;
}

export interface Box {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** Gap between a ring and its label, as the stylesheet places the label on each side. */
export const LABEL_GAP = { side: 4, vertical: 2 } as const;
const SIDES: readonly LabelSide[] = ['right', 'left', 'above', 'below'];

export function labelBox(l: LabelRequest, side: LabelSide): Box {
  const { x, y, r, w, h } = l;
  switch (side) {
    case 'right':
      return { x0: x + r + LABEL_GAP.side, y0: y - h / 2, x1: x + r + LABEL_GAP.side + w, y1: y + h / 2 };
    case 'left':
      return { x0: x - r - LABEL_GAP.side - w, y0: y - h / 2, x1: x - r - LABEL_GAP.side, y1: y + h / 2 };
    case 'above':
      return {
        x0: x - w / 2,
        y0: y - r - LABEL_GAP.vertical - h,
        x1: x + w / 2,
        y1: y - r - LABEL_GAP.vertical,
      };
    case 'below':
      return {
        x0: x - w / 2,
        y0: y + r + LABEL_GAP.vertical,
        x1: x + w / 2,
        y1: y + r + LABEL_GAP.vertical + h,
      };
  }
}

function boxesOverlap(a: Box, b: Box): boolean {
  return a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;
}

function boxHitsCircle(b: Box, cx: number, cy: number, r: number): boolean {
  const dx = cx - Math.max(b.x0, Math.min(cx, b.x1));
  const dy = cy - Math.max(b.y0, Math.min(cy, b.y1));
  return dx * dx + dy * dy < r * r;
}

const CELL = 32;

/**
 * Circles bucketed in a uniform grid of CELL pixels, so a label box is tested against the circles near it only
 * (a dense graph has thousands in view).
 */
class CircleGrid {
  private readonly cells = new Map<number, number[]>();

  constructor(
    private readonly cx: Float32Array, // [n] centres, screen pixels
    private readonly cy: Float32Array, // [n]
    private readonly r: Float32Array, // [n] radii, screen pixels
  ) {
    for (let i = 0; i < cx.length; i++) {
      const gx0 = Math.floor((cx[i] - r[i]) / CELL);
      const gx1 = Math.floor((cx[i] + r[i]) / CELL);
      const gy0 = Math.floor((cy[i] - r[i]) / CELL);
      const gy1 = Math.floor((cy[i] + r[i]) / CELL);
      for (let gx = gx0; gx <= gx1; gx++)
        for (let gy = gy0; gy <= gy1; gy++) {
          const key = gx * 100_003 + gy;
          const cell = this.cells.get(key);
          if (cell) cell.push(i);
          else this.cells.set(key, [i]);
        }
    }
  }

  hits(b: Box): boolean {
    for (let gx = Math.floor(b.x0 / CELL); gx <= Math.floor(b.x1 / CELL); gx++)
      for (let gy = Math.floor(b.y0 / CELL); gy <= Math.floor(b.y1 / CELL); gy++)
        for (const i of this.cells.get(gx * 100_003 + gy) ?? [])
          if (boxHitsCircle(b, this.cx[i], this.cy[i], this.r[i])) return true;
    return false;
  }
}

/**
 * Sides for `labels`, taken in the order given (the most important first), or null for a hidden label.
 * `circles` are every drawn node (rings included) the labels must keep clear of; `bounds` is the visible area.
 */
export function placeLabels(
  labels: readonly LabelRequest[],
  circles: { x: Float32Array; y: Float32Array; r: Float32Array },
  bounds: { width: number; height: number },
): (LabelSide | null)[] {
  const grid = new CircleGrid(circles.x, circles.y, circles.r);
  const placed: Box[] = [];
  const inside = (b: Box) => b.x0 >= 0 && b.y0 >= 0 && b.x1 <= bounds.width && b.y1 <= bounds.height;
  return labels.map((l) => {
    let side: LabelSide | null =
      SIDES.find((s) => {
        const b = labelBox(l, s);
        return inside(b) && !placed.some((p) => boxesOverlap(p, b)) && !grid.hits(b);
      }) ?? null;
    if (side === null && l.force) side = SIDES.find((s) => inside(labelBox(l, s))) ?? 'right';
    if (side !== null) placed.push(labelBox(l, side));
    return side;
  });
}
