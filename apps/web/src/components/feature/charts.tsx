'use client';

import * as Plot from '@observablehq/plot';
import { useEffect, useMemo, useRef } from 'react';
import { type LogitBar, type Logits, logitBars } from './logit-bars';

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
 * Promoted and suppressed output tokens as diverging bars: promoted to the right, suppressed to the left,
 * each with its logit effect written at its end. An index without the effect values (see logitBars) is
 * drawn by rank, and the note under the chart says so.
 */
export function LogitBars({ logits, width }: { logits: Logits; width: number }) {
  const box = useRef<HTMLDivElement>(null);
  const { bars, byValue } = useMemo(() => logitBars(logits), [logits]);
  useEffect(() => {
    const el = box.current;
    if (!el || bars.length === 0) return;
    const y = (b: LogitBar) => `${b.side === 'promotes' ? '+' : '−'}${b.rank} ${show(b.token)}`;
    const lo = Math.min(0, ...bars.map((b) => b.v));
    const hi = Math.max(0, ...bars.map((b) => b.v));
    // Room beyond the longest bars for the numbers written at their ends.
    const pad = byValue ? 0.35 * (hi - lo || 1) : 0;
    const chart = Plot.plot({
      width,
      height: 16 * bars.length + 34,
      marginLeft: 70,
      style: { background: 'transparent', color: 'currentColor', fontSize: '10px' },
      x: byValue
        ? {
            label: '← suppresses · logit effect · promotes →',
            domain: [lo < 0 ? lo - pad : 0, hi > 0 ? hi + pad : 0],
            grid: true,
            ticks: 4,
          }
        : { label: '← suppresses · rank · promotes →', ticks: [] },
      y: { label: null, domain: bars.map(y) },
      color: { domain: ['promotes', 'suppresses'], range: ['#2f7de1', '#d9443f'] },
      marks: [
        Plot.barX(bars, {
          y,
          x: 'v',
          fill: 'side',
          title: (b: LogitBar) =>
            byValue
              ? `${b.side} "${b.token}": logit effect ${b.text}`
              : `${b.side} "${b.token}" (rank ${b.rank})`,
        }),
        Plot.ruleX([0]),
        ...(byValue
          ? [
              Plot.text(
                bars.filter((b) => b.v >= 0),
                { y, x: 'v', text: 'text', textAnchor: 'start', dx: 3 },
              ),
              Plot.text(
                bars.filter((b) => b.v < 0),
                { y, x: 'v', text: 'text', textAnchor: 'end', dx: -3 },
              ),
            ]
          : []),
      ],
    });
    el.replaceChildren(chart);
    return () => chart.remove();
  }, [bars, byValue, width]);
  return (
    <>
      <div ref={box} role="img" aria-label="Top and bottom logit effects" className="chart" />
      <p className="small muted">
        {byValue
          ? 'Bar length: the direct logit effect of the feature’s decoder row through the unembedding (its decoder-bias direction removed), in logits per unit of activation.'
          : 'This index stores no logit values, so bar length is rank (first = longest), not effect size.'}
      </p>
    </>
  );
}

/** A token as text a reader can see: spaces and newlines made visible. */
export function show(token: string): string {
  return token.replace(/\n/g, '⏎').replace(/^ /, '·');
}
