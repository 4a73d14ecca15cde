import { buildGraphView } from '@loupe/core';
import { describe, expect, it } from 'vitest';
import {
  inhibitors,
  nodeQkEdges,
  type QkEdge,
  qkBars,
  qkEdgeAnchor,
  qkEdgeTitle,
} from '../src/components/graph/qk-edges.ts';

// Tokens "a b"; a layer-0 feature at each position, a layer-1 feature at position 1 and an inactive layer-1
// feature it inhibits; the logit reads the active layer-1 feature.
const feature = (layer: number, f: number, pos: number, inactive = false) => ({
  node_id: `${layer}_${f}_${pos}`,
  feature_type: 'per layer transcoder',
  layer: String(layer),
  feature: f,
  ctx_idx: pos,
  clerp: '',
  ...(inactive ? { inactive: true as const, activation: 0 } : {}),
});
const view = buildGraphView({
  metadata: { prompt_tokens: ['a', 'b'] },
  nodes: [
    { node_id: 'E_10_0', feature_type: 'embedding', layer: 'E', ctx_idx: 0, clerp: '' },
    { node_id: 'E_11_1', feature_type: 'embedding', layer: 'E', ctx_idx: 1, clerp: '' },
    feature(0, 3, 0),
    feature(0, 4, 1),
    feature(1, 7, 1),
    feature(1, 9, 1, true),
    { node_id: '2_42_1', feature_type: 'logit', layer: '2', ctx_idx: 1, clerp: 'c', token_prob: 1 },
  ],
  links: [
    { source: 'E_10_0', target: '0_3_0', weight: 1 },
    { source: 'E_11_1', target: '0_4_1', weight: 1 },
    { source: '0_4_1', target: '1_7_1', weight: 0.5 },
    { source: '0_3_0', target: '1_7_1', weight: 0.2 },
    { source: '1_7_1', target: '2_42_1', weight: 2 },
    { source: '0_4_1', target: '1_9_1', weight: -0.8 },
    { source: '0_3_0', target: '1_9_1', weight: -1.5 },
    { source: 'E_11_1', target: '1_9_1', weight: 0.1 },
  ],
});

const src = (node_id: string, kind: 'feature' | 'token' = 'feature') => ({ kind, node_id, in_graph: true });
const constant = { kind: 'constant' as const };
const edges: QkEdge[] = [
  {
    layer: 1,
    head: 2,
    query: 1,
    key: 0,
    score: 1.5,
    pattern: 0.7,
    into: { node_id: '1_7_1', carried: 0.3 },
    pairs: [
      { q: src('0_4_1'), k: src('0_3_0'), value: 0.2 },
      { q: constant, k: src('E_10_0', 'token'), value: -0.9 },
      { q: src('0_4_1'), k: { kind: 'feature', node_id: '0_8_0', in_graph: false }, value: 0.45 },
    ],
    query_top: [{ source: src('0_4_1'), value: 0.6 }],
    key_top: [{ source: src('0_3_0'), value: 0.25 }],
  },
  {
    layer: 0,
    head: 0,
    query: 1,
    key: 1,
    score: 0.1,
    pattern: 0.5,
    pairs: [{ q: { kind: 'feature', node_id: '0_8_0', in_graph: false }, k: constant, value: 0.1 }],
    query_top: [],
    key_top: [{ source: src('E_11_1', 'token'), value: 0.1 }],
  },
];

describe('attention edges in the node panel', () => {
  it('finds the edges a node takes part in and its roles', () => {
    expect(nodeQkEdges(edges, '1_7_1')).toEqual([{ edge: 0, roles: ['into'] }]);
    expect(nodeQkEdges(edges, '0_4_1')).toEqual([{ edge: 0, roles: ['query'] }]);
    expect(nodeQkEdges(edges, 'E_10_0')).toEqual([{ edge: 0, roles: ['key'] }]);
    expect(nodeQkEdges(edges, 'E_11_1')).toEqual([{ edge: 1, roles: ['key'] }]);
    expect(nodeQkEdges(edges, '2_42_1')).toEqual([]);
    expect(nodeQkEdges([], '0_4_1')).toEqual([]);
  });

  it('orders pairs by |value| and scales bars to the largest', () => {
    const bars = qkBars(edges[0], 2);
    expect(bars.map((b) => b.value)).toEqual([-0.9, 0.45]);
    expect(bars.map((b) => b.extent)).toEqual([1, 0.5]);
    expect(qkBars({ ...edges[0], pairs: [] }, 8)).toEqual([]);
  });

  it('names edges by head and positions and finds each by a node the graph holds', () => {
    expect(qkEdgeTitle(view, edges[0])).toBe('L1 H2 · 1 “b” → 0 “a”');
    expect(qkEdgeAnchor(view, edges[0])).toBe('1_7_1');
    // Without an into node: the first source the graph holds, pairs first (0_8_0 is pruned), then the totals.
    expect(qkEdgeAnchor(view, edges[1])).toBe('E_11_1');
    expect(qkEdgeAnchor(view, { ...edges[1], key_top: [] })).toBeNull();
    expect(qkEdgeAnchor(view, { ...edges[0], into: undefined })).toBe('E_10_0');
  });

  it('names an inactive feature’s inhibitors, most negative first', () => {
    const i = view.index.get('1_9_1') as number;
    expect(view.inactive[i]).toBe(1);
    expect(inhibitors(view, i, 3).map((b) => [view.ids[b.node], b.weight])).toEqual([
      ['0_3_0', -1.5],
      ['0_4_1', expect.closeTo(-0.8, 6)],
    ]);
  });
});
