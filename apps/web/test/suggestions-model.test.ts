import type { ExplainableGraph } from '@loupe/core';
import { describe, expect, it } from 'vitest';
import { firstPass, suggestionKey } from '../src/components/investigation/suggestions-model.ts';

// Token "5" feeds two features at position 0 with the same edges (so explain groups them) and a third with the
// opposite sign; the features feed the logit.
const feature = (id: string, clerp: string) => ({
  node_id: id,
  feature_type: 'cross layer transcoder',
  layer: id.split('_')[0],
  ctx_idx: 0,
  clerp,
});
const graph: ExplainableGraph = {
  metadata: { prompt_tokens: ['5'] },
  nodes: [
    { node_id: 'E_7_0', feature_type: 'embedding', layer: 'E', ctx_idx: 0 },
    feature('1_3_0', 'digit five'),
    feature('1_4_0', 'digit five again'),
    feature('2_9_0', 'other'),
    { node_id: '27_0', feature_type: 'logit', layer: '3', ctx_idx: 0, clerp: 'Output "5"', token_prob: 0.9 },
  ],
  links: [
    { source: 'E_7_0', target: '1_3_0', weight: 1 },
    { source: 'E_7_0', target: '1_4_0', weight: 0.8 },
    { source: 'E_7_0', target: '2_9_0', weight: -0.5 },
    { source: '1_3_0', target: '27_0', weight: 2 },
    { source: '1_4_0', target: '27_0', weight: 1.5 },
    { source: '2_9_0', target: '27_0', weight: 0.3 },
  ],
};

describe('first-pass suggestions', () => {
  it('keys a suggestion by its member set, whatever the order', () => {
    expect(suggestionKey(['1_3_0', '1_4_0'])).toBe(suggestionKey(['1_4_0', '1_3_0']));
    expect(suggestionKey(['1_3_0', '1_4_0'])).not.toBe(suggestionKey(['1_3_0', '2_9_0']));
    expect(suggestionKey(['a'])).toMatch(/^sg-[0-9a-f]{16}$/);
  });

  it("proposes the alike features as one suggestion, labelled with the team's labels when set", () => {
    const plain = firstPass(graph, new Map());
    expect(plain.suggestions.map((s) => [...s.members].sort())).toEqual([['1_3_0', '1_4_0']]);
    expect(plain.suggestions[0].key).toBe(suggestionKey(['1_3_0', '1_4_0']));
    expect(plain.suggestions[0].label).toContain('digit');
    expect(plain.explanation.target.node_id).toBe('27_0');

    const team = firstPass(
      graph,
      new Map([
        ['1:3', 'carry the ones digit'],
        ['1:4', 'ones digit is five'],
      ]),
    );
    expect(team.suggestions[0].label).toContain('ones');
    expect(team.suggestions[0].label).not.toContain('five again');
    expect(team.suggestions[0].key).toBe(plain.suggestions[0].key);
  });
});
