/**
 * Ranking a graph's feature nodes by their influence on its logit targets: the list a person reads first, shared
 * by the CLI's `attribute --top-features` and the case studies so that both rank the same way.
 */
import { graphLayout, logitWeights, nodeAt } from '../attribution/graph.ts';
import { nodeInfluence } from '../attribution/influence.ts';
import type { AttributionGraph } from '../attribution/graph.ts';

export interface RankedGraphFeature {
  layer: number;
  pos: number;
  feature: number;
  activation: number;
  /** Share of the graph's total non-logit influence on the weighted logits, in [0, 1]. */
  influence: number;
  /** 0 = most influential feature of the graph. */
  rank: number;
  /** Node index in the graph's adjacency. */
  node: number;
}

export interface GraphFeatureRanking {
  /** Every selected feature node, most influential first. */
  features: RankedGraphFeature[];
  /** Influence of every node on the logits weighted by their probabilities, [n]. */
  influence: Float64Array;
}

/**
 * Every selected feature of `graph`, ranked by influence on its logit targets (weighted by their probabilities).
 * `influence`: that node influence when the caller has it already (createGraphJsonWithPruning's pruning).
 */
export function rankGraphFeatures(graph: AttributionGraph, influence?: Float64Array): GraphFeatureRanking {
  const layout = graphLayout(graph);
  const n = graph.adjacency.n;
  if (influence && influence.length !== n)
    throw new Error(`rankGraphFeatures: ${influence.length} influences for a graph of ${n} nodes`);
  influence ??= nodeInfluence(graph.adjacency, logitWeights(n, graph.logitProbabilities));
  let total = 0;
  for (let i = 0; i < n; i++) if (nodeAt(layout, i).kind !== 'logit') total += influence[i];
  const features: RankedGraphFeature[] = [];
  for (let i = 0; i < layout.nFeatures; i++) {
    const a = graph.selectedFeatures[i];
    features.push({
      layer: graph.activeFeatures[3 * a],
      pos: graph.activeFeatures[3 * a + 1],
      feature: graph.activeFeatures[3 * a + 2],
      activation: graph.activationValues[a],
      influence: total > 0 ? influence[i] / total : 0,
      rank: 0,
      node: i,
    });
  }
  features.sort((x, y) => y.influence - x.influence);
  features.forEach((f, r) => {
    f.rank = r;
  });
  return { features, influence };
}
