/**
 * Does the automatic first pass find the supernodes a careful analysis builds? Criterion, fixed before any
 * run: a reference supernode (its members that the pruned graph keeps) is matched when some proposal's member
 * set has Jaccard ≥ 0.5 with it; reported are the share matched and the mean best Jaccard.
 */
import { createGraphJson, explainGraph } from '@loupe/core';
import type { Table } from './claims.ts';
import type { TracedGraph } from './query.ts';
import type { Subject } from './subject.ts';

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

/**
 * explain's proposals on the graph JSON the workspace would store (default pruning), against the supernodes
 * a study built by query (members as `nodeKey`s), as a results table.
 */
export function firstPassTable(
  s: Subject,
  traced: TracedGraph,
  prompt: string,
  supernodes: readonly { label: string; members: ReadonlySet<string> }[],
): Table {
  const json = createGraphJson(traced.graph, {
    slug: 'case-study',
    scan: s.name,
    decodeToken: (t) => s.tokenizer.decode([t]),
  });
  const kept = new Set(json.nodes.map((n) => n.node_id));
  // nodeKey is `layer:pos:feature`; the graph JSON's feature ids are `layer_feature_pos`.
  const refs = supernodes.map(
    (g) =>
      new Set(
        [...g.members]
          .map((k) => {
            const [layer, pos, feature] = k.split(':');
            return `${layer}_${feature}_${pos}`;
          })
          .filter((id) => kept.has(id)),
      ),
  );
  const proposals = explainGraph(json).supernodes.map((p) => new Set(p.members));
  const best = bestJaccards(refs, proposals);
  return {
    title: `The automatic first pass on ${JSON.stringify(prompt)}: best member Jaccard of explain's ${proposals.length} proposals with each query-built supernode (matched at ≥ ${MATCH_JACCARD}; members the pruned graph keeps)`,
    header: ['supernode', 'members in the pruned graph', 'best Jaccard', 'matched'],
    rows: supernodes.map((g, i) => [g.label, refs[i].size, best[i], best[i] >= MATCH_JACCARD ? 'yes' : 'no']),
    // Every member, also those the pruned graph drops: a retrace with other pruning may keep them.
    graph: {
      prompt,
      supernodes: supernodes.map((g) => ({ label: g.label, members: [...g.members].sort() })),
    },
  };
}
