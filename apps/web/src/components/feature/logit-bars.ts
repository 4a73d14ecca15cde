import type { FeatureJson } from '@loupe/core';

/** One bar of the logit-effects chart: a promoted (top) or suppressed (bottom) output token. */
export interface LogitBar {
  token: string;
  side: 'promotes' | 'suppresses';
  /** 1 = the most promoted / most suppressed token. */
  rank: number;
  /** The bar's signed length: the logit effect, or ±(n − rank + 1) when the index has no values. */
  v: number;
  /** The number written beside the bar. */
  text: string;
}

export type Logits = Pick<
  FeatureJson,
  'top_logits' | 'bottom_logits' | 'top_logit_values' | 'bottom_logit_values'
>;

/** A logit effect with its sign, three significant digits: "+1.23", "−0.456". */
export function effectText(v: number): string {
  if (!Number.isFinite(v)) return '—';
  return `${v < 0 ? '−' : '+'}${Math.abs(v).toPrecision(3)}`;
}

/**
 * The bars of at most `n` tokens a side. An index that stores the effect values (top_logit_values /
 * bottom_logit_values) gives bars of their signed length; one that has only the ranked tokens (circuit-tracer's
 * records, older Loupe indexes) gives bars by rank, and `byValue` is false so the chart can say so.
 */
export function logitBars(f: Logits, n = 10): { bars: LogitBar[]; byValue: boolean } {
  const top = f.top_logits.slice(0, n);
  const bottom = f.bottom_logits.slice(0, n);
  const topValues = f.top_logit_values?.slice(0, n);
  const bottomValues = f.bottom_logit_values?.slice(0, n);
  const byValue = topValues?.length === top.length && bottomValues?.length === bottom.length;
  const longest = Math.max(top.length, bottom.length);
  const side = (
    tokens: readonly string[],
    values: readonly number[] | undefined,
    s: LogitBar['side'],
  ): LogitBar[] =>
    tokens.map((token, i) => {
      const rankLength = (s === 'promotes' ? 1 : -1) * (longest - i);
      const v = byValue && values ? values[i] : rankLength;
      return { token, side: s, rank: i + 1, v, text: byValue ? effectText(v) : `#${i + 1}` };
    });
  return {
    bars: [...side(top, topValues, 'promotes'), ...side(bottom, bottomValues, 'suppresses')],
    byValue,
  };
}
