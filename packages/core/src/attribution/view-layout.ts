/**
 * The explorer's layered layout of a graph view: prompt positions across, layers up, each (layer, position) cell
 * stacking its nodes strongest first; and the compact drawing of a few pinned nodes.
 */
import type { GraphView } from './view.ts';

export interface LayoutColumn {
  pos: number;
  token: string;
  /** Graph x of the column's left edge, centre and right edge. */
  x0: number;
  center: number;
  x1: number;
}

export interface LayoutRow {
  row: number;
  /** "Emb", "L0" … "L{n−1}", "Logit". */
  label: string;
  y: number;
}

export interface ViewLayout {
  /** Graph coordinates, y up; NaN for nodes that are not laid out. */
  x: Float32Array; // [n]
  y: Float32Array; // [n]
  columns: LayoutColumn[]; // [nPos]
  rows: LayoutRow[]; // [nRows]
  width: number;
  height: number;
}

export interface LayoutOptions {
  /** Most sub-rows a crowded (layer, position) cell stacks before it widens its column. */
  maxSubRows?: number;
  /** Gap between columns, in node slots. */
  columnGap?: number;
  /** Narrowest column, in node slots, so that short prompts still have room for their token labels. */
  minColumnSlots?: number;
  /**
   * Width ÷ height of the viewport: a layout narrower than that spreads its columns apart to fill it, so that
   * short prompts get readable columns. Absent, columns are as narrow as the nodes allow.
   */
  aspect?: number;
}

/**
 * Every kept node in its (layer, position) cell, strongest first; error nodes at the right end of the cell so
 * they never mix with features. Column widths follow the most crowded cell of each column.
 */
export function layoutView(view: GraphView, kept: Uint8Array | null, opts: LayoutOptions = {}): ViewLayout {
  const maxSubRows = opts.maxSubRows ?? 3;
  const gap = opts.columnGap ?? 1.5;
  const { nPos, nRows } = view;
  const cells = new Map<number, number[]>(); // row·nPos + pos → nodes (errors excluded)
  const errors = new Map<number, number[]>();
  for (let i = 0; i < view.n; i++) {
    if (kept && !kept[i]) continue;
    const key = view.row[i] * nPos + view.ctxIdx[i];
    const into = view.kinds[i] === 'error' ? errors : cells;
    const list = into.get(key);
    if (list) list.push(i);
    else into.set(key, [i]);
  }
  const slots = new Int32Array(nPos).fill(opts.minColumnSlots ?? 2); // non-error slots per sub-row
  const errSlots = new Int32Array(nPos);
  for (const [key, list] of cells) {
    const p = key % nPos;
    slots[p] = Math.max(slots[p], Math.ceil(list.length / maxSubRows));
  }
  for (const [key, list] of errors) errSlots[key % nPos] = Math.max(errSlots[key % nPos], list.length);
  let subRows = 1;
  for (const [key, list] of cells) subRows = Math.max(subRows, Math.ceil(list.length / slots[key % nPos]));
  const bandHeight = subRows + 1;

  const columns: LayoutColumn[] = [];
  let x = 0;
  for (let p = 0; p < nPos; p++) {
    const w = slots[p] + errSlots[p];
    columns.push({ pos: p, token: view.promptTokens[p], x0: x, center: x + (w - 1) / 2, x1: x + w - 1 });
    x += w + gap;
  }
  const rows: LayoutRow[] = Array.from({ length: nRows }, (_, r) => ({
    row: r,
    label: r === 0 ? 'Emb' : r === nRows - 1 ? 'Logit' : `L${r - 1}`,
    y: r * bandHeight,
  }));

  const lx = new Float32Array(view.n).fill(Number.NaN);
  const ly = new Float32Array(view.n).fill(Number.NaN);
  const byStrength = (a: number, b: number) => view.influence[b] - view.influence[a] || a - b;
  for (const [key, list] of cells) {
    const r = Math.floor(key / nPos);
    const p = key % nPos;
    list.sort(byStrength);
    const perRow = slots[p];
    const nSub = Math.ceil(list.length / perRow);
    list.forEach((i, j) => {
      const sub = Math.floor(j / perRow);
      const inRow = sub === nSub - 1 ? list.length - sub * perRow : perRow;
      lx[i] = columns[p].x0 + (perRow - inRow) / 2 + (j % perRow);
      // Sub-rows stack around the band's line, strongest row nearest to it.
      ly[i] = rows[r].y + (sub - (nSub - 1) / 2);
    });
  }
  for (const [key, list] of errors) {
    const r = Math.floor(key / nPos);
    const p = key % nPos;
    list.sort(byStrength);
    list.forEach((i, j) => {
      lx[i] = columns[p].x0 + slots[p] + j;
      ly[i] = rows[r].y;
    });
  }
  const width = Math.max(0, x - gap - 1);
  const height = (nRows - 1) * bandHeight;
  // Spreading columns apart only lengthens distances, so nodes still never share a spot.
  const spread = opts.aspect && width > 0 ? Math.max(1, (opts.aspect * height) / width) : 1;
  if (spread > 1) {
    for (let i = 0; i < view.n; i++) lx[i] *= spread;
    for (const c of columns) {
      c.x0 *= spread;
      c.center *= spread;
      c.x1 *= spread;
    }
  }
  return { x: lx, y: ly, columns, rows, width: width * spread, height };
}

/**
 * A small drawing of a few nodes (the pinned subgraph): one line per layout row that holds any of them, ordered
 * by position then strength; coordinates in [0, 1] with y up. Returns coordinates aligned with `nodes`.
 */
export function compactLayout(
  view: GraphView,
  nodes: readonly number[],
): { x: Float32Array; y: Float32Array } {
  const x = new Float32Array(nodes.length);
  const y = new Float32Array(nodes.length);
  const usedRows = [...new Set(nodes.map((i) => view.row[i]))].sort((a, b) => a - b);
  const byRow = new Map<number, number[]>(usedRows.map((r) => [r, []]));
  nodes.forEach((i, j) => {
    byRow.get(view.row[i])!.push(j);
  });
  usedRows.forEach((r, level) => {
    const js = byRow.get(r)!;
    js.sort(
      (a, b) =>
        view.ctxIdx[nodes[a]] - view.ctxIdx[nodes[b]] ||
        view.influence[nodes[b]] - view.influence[nodes[a]] ||
        nodes[a] - nodes[b],
    );
    js.forEach((j, k) => {
      x[j] = (k + 1) / (js.length + 1);
      y[j] = usedRows.length === 1 ? 0.5 : level / (usedRows.length - 1);
    });
  });
  return { x, y };
}
