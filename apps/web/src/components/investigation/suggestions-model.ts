import {
  type ExplainableGraph,
  explainGraph,
  type GraphExplanation,
  type ProposedSupernode,
} from '@loupe/core';
import { featureKeyOf } from '../graph/feature-key';

/** A proposed supernode with the id its review is saved under. */
export interface Suggestion extends ProposedSupernode {
  key: string;
}

export interface FirstPass {
  explanation: GraphExplanation;
  suggestions: Suggestion[];
}

/**
 * A proposal's id from its member set (FNV-1a, two 32-bit lanes): explain numbers its proposals by rank, which
 * moves when labels change, while the same features give the same id on every load and for every teammate.
 */
export function suggestionKey(members: readonly string[]): string {
  const text = [...members].sort().join(',');
  let a = 0x811c9dc5;
  let b = 0x01000193;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
  }
  const hex = (x: number) => (x >>> 0).toString(16).padStart(8, '0');
  return `sg-${hex(a)}${hex(b)}`;
}

/** Feature nodes' team labels (by "layer:index") replace the graph's own labels, so proposals read as the team does. */
export function withTeamLabels(
  g: ExplainableGraph,
  teamLabels: ReadonlyMap<string, string>,
): ExplainableGraph {
  if (teamLabels.size === 0) return g;
  return {
    ...g,
    nodes: g.nodes.map((n) => {
      const k = featureKeyOf(n.node_id);
      const label = k ? teamLabels.get(`${k.layer}:${k.featureIndex}`) : undefined;
      return label ? { ...n, clerp: label } : n;
    }),
  };
}

/** explain's first pass with each proposal keyed by its members. */
export function firstPass(g: ExplainableGraph, teamLabels: ReadonlyMap<string, string>): FirstPass {
  const explanation = explainGraph(withTeamLabels(g, teamLabels));
  return {
    explanation,
    suggestions: explanation.supernodes.map((s) => ({ ...s, key: suggestionKey(s.members) })),
  };
}
