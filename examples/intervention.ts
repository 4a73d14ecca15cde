/**
 * The intervention both the Node and the browser example run, and how they print its result, so that the
 * browser test can compare the two outputs line for line.
 */
import type { FeatureIntervention, InterventionResult, TopToken } from '@loupe/core';

export const PROMPT = '36+59=';

/** Layer 3's feature 1457 at the `=` (position 4; position 0 is the BOS), switched off. */
export const ZERO_FEATURE: FeatureIntervention = { layer: 3, pos: 4, feature: 1457, value: 0 };

const formatTop = (tokens: readonly TopToken[]) =>
  tokens.map((t) => `${JSON.stringify(t.token ?? String(t.id))} ${(100 * t.prob).toFixed(2)}%`).join(', ');

/** `before: "95" 78.34%, …` and `after: …` at the last position. */
export function resultLines(r: InterventionResult): string[] {
  const last = r.report.positions[r.report.positions.length - 1];
  return [`before: ${formatTop(last.clean)}`, `after:  ${formatTop(last.intervened)}`];
}
