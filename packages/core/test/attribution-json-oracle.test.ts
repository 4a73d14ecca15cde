/**
 * The graph JSON of a traced graph against a plain dense float64 transcription of circuit-tracer's pruning
 * (normalize_matrix, the power series of compute_influence, find_threshold by a full sort, prune_graph's
 * dangling-node loop) and of createGraphJson's node and link selection: the fast sparse path must keep the
 * same nodes and links, in the same order, with the same weights and scores to float64 rounding.
 */
import { describe, expect, it } from 'vitest';
import { rankGraphFeatures } from '../src/analysis/rank.ts';
import {
  type AttributionGraph,
  createGraphJson,
  createGraphJsonWithPruning,
  graphLayout,
  logitWeights,
  nodeAt,
  toDense,
} from '../src/attribution/index.ts';
import { attribute } from '../src/attribution/trace-attribute.ts';
import { initWeights } from '../src/model/init.ts';
import { Model } from '../src/model/model.ts';
import { nodeRuntime } from '../src/node/runtime.ts';
import { randomDictionary } from './attribution-trace-fixtures.ts';
import { refInfluence, refNormalize } from './graph-oracle.ts';
import { tinyConfig } from './model-configs.ts';

/** The smallest score of the shortest descending prefix holding a fraction q of the total. */
function threshold(scores: number[], q: number): number {
  const desc = scores.filter((x) => x > 0).sort((a, b) => b - a);
  if (desc.length === 0) return 0;
  const total = desc.reduce((s, x) => s + x, 0);
  let cum = 0;
  for (const x of desc) {
    cum += x;
    if (cum / total >= q) return x;
  }
  return desc[desc.length - 1];
}

interface Reference {
  nodes: Map<string, number | null>; // node id → cumulative influence score (null for logits)
  links: { source: string; target: string; weight: number }[];
  replacement: number;
  completeness: number;
  nonZero: number;
}

/** Loupe's node ids, written out from the layout. */
function nodeId(graph: AttributionGraph, i: number): string {
  const ref = nodeAt(graphLayout(graph), i);
  const T = graph.inputTokens.length;
  if (ref.kind === 'feature') {
    const [layer, pos, feat] = graph.activeFeatures.subarray(3 * graph.selectedFeatures[ref.selected]);
    return `${layer}_${feat}_${pos}`;
  }
  if (ref.kind === 'error') return `err_${ref.layer}_${ref.pos}`;
  if (ref.kind === 'token') return `E_${graph.inputTokens[ref.pos]}_${ref.pos}`;
  return `${graph.model.nLayers + 1}_${graph.logitTargets[ref.target].vocabIdx}_${T - 1}`;
}

