import type { GraphView, LoupeExtensions } from '@loupe/core';

export type QkEdge = LoupeExtensions['qk'][number];
export type QkSource = QkEdge['pairs'][number]['q'];

/** How a node takes part in a recorded attention edge. */
export type QkRole = 'into' | 'query' | 'key';

export interface NodeQkEdge {
  /** Index into the graph's `loupe.qk`. */
  edge: number;
  /** Its roles, in the order into, query, key (a token can be on both sides). */
  roles: QkRole[];
}

/**
 * The recorded attention edges a node takes part in: the node the edge was ranked into, or a source on the
 * query or key side of its decomposition (pairs and marginals alike).
 */
export function nodeQkEdges(qk: readonly QkEdge[], nodeId: string): NodeQkEdge[] {
  const out: NodeQkEdge[] = [];
  qk.forEach((e, edge) => {
    const roles: QkRole[] = [];
    if (e.into?.node_id === nodeId) roles.push('into');
    const onQuery =
      e.pairs.some((p) => p.q.node_id === nodeId) || e.query_top.some((t) => t.source.node_id === nodeId);
    const onKey =
      e.pairs.some((p) => p.k.node_id === nodeId) || e.key_top.some((t) => t.source.node_id === nodeId);
    if (onQuery) roles.push('query');
    if (onKey) roles.push('key');
    if (roles.length > 0) out.push({ edge, roles });
  });
  return out;
}

export interface QkBar {
  q: QkSource;
  k: QkSource;
  value: number;
  /** |value| over the largest |value| shown, in [0, 1]: the bar's length. */
  extent: number;
}

/** The edge's strongest query × key pairs by |value|, with bar lengths relative to the largest. */
export function qkBars(edge: QkEdge, limit: number): QkBar[] {
  const top = [...edge.pairs].sort((a, b) => Math.abs(b.value) - Math.abs(a.value)).slice(0, limit);
  const max = top.reduce((m, p) => Math.max(m, Math.abs(p.value)), 0);
  return top.map((p) => ({ ...p, extent: max > 0 ? Math.abs(p.value) / max : 0 }));
}

/** "L1 H0" with the query and key positions and tokens: how an edge is named in lists. */
export function qkEdgeTitle(view: GraphView, e: QkEdge): string {
  const tok = (p: number) => view.promptTokens[p] ?? `[${p}]`;
  return `L${e.layer} H${e.head} · ${e.query} “${tok(e.query)}” → ${e.key} “${tok(e.key)}”`;
}

/**
 * The node a recorded edge is found by: the one it was ranked into, else the first source the graph holds in
 * its strongest pairs, then in its query-side and key-side totals.
 */
export function qkEdgeAnchor(view: GraphView, e: QkEdge): string | null {
  if (e.into && view.index.has(e.into.node_id)) return e.into.node_id;
  const sources = [
    ...qkBars(e, e.pairs.length).flatMap((p) => [p.q, p.k]),
    ...e.query_top.map((t) => t.source),
    ...e.key_top.map((t) => t.source),
  ];
  return sources.find((s) => s.node_id !== undefined && view.index.has(s.node_id))?.node_id ?? null;
}

/** The inhibition an inactive node is shown for: its most negative links in the file, strongest first. */
export function inhibitors(view: GraphView, node: number, limit: number): { node: number; weight: number }[] {
  const out: { node: number; weight: number }[] = [];
  for (let k = view.rowPtr[node]; k < view.rowPtr[node + 1]; k++)
    if (view.weights[k] < 0) out.push({ node: view.colIdx[k], weight: view.weights[k] });
  out.sort((a, b) => a.weight - b.weight || a.node - b.node);
  return out.slice(0, limit);
}
