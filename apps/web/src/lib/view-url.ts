'use client';

import { createParser, parseAsArrayOf, parseAsFloat, parseAsString, useQueryStates } from 'nuqs';

/** Sigma's camera as "x,y,ratio" with 4 decimals: short URLs, and sub-pixel differences do not matter. */
const parseAsCamera = createParser({
  parse(v: string) {
    const parts = v.split(',').map(Number);
    if (parts.length !== 3 || parts.some((x) => !Number.isFinite(x)) || parts[2] <= 0) return null;
    return { x: parts[0], y: parts[1], ratio: parts[2] };
  },
  serialize: (c: { x: number; y: number; ratio: number }) =>
    [c.x, c.y, c.ratio].map((x) => Number(x.toFixed(4))).join(','),
  eq: (a, b) => a.x === b.x && a.y === b.y && a.ratio === b.ratio,
});

/**
 * The explorer's view in the URL, so a copied link reproduces it: the selected node, the pinned nodes, the
 * pruning thresholds and the camera. Pins and thresholds fall back to the investigation's saved ones when the
 * URL has none; replace, not push, so the back button leaves the investigation instead of undoing each pan.
 */
export function useViewUrl() {
  return useQueryStates(
    {
      node: parseAsString,
      pins: parseAsArrayOf(parseAsString),
      nt: parseAsFloat,
      et: parseAsFloat,
      cam: parseAsCamera,
    },
    { history: 'replace' },
  );
}