function reference(graph: AttributionGraph, nodeThreshold: number, edgeThreshold: number): Reference {
  const layout = graphLayout(graph);
  const adj = toDense(graph.adjacency);
  const n = adj.n;
  const a = Float64Array.from(adj.data);
  const w = logitWeights(n, graph.logitProbabilities);
  const m = refNormalize(a, n);
  const infl = refInfluence(m, w, n);

  const kinds = Array.from({ length: n }, (_, i) => nodeAt(layout, i).kind);
  const alwaysKept = (i: number) => kinds[i] === 'token' || kinds[i] === 'logit';
  const nodeCut = threshold(Array.from(infl), nodeThreshold);
  const nodeMask = Array.from({ length: n }, (_, i) => alwaysKept(i) || infl[i] >= nodeCut);

  const pruned = a.map((v, i) => (nodeMask[Math.floor(i / n)] && nodeMask[i % n] ? v : 0));
  const mp = refNormalize(pruned, n);
  const ip = refInfluence(mp, w, n);
  const scores = mp.map((v, i) => v * (ip[Math.floor(i / n)] + w[Math.floor(i / n)]));
  const edgeCut = threshold(Array.from(scores), edgeThreshold);
  const edgeMask = Array.from(scores, (s, i) => pruned[i] !== 0 && s >= edgeCut);
  for (;;) {
    let changed = false;
    for (let i = 0; i < n; i++) {
      if (!nodeMask[i] || alwaysKept(i)) continue;
      let outs = false;
      let ins = false;
      for (let j = 0; j < n; j++) {
        outs ||= edgeMask[j * n + i];
        ins ||= edgeMask[i * n + j];
      }
      if (!outs || (kinds[i] === 'feature' && !ins)) {
        nodeMask[i] = false;
        changed = true;
        for (let j = 0; j < n; j++) edgeMask[j * n + i] = edgeMask[i * n + j] = false;
      }
    }
    if (!changed) break;
  }

  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => infl[y] - infl[x] || x - y);
  const total = infl.reduce((s, x) => s + x, 0);
  const cumulative = new Float64Array(n);
  let cum = 0;
  for (const i of order) cumulative[i] = (cum += infl[i]) / total;

  const connected = new Set<number>();
  const links: Reference['links'] = [];
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) {
      if (!edgeMask[r * n + c]) continue;
      connected.add(r).add(c);
      links.push({ source: nodeId(graph, c), target: nodeId(graph, r), weight: adj.data[r * n + c] });
    }
  }
  const nodes = new Map<string, number | null>();
  for (let i = 0; i < n; i++)
    if (nodeMask[i] && (connected.has(i) || alwaysKept(i)))
      nodes.set(nodeId(graph, i), kinds[i] === 'logit' ? null : cumulative[i]);

  const errs = (i: number) => kinds[i] === 'error';
  let tok = 0;
  let err = 0;
  for (let i = 0; i < n; i++) {
    if (kinds[i] === 'token') tok += infl[i];
    if (errs(i)) err += infl[i];
  }
  let num = 0;
  let den = 0;
  for (let r = 0; r < n; r++) {
    let fromErrors = 0;
    for (let c = 0; c < n; c++) if (errs(c)) fromErrors += m[r * n + c];
    num += (1 - fromErrors) * (infl[r] + w[r]);
    den += infl[r] + w[r];
  }
  const nonZero = a.reduce((s, v) => s + (v !== 0 ? 1 : 0), 0);
  return { nodes, links, replacement: tok / (tok + err), completeness: num / den, nonZero };
}

describe('graph JSON of a traced graph against a dense float64 transcription of the reference', () => {
  it('keeps the same nodes and links with the same weights, influences and scores', async () => {
    const config = { ...tinyConfig('llama'), nLayers: 3, bosTokenId: 1 };
    const model = await Model.create(
      config,
      initWeights(config, { seed: 5, std: 0.4 }),
      undefined,
      nodeRuntime(),
    );
    const dict = randomDictionary(
      config,
      {
        kind: 'plt',
        activation: { kind: 'jumprelu', rectify: false },
        skip: true,
        hooks: { input: 'mlp.hook_in', output: 'mlp.hook_out' },
      },
      13,
    );
    const graph = await attribute(model, dict, { tokens: [1, 7, 3, 12, 5, 9, 3, 14, 2] });
    expect(graph.selectedFeatures.length).toBeGreaterThan(20);
    for (const [nt, et] of [
      [0.8, 0.98],
      [0.5, 0.7],
      [1, 1],
    ]) {
      const json = createGraphJson(graph, {
        slug: 'oracle',
        decodeToken: String,
        nodeThreshold: nt,
        edgeThreshold: et,
      });
      const ref = reference(graph, nt, et);
      expect(json.nodes.map((nd) => nd.node_id)).toEqual([...ref.nodes.keys()]);
      json.nodes.forEach((nd) => {
        const want = ref.nodes.get(nd.node_id);
        if (want === null) expect(nd.influence).toBeNull();
        else expect(nd.influence).toBeCloseTo(want as number, 12);
      });
      expect(json.links).toEqual(ref.links);
      expect(json.links.length).toBeGreaterThan(nt === 1 ? 100 : 5);
      expect(json.loupe?.scores?.replacement).toBeCloseTo(ref.replacement, 12);
      expect(json.loupe?.scores?.completeness).toBeCloseTo(ref.completeness, 12);
      expect(json.loupe?.pruning?.links).toEqual({ before: ref.nonZero, after: ref.links.length });
    }
    // The pruning's node influence is the one features are ranked by.
    const { json, pruning } = createGraphJsonWithPruning(graph, { slug: 'oracle', decodeToken: String });
    expect(json).toEqual(createGraphJson(graph, { slug: 'oracle', decodeToken: String }));
    expect(rankGraphFeatures(graph, pruning.nodeInfluence)).toEqual(rankGraphFeatures(graph));
    expect(() => rankGraphFeatures(graph, new Float64Array(3))).toThrow(/3 influences for a graph of/);
  });
});
