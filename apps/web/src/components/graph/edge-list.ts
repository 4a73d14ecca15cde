import { type GraphView, strongestEdges, type ViewEdge } from '@loupe/core';

/** A node's strongest links one way at the current pruning, and how many links it has that way in the full graph. */
export interface NodeEdges {
  shown: ViewEdge[];
  /** Links this way before pruning: when none are shown but some exist, they were all pruned. */
  total: number;
}

export function nodeEdges(
  view: GraphView,
  node: number,
  direction: 'in' | 'out',
  limit: number,
  edgeMask: Uint8Array | null, // [nnz], 1 = kept; null shows every link
): NodeEdges {
  const total =
    direction === 'in'
      ? view.rowPtr[node + 1] - view.rowPtr[node]
      : view.outPtr[node + 1] - view.outPtr[node];
  return { shown: strongestEdges(view, node, direction, limit, edgeMask), total };
}

/** What an empty list says: a node without links, or one whose links the thresholds hide. */
export function emptyEdgesText(direction: 'in' | 'out', total: number): string {
  if (total === 0) return direction === 'in' ? 'No inputs in this graph' : 'No outputs in this graph';
  const noun = direction === 'in' ? 'input' : 'output';
  return total === 1
    ? `Its 1 ${noun} is pruned at the current thresholds`
    : `All ${total} ${noun}s are pruned at the current thresholds`;
}
