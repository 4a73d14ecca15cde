/**
 * Features that separate prompt set A from prompt set B: for every feature, its activation on each prompt (at
 * one position) compared across the sets by two effect sizes.
 * - AUC: the probability that a random A prompt activates it more than a random B prompt (ties count half);
 *   1 or 0 is a perfect separation, 0.5 none. It does not care about scale or outliers.
 * - Cohen's d: (mean_A − mean_B) / pooled standard deviation, the size of the difference in units of the
 *   spread within the sets.
 * Features are ranked by |AUC − 0.5|, then |d|.
 */
import type { PositionActivations } from './activations.ts';

export interface FeatureContrast {
  layer: number;
  feature: number;
  meanA: number;
  meanB: number;
  /** Fraction of the prompts of each set on which the feature is active. */
  activeA: number;
  activeB: number;
  auc: number;
  /** Cohen's d; ±Infinity when both sets are constant and differ. */
  d: number;
}

/** P(a > b) + ½ P(a = b) over all pairs. */
export function pairwiseAuc(a: readonly number[], b: readonly number[]): number {
  let wins = 0;
  for (const x of a) for (const y of b) wins += x > y ? 1 : x === y ? 0.5 : 0;
  return wins / (a.length * b.length);
}

/** Cohen's d with the pooled sample standard deviation; needs two values on at least one side. */
export function cohensD(a: readonly number[], b: readonly number[]): number {
  const mean = (xs: readonly number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
  const ma = mean(a);
  const mb = mean(b);
  const ss = (xs: readonly number[], m: number) => xs.reduce((s, x) => s + (x - m) ** 2, 0);
  const dof = a.length + b.length - 2;
  const sd = Math.sqrt((ss(a, ma) + ss(b, mb)) / dof);
  if (sd === 0) return ma === mb ? 0 : ma > mb ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
  return (ma - mb) / sd;
}

export function contrastFeatures(
  a: PositionActivations,
  b: PositionActivations,
  { top = 20 }: { top?: number } = {},
): FeatureContrast[] {
  if (a.rows.length === 0 || b.rows.length === 0) throw new Error('contrast: both prompt sets need a prompt');
  if (a.rows.length + b.rows.length < 3)
    throw new Error('contrast: the two sets need three prompts together (one set with two) for a spread');
  if (a.dTc !== b.dTc || a.layers.join() !== b.layers.join())
    throw new Error('contrast: the two sets come from different dictionaries');
  const n = a.layers.length * a.dTc;
  const out: FeatureContrast[] = [];
  for (let i = 0; i < n; i++) {
    const xa = a.rows.map((r) => r[i]);
    const xb = b.rows.map((r) => r[i]);
    if (xa.every((x) => x === 0) && xb.every((x) => x === 0)) continue;
    const active = (xs: number[]) => xs.filter((x) => x !== 0).length / xs.length;
    const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
    out.push({
      layer: a.layers[Math.floor(i / a.dTc)],
      feature: i % a.dTc,
      meanA: mean(xa),
      meanB: mean(xb),
      activeA: active(xa),
      activeB: active(xb),
      auc: pairwiseAuc(xa, xb),
      d: cohensD(xa, xb),
    });
  }
  out.sort((x, y) => Math.abs(y.auc - 0.5) - Math.abs(x.auc - 0.5) || Math.abs(y.d) - Math.abs(x.d));
  return out.slice(0, top);
}
