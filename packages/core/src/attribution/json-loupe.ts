/**
 * Loupe's extension fields of the graph JSON (`loupe.bias`, `loupe.qk`, `loupe.inactive`; the format is described
 * at the top of json.ts): built from the graph and the nodes the file keeps, with the file's own node ids.
 */
import { type AttributionGraph, biasSiteAt, graphLayout, nodeAt } from './graph.ts';
import type {
  GraphJsonBias,
  GraphJsonBiasTarget,
  GraphJsonInactive,
  GraphJsonLink,
  GraphJsonNode,
  GraphJsonQkEdge,
  GraphJsonQkSource,
} from './json-types.ts';

/** The fields every node of a file shares before its own are set. */
export type NodeBase = Omit<
  GraphJsonNode,
  'node_id' | 'feature' | 'layer' | 'ctx_idx' | 'feature_type' | 'jsNodeId' | 'influence'
>;

const biasId = (layer: number | 'E', pos: number) => `bias_${layer}_${pos}`;

/** The bias sites' nodes and links into the file's feature and logit nodes (index = graph node index). */
export function biasJson(
  graph: AttributionGraph,
  kept: [number, GraphJsonNode][],
  base: NodeBase,
): GraphJsonBias {
  const bias = graph.bias as NonNullable<AttributionGraph['bias']>;
  const layout = graphLayout(graph);
  const { nLayers: L, nPos: T, nFeatures: F } = layout;
  const nSites = (L + 2) * T;
  const used = new Map<number, GraphJsonNode>();
  const links: GraphJsonLink[] = [];
  const targets: GraphJsonBiasTarget[] = [];
  const siteNode = (s: number): GraphJsonNode => {
    const site = biasSiteAt(L, T, s);
    const layer = site.level === 'embedding' ? 'E' : site.level === 'final' ? L : site.layer;
    const clerp =
      site.level === 'embedding'
        ? `bias: learned position embedding at position ${site.pos}`
        : site.level === 'final'
          ? 'bias: final norm'
          : `bias: layer ${site.layer} constants at position ${site.pos}`;
    return {
      ...base,
      node_id: biasId(layer, site.pos),
      feature: -1,
      layer: String(layer),
      ctx_idx: site.pos,
      feature_type: 'bias',
      jsNodeId: `bias_${layer}-${site.pos}`,
      clerp,
      influence: null,
    };
  };
  for (const [i, nd] of kept) {
    const ref = nodeAt(layout, i);
    if (ref.kind !== 'feature' && ref.kind !== 'logit') continue;
    const row = ref.kind === 'feature' ? ref.selected : F + ref.target;
    let total = 0;
    for (let s = 0; s < nSites; s++) {
      const w = bias.rows[row * nSites + s];
      if (w === 0) continue;
      total += w;
      let src = used.get(s);
      if (!src) used.set(s, (src = siteNode(s)));
      links.push({ source: src.node_id, target: nd.node_id, weight: w });
    }
    targets.push({ node_id: nd.node_id, value: bias.values[row], bias: total });
  }
  const nodes = [...used.entries()].sort(([a], [b]) => a - b).map(([, nd]) => nd);
  return { nodes, links, targets };
}

/** How the file names sources: feature, error and token ids in its format, and which of them it holds. */
export interface SourceIds {
  feature(layer: number, feature: number, pos: number): string;
  error(layer: number, pos: number): string;
  token(pos: number): string;
  inFile: ReadonlySet<string>;
}

/** A source in adjacency-row column order (active features, errors, tokens; -1 the constants) as the file names it. */
function sourceRef(graph: AttributionGraph, ids: SourceIds, s: number): GraphJsonQkSource {
  if (s < 0) return { kind: 'constant' };
  const nActive = graph.activeFeatures.length / 3;
  const L = graph.model.nLayers;
  const T = graph.inputTokens.length;
  let ref: GraphJsonQkSource;
  if (s < nActive) {
    const a = graph.activeFeatures;
    ref = { kind: 'feature', node_id: ids.feature(a[3 * s], a[3 * s + 2], a[3 * s + 1]) };
  } else if (s < nActive + L * T) {
    const e = s - nActive;
    ref = { kind: 'error', node_id: ids.error(Math.floor(e / T), e % T) };
  } else ref = { kind: 'token', node_id: ids.token(s - nActive - L * T) };
  return { ...ref, in_graph: ids.inFile.has(ref.node_id as string) };
}

