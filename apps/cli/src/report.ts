/**
 * What commands print for a person to read: the model's top next tokens, and the features of an attribution
 * graph that carry the most influence on its logits, with ids in the `LAYER:POS:FEATURE` form `intervene --set`
 * takes.
 */
import {
  type AttributionGraph,
  type GraphJson,
  type RankedGraphFeature,
  rankGraphFeatures,
  type Tokenizer,
  type TopToken,
  topTokens,
} from '@loupe/core';

/** `"95" 99.5%, "96" 0.3%` */
export function formatTopTokens(tokens: readonly { id: number; token?: string; prob: number }[]): string {
  return tokens
    .map((t) => `${JSON.stringify(t.token ?? String(t.id))} ${(100 * t.prob).toFixed(1)}%`)
    .join(', ');
}

/** The k most likely next tokens after the last position of `logits` [T, V]. */
export function nextTokens(
  logits: { shape: readonly number[]; data: Float32Array },
  k: number,
  tok?: Tokenizer,
): TopToken[] {
  const [T, V] = logits.shape;
  return topTokens(logits.data.subarray((T - 1) * V, T * V), k, tok);
}

export type RankedFeature = Pick<
  RankedGraphFeature,
  'layer' | 'pos' | 'feature' | 'activation' | 'influence'
>;

/** The graph's k most influential selected features (see rankGraphFeatures, which `influence` is passed to). */
export function topFeatures(graph: AttributionGraph, k: number, influence?: Float64Array): RankedFeature[] {
  return rankGraphFeatures(graph, influence).features.slice(0, k);
}

/** One line per feature: `  2:4:1187  influence 12.3%  activation 4.56  at "="` */
export function formatFeatures(
  features: readonly RankedFeature[],
  tokenAt: (pos: number) => string,
): string[] {
  const ids = features.map((f) => `${f.layer}:${f.pos}:${f.feature}`);
  const width = Math.max(0, ...ids.map((s) => s.length));
  return features.map(
    (f, i) =>
      `  ${ids[i].padEnd(width)}  influence ${(100 * f.influence).toFixed(1).padStart(4)}%  activation ${f.activation.toPrecision(3).padStart(6)}  at ${JSON.stringify(tokenAt(f.pos))}`,
  );
}

/** `scores: replacement 0.912, completeness 0.874` and the pruning line, from the graph JSON's extension. */
export function formatGraphSummary(json: GraphJson): string[] {
  const lines: string[] = [];
  const sc = json.loupe?.scores;
  const fmt = (x: number | null) => (x === null ? 'n/a' : x.toFixed(3));
  if (sc) lines.push(`scores: replacement ${fmt(sc.replacement)}, completeness ${fmt(sc.completeness)}`);
  const p = json.loupe?.pruning;
  if (p) {
    lines.push(
      `pruning (node threshold ${p.node_threshold}, edge threshold ${p.edge_threshold}): nodes ${p.nodes.before} → ${p.nodes.after}, links ${p.links.before} → ${p.links.after}`,
    );
  }
  return lines;
}
