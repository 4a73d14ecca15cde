import { describe, expect, it } from 'vitest';
import {
  type Box,
  type LabelRequest,
  labelBox,
  placeLabels,
} from '../src/components/graph/label-placement.ts';

const overlap = (a: Box, b: Box) => a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;
const hitsCircle = (b: Box, x: number, y: number, r: number) =>
  Math.hypot(x - Math.max(b.x0, Math.min(x, b.x1)), y - Math.max(b.y0, Math.min(y, b.y1))) < r;

describe('label placement for marked nodes', () => {
  it('a lone label goes to the right of its ring', () => {
    const none = { x: new Float32Array(), y: new Float32Array(), r: new Float32Array() };
    const l: LabelRequest = { x: 100, y: 100, r: 8, w: 50, h: 16, force: false };
    expect(placeLabels([l], none, { width: 800, height: 600 })).toEqual(['right']);
    expect(labelBox(l, 'right')).toEqual({ x0: 112, y0: 92, x1: 162, y1: 108 });
  });

  it('a dozen marked nodes packed on one row: shown labels overlap no label and no node; the rest hide', () => {
    // Two rows of nodes 24 px apart (a layer at one position), the first row marked, as a group highlight is.
    const xs: number[] = [];
    const ys: number[] = [];
    for (let k = 0; k < 12; k++)
      for (const y of [300, 324]) {
        xs.push(200 + 24 * k);
        ys.push(y);
      }
    const circles = {
      x: Float32Array.from(xs),
      y: Float32Array.from(ys),
      r: Float32Array.from(xs, () => 7),
    };
    const labels: LabelRequest[] = Array.from({ length: 12 }, (_, k) => ({
      x: 200 + 24 * k,
      y: 300,
      r: 9,
      w: 52,
      h: 16,
      force: k === 5,
    }));
    const sides = placeLabels(labels, circles, { width: 800, height: 600 });
    expect(sides[5]).not.toBeNull();
    const shown = labels.flatMap((l, k) => (sides[k] ? [labelBox(l, sides[k])] : []));
    expect(shown.length).toBeGreaterThan(1);
    expect(sides.filter((s) => s === null).length).toBeGreaterThan(0);
    // The forced (selected) label is placed first, so it too keeps clear of what came after.
    for (let a = 0; a < shown.length; a++)
      for (let b = a + 1; b < shown.length; b++) expect(overlap(shown[a], shown[b])).toBe(false);
    labels.forEach((l, k) => {
      const side = sides[k];
      if (side === null || l.force) return;
      const box = labelBox(l, side);
      for (let i = 0; i < xs.length; i++) expect(hitsCircle(box, xs[i], ys[i], 7)).toBe(false);
    });
  });

  it('keeps labels inside the visible area, and the selection is shown even when nothing is clear', () => {
    const crowd = { x: Float32Array.of(790, 10), y: Float32Array.of(300, 300), r: Float32Array.of(200, 200) };
    const edge: LabelRequest = { x: 780, y: 300, r: 6, w: 60, h: 16, force: false };
    expect(placeLabels([edge], crowd, { width: 800, height: 600 })).toEqual([null]);
    expect(placeLabels([{ ...edge, force: true }], crowd, { width: 800, height: 600 })).toEqual(['left']);
  });
});
