/**
 * Does the automatic first pass find the supernodes a careful analysis builds? Criterion, fixed before any
 * run: a reference supernode (its members that the pruned graph keeps) is matched when some proposal's member
 * set has Jaccard ≥ 0.5 with it; reported are the share matched and the mean best Jaccard.
 */
import { createGraphJson, explainGraph } from '@loupe/core';
import type { TracedGraph } from './query.ts';

export const MATCH_JACCARD = 0.5;

const jaccard = (a: ReadonlySet<string>, b: ReadonlySet<string>): number => {
  let both = 0;
  for (const x of a) if (b.has(x)) both++;
  const either = a.size + b.size - both;
  return either === 0 ? 0 : both / either;
};

/** Best Jaccard of each reference with any proposal (0 when there is none). */
export function bestJaccards(
  references: readonly ReadonlySet<string>[],
  proposals: readonly ReadonlySet<string>[],
): number[] {
  return references.map((r) => proposals.reduce((best, p) => Math.max(best, jaccard(r, p)), 0));
}

export interface FirstPassMatch {
  /** Per reference: members the pruned graph keeps, and the best Jaccard with a proposal. */
  references: { label: string; inGraph: number; bestJaccard: number }[];
  proposals: number;
}

/**
 * explain's proposals on the graph JSON the workspace would store (default pruning), against reference
 * supernodes given as graph node ids (`layer_feature_pos`).
 */
export function firstPassMatch(
  traced: TracedGraph,
  /** Names the dictionary in the graph's metadata. */
  scan: string,
  decodeToken: (id: number) => string,
  references: readonly { label: string; members: ReadonlySet<string> }[],
): FirstPassMatch {
  const json = createGraphJson(traced.graph, { slug: 'case-study', scan, decodeToken });
  const kept = new Set(json.nodes.map((n) => n.node_id));
  const refs = references.map((r) => ({
    label: r.label,
    members: new Set([...r.members].filter((m) => kept.has(m))),
  }));
  const proposals = explainGraph(json).supernodes.map((p) => new Set(p.members));
  const best = bestJaccards(
    refs.map((r) => r.members),
    proposals,
  );
  return {
    references: refs.map((r, i) => ({ label: r.label, inGraph: r.members.size, bestJaccard: best[i] })),
    proposals: proposals.length,
  };
}