/** `loupe.qk`: each decomposed attention edge with its sources named by the file's ids. */
export function qkJson(graph: AttributionGraph, ids: SourceIds): GraphJsonQkEdge[] {
  const ref = (s: number) => sourceRef(graph, ids, s);
  return (graph.qk ?? []).map((e) => ({
    layer: e.layer,
    head: e.head,
    query: e.queryPos,
    key: e.keyPos,
    score: e.score,
    pattern: e.pattern,
    ...(e.into ? { into: { node_id: e.into.nodeId, carried: e.into.carried } } : {}),
    pairs: e.pairs.map((p) => ({ q: ref(p.query), k: ref(p.key), value: p.value })),
    query_top: e.queryTop.map((t) => ({ source: ref(t.source), value: t.value })),
    key_top: e.keyTop.map((t) => ({ source: ref(t.source), value: t.value })),
  }));
}

/** Incoming links written per inactive node: its strongest inputs from the file's nodes. */
export const INACTIVE_LINKS = 20;

/**
 * The inactive features as nodes (activation 0, `inactive: true`), their strongest incoming links from the
 * file's nodes, and `loupe.inactive`: each one's pre-activation, total input from all nodes and constants.
 * `kept` maps graph node index → the file's node.
 */
export function inactiveJson(
  graph: AttributionGraph,
  kept: ReadonlyMap<number, GraphJsonNode>,
  node: (layer: number, feature: number, pos: number) => GraphJsonNode,
): { nodes: GraphJsonNode[]; links: GraphJsonLink[]; inactive: GraphJsonInactive } {
  const inactive = graph.inactive as NonNullable<AttributionGraph['inactive']>;
  const layout = graphLayout(graph);
  const { nLayers: L, nPos: T, nFeatures: F } = layout;
  const nActive = graph.activeFeatures.length / 3;
  const rowSize = nActive + (L + 1) * T;
  const selectedAt = new Map<number, number>();
  graph.selectedFeatures.forEach((a, i) => {
    selectedAt.set(a, i);
  });
  // Column → graph node index: features through their selected index, errors and tokens in place.
  const nodeOf = (c: number) => (c < nActive ? selectedAt.get(c) : F + c - nActive);
  const nodes: GraphJsonNode[] = [];
  const links: GraphJsonLink[] = [];
  const targets: GraphJsonInactive['targets'] = [];
  const M = inactive.preActivations.length;
  for (let m = 0; m < M; m++) {
    const [layer, pos, feat] = inactive.features.subarray(3 * m, 3 * m + 3);
    const nd = node(layer, feat, pos);
    nodes.push(nd);
    const row = inactive.rows.subarray(m * rowSize, (m + 1) * rowSize);
    let inputs = 0;
    const candidates: { source: string; weight: number }[] = [];
    for (let c = 0; c < rowSize; c++) {
      if (row[c] === 0) continue;
      inputs += row[c];
      const i = nodeOf(c);
      const src = i === undefined ? undefined : kept.get(i);
      if (src) candidates.push({ source: src.node_id, weight: row[c] });
    }
    candidates.sort((a, b) => Math.abs(b.weight) - Math.abs(a.weight));
    for (const k of candidates.slice(0, INACTIVE_LINKS))
      links.push({ source: k.source, target: nd.node_id, weight: k.weight });
    targets.push({
      node_id: nd.node_id,
      pre_activation: inactive.preActivations[m],
      inputs,
      bias: inactive.bias[m],
    });
  }
  return { nodes, links, inactive: { per_site: inactive.perSite, targets } };
}
