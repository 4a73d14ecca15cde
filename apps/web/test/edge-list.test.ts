import { buildGraphView } from '@loupe/core';
import { describe, expect, it } from 'vitest';
import { emptyEdgesText, nodeEdges } from '../src/components/graph/edge-list.ts';

// Token "a" feeds two features at layer 1; the first feeds the logit. Node order: E, f1, f2, logit.
const view = buildGraphView({
  metadata: { prompt_tokens: ['a'] },
  nodes: [
    { node_id: 'E_0', feature_type: 'embedding', layer: 'E', ctx_idx: 0, clerp: '' },
    {
      node_id: '1_5_0',
      feature_type: 'cross layer transcoder',
      layer: '1',
      feature: 5,
      ctx_idx: 0,
      clerp: '',
    },
    {
      node_id: '1_6_0',
      feature_type: 'cross layer transcoder',
      layer: '1',
      feature: 6,
      ctx_idx: 0,
      clerp: '',
    },
    { node_id: 'L_42', feature_type: 'logit', layer: '2', ctx_idx: 0, clerp: 'b', token_prob: 0.9 },
  ],
  links: [
    { source: 'E_0', target: '1_5_0', weight: 0.3 },
    { source: 'E_0', target: '1_6_0', weight: -0.2 },
    { source: '1_5_0', target: 'L_42', weight: 0.7 },
  ],
});

describe("the node panel's link lists", () => {
  it('count the links that exist beside the ones the pruning keeps', () => {
    const e = view.index.get('E_0') as number;
    const keepNone = new Uint8Array(view.weights.length);
    expect(nodeEdges(view, e, 'out', 8, null).shown.map((x) => view.ids[x.node])).toEqual(['1_5_0', '1_6_0']);
    expect(nodeEdges(view, e, 'out', 8, keepNone)).toEqual({ shown: [], total: 2 });
    expect(nodeEdges(view, e, 'in', 8, null)).toEqual({ shown: [], total: 0 });
    const logit = view.index.get('L_42') as number;
    expect(nodeEdges(view, logit, 'in', 8, keepNone).total).toBe(1);
  });

  it('say when links are pruned rather than absent', () => {
    expect(emptyEdgesText('out', 2)).toBe('All 2 outputs are pruned at the current thresholds');
    expect(emptyEdgesText('in', 1)).toBe('Its 1 input is pruned at the current thresholds');
    expect(emptyEdgesText('in', 0)).toBe('No inputs in this graph');
    expect(emptyEdgesText('out', 0)).toBe('No outputs in this graph');
  });
});
