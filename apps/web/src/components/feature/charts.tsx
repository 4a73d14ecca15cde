'use client';

import * as Plot from '@observablehq/plot';
import { useEffect, useRef } from 'react';

/**
 * The activation-density histogram: the index's equal bins over [0, act_max], with the quantile values the
 * examples were drawn at marked as rules. Drawn as SVG by Observable Plot in the browser.
 */
export function DensityHistogram({
  histogram,
  actMax,
  quantiles,
  width,
}: {
  histogram: readonly number[];
  actMax: number;
  quantiles: readonly number[];
  width: number;
}) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el || histogram.length === 0) return;
    const step = actMax / histogram.length;
    const bins = histogram.map((count, i) => ({ x1: i * step, x2: (i + 1) * step, count }));
    const chart = Plot.plot({
      width,
      height: 120,
      marginLeft: 40,
      style: { background: 'transparent', color: 'currentColor', fontSize: '10px' },
      x: { label: 'activation' },
      y: { label: 'count', grid: true, type: 'sqrt' },
      marks: [
        Plot.rectY(bins, { x1: 'x1', x2: 'x2', y: 'count', fill: 'var(--accent)', inset: 0.5 }),
        Plot.ruleX(
          quantiles.filter((q) => q > 0 && q <= actMax),
          { stroke: 'var(--muted)', strokeDasharray: '2,2' },
        ),
        Plot.ruleY([0]),
      ],
    });
    el.replaceChildren(chart);
    return () => chart.remove();
  }, [histogram, actMax, quantiles, width]);
  return <div ref={box} role="img" aria-label="Activation density histogram" className="chart" />;
}

/**
 * Promoted and suppressed output tokens as diverging bars. The index keeps each side's tokens in rank order
 * without their logit values, so a bar's length is the token's rank strength (first = longest), not a logit.
 */
export function LogitBars({
  top,
  bottom,
  width,
}: {
  top: readonly string[];
  bottom: readonly string[];
  width: number;
}) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el || top.length + bottom.length === 0) return;
    const n = Math.max(top.length, bottom.length);
    const rows = [
      ...top.map((token, i) => ({ token: show(token), rank: i + 1, v: n - i, side: 'promotes' })),
      ...bottom.map((token, i) => ({ token: show(token), rank: i + 1, v: -(n - i), side: 'suppresses' })),
    ];
    const chart = Plot.plot({
      width,
      height: 16 * rows.length + 30,
      marginLeft: 70,
      style: { background: 'transparent', color: 'currentColor', fontSize: '10px' },
      x: { label: '← suppresses · rank · promotes →', ticks: [] },
      y: { label: null, domain: rows.map((r) => `${r.side === 'promotes' ? '+' : '−'}${r.rank} ${r.token}`) },
      color: { domain: ['promotes', 'suppresses'], range: ['#2f7de1', '#d9443f'] },
      marks: [
        Plot.barX(rows, {
          y: (r) => `${r.side === 'promotes' ? '+' : '−'}${r.rank} ${r.token}`,
          x: 'v',
          fill: 'side',
          title: (r) => `${r.side} "${r.token}" (rank ${r.rank})`,
        }),
        Plot.ruleX([0]),
      ],
    });
    el.replaceChildren(chart);
    return () => chart.remove();
  }, [top, bottom, width]);
  return <div ref={box} role="img" aria-label="Top and bottom logit effects" className="chart" />;
}

/** A token as text a reader can see: spaces and newlines made visible. */
export function show(token: string): string {
  return token.replace(/\n/g, '⏎').replace(/^ /, '·');
}
