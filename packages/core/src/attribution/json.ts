/**
 * The graph JSON read by circuit-tracer's frontend and by Neuronpedia: Cantor feature ids, link order and metadata as
 * create_graph_files writes them. Reading files made elsewhere and graph-metadata.json upserts live in
 * json-import.ts, the frontend's URL state in json-url.ts; both are re-exported here.
 *
 * Node ids come in two formats. circuit-tracer's writes an error node as `0_{layer}_{pos}`, which is also the
 * id of layer-0 feature `layer` at that position; Loupe's own format ('loupe', the default) gives errors and
 * bias sites ids of their own. Both are listed below; only the error id differs.
 *
 *   feature    {layer}_{feature}_{pos}        both formats
 *   error      err_{layer}_{pos}              'circuit-tracer': 0_{layer}_{pos}, unless that id is a feature's
 *   embedding  E_{token}_{pos}                both formats
 *   logit      {L+1}_{vocab}_{T-1}            both formats (a virtual vocab id ≥ dVocab for custom targets)
 *   bias       bias_{layer}_{pos}, bias_E_{pos}   only in the `loupe.bias` extension
 *
 * The 'circuit-tracer' format renames a colliding error node to its Loupe id, deterministically (it depends on
 * the graph's selected features, not on pruning), and lists every rename in metadata.node_id_collisions.
 *
 * The constant terms of the linearised model travel under the top-level key `loupe` (`loupe.bias`), which
 * circuit-tracer's frontend and Neuronpedia do not read: bias-site nodes, their links into the file's feature
 * and logit nodes, and each of those targets' value in the linearised model with its total bias share. Beside
 * them, `loupe.scores` (replacement, completeness) and `loupe.pruning` (thresholds, nodes and links before and
 * after) say how much of the graph the file shows. `loupe.qk` holds decomposed attention edges (qk-graph.ts) with
 * their query- and key-side sources named by node id; with inactive features (inactive.ts) the file also holds
 * them as nodes (activation 0, `inactive: true`) with their strongest incoming links, and `loupe.inactive`
 * their pre-activations; pruning statistics count the graph's own nodes only.
 */
import { cantorPair } from '../dictionary/features.ts';
import type { DictionaryKind } from '../dictionary/types.ts';
import { type AttributionGraph, graphLayout, nodeAt, validateGraph } from './graph.ts';
import { biasJson, inactiveJson, qkJson } from './json-loupe.ts';
import { type PruneOptions, type PruneResult, pruneGraph } from './prune.ts';
import { computeGraphScores } from './scores.ts';
import type {
  FeatureType,
  GraphJson,
  GraphJsonLink,
  GraphJsonMetadata,
  GraphJsonNode,
  NodeIdCollision,
  NodeIdFormat,
} from './json-types.ts';

export type * from './json-types.ts';

const FEATURE_TYPES: Record<DictionaryKind, FeatureType> = {
  plt: 'per layer transcoder',
  clt: 'cross layer transcoder',
  sae: 'sparse autoencoder',
};

/**
 * Python's f'{x:.3f}'. JS toFixed rounds exact ties (x·16 odd: 0.0625, 0.1875, …) up; Python rounds them to even.
 */
export function formatFixed3(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  const y = x * 16;
  if (Number.isInteger(y) && Math.abs(y) % 2 === 1 && Math.abs(x) < 2 ** 40) {
    const scaled = Math.abs(x) * 1000; // exact: k + 0.5 for an odd multiple of 1/16
    let k = Math.floor(scaled);
    if (k % 2 === 1) k++;
    const s = (k / 1000).toFixed(3);
    return x < 0 ? `-${s}` : s;
  }
  return x.toFixed(3);
}

/** A deterministic stand-in for Python's salted hash() in "custom-<hash>" scan names (FNV-1a, 32 bit). */
function fnv1a(s: string): string {
  let h = 0x811c9dc5;
  for (const b of new TextEncoder().encode(s)) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

export interface CreateGraphJsonOptions extends PruneOptions {
  slug: string;
  /** Defaults to graph.model.scan; one is required. */
  scan?: string | string[];
  /** Decodes a single token for metadata.prompt_tokens. */
  decodeToken: (id: number) => string;
  /** Merged into metadata (e.g. Neuronpedia's info, generation_settings, pruning_settings). */
  extraMetadata?: Record<string, unknown>;
  /** Node ids and feature_type strings: Loupe's unambiguous ones (default) or circuit-tracer's. */
  idFormat?: NodeIdFormat;
  /** A feature's label for its node's clerp (e.g. from a feature index); empty where undefined. */
  featureLabel?: (layer: number, feature: number) => string | undefined;
}

const errorId = (layer: number, pos: number) => `err_${layer}_${pos}`;

/**
 * Error ids in circuit-tracer's format: `0_{layer}_{pos}`, except where a selected (or added inactive) layer-0 feature with index
 * `layer` sits at `pos` and already owns that id.
 */
function circuitTracerErrorIds(graph: AttributionGraph): {
  id: (layer: number, pos: number) => string;
  collisions: NodeIdCollision[];
} {
  const taken = new Set<string>();
  for (const a of graph.selectedFeatures) {
    if (graph.activeFeatures[3 * a] !== 0) continue;
    taken.add(`0_${graph.activeFeatures[3 * a + 2]}_${graph.activeFeatures[3 * a + 1]}`);
  }
  const inactive = graph.inactive?.features ?? new Int32Array(0);
  for (let m = 0; m < inactive.length; m += 3)
    if (inactive[m] === 0) taken.add(`0_${inactive[m + 2]}_${inactive[m + 1]}`);
  const collisions: NodeIdCollision[] = [];
  const L = graph.model.nLayers;
  const T = graph.inputTokens.length;
  for (let layer = 0; layer < L; layer++) {
    for (let pos = 0; pos < T; pos++) {
      const id = `0_${layer}_${pos}`;
      if (taken.has(id))
        collisions.push({ node_id: id, layer, ctx_idx: pos, error_node_id: errorId(layer, pos) });
    }
  }
  const renamed = new Set(collisions.map((c) => c.node_id));
  return {
    id: (layer, pos) => (renamed.has(`0_${layer}_${pos}`) ? errorId(layer, pos) : `0_${layer}_${pos}`),
    collisions,
  };
}

export function createGraphJson(graph: AttributionGraph, opts: CreateGraphJsonOptions): GraphJson {
  return createGraphJsonWithPruning(graph, opts).json;
}

/**
 * createGraphJson, also returning the pruning the file was cut from: its influence of every node on the
 * unpruned graph is what rankGraphFeatures ranks by, so a caller doing both computes it once.
 */
export function createGraphJsonWithPruning(
  graph: AttributionGraph,
  opts: CreateGraphJsonOptions,
): { json: GraphJson; pruning: PruneResult } {
  // Pruning normalises the adjacency first, and that pass checks its entries.
  validateGraph(graph, { entries: false });
  const nodeThreshold = opts.nodeThreshold ?? 0.8;
  const edgeThreshold = opts.edgeThreshold ?? 0.98;
  let scan = opts.scan ?? graph.model.scan;
  if (scan === null || scan === undefined) {
    throw new Error('graph JSON: neither the scan option nor graph.model.scan names the transcoders used');
  }
  let transcoderList: string[] = [];
  if (Array.isArray(scan)) {
    transcoderList = [...scan];
    scan = `custom-${fnv1a(scan.join('-'))}`;
  }
  const layout = graphLayout(graph);
  const pr = pruneGraph(graph.adjacency, layout, graph.logitProbabilities, { nodeThreshold, edgeThreshold });
  const { nodeMask, cumulativeScores, adjacency, edgeMask } = pr;
  const L = layout.nLayers;
  const T = layout.nPos;
  const format = opts.idFormat ?? 'loupe';
  if (format !== 'loupe' && format !== 'circuit-tracer')
    throw new Error(`graph JSON: idFormat must be 'loupe' or 'circuit-tracer', got '${format}'`);
  const kind = graph.model.dictionaryKind;
  const ct = format === 'circuit-tracer' ? circuitTracerErrorIds(graph) : undefined;
  const featureType: FeatureType = ct ? 'cross layer transcoder' : kind ? FEATURE_TYPES[kind] : 'transcoder';

  const built: (GraphJsonNode | undefined)[] = new Array(adjacency.n);
  const base = {
    token_prob: 0,
    is_target_logit: false,
    run_idx: 0,
    reverse_ctx_idx: 0,
    clerp: '',
    activation: null,
  };
  const featureNode = (layer: number, feat: number, pos: number): GraphJsonNode => ({
    node_id: `${layer}_${feat}_${pos}`,
    feature: cantorPair(layer, feat),
    layer: String(layer),
    ctx_idx: pos,
    feature_type: featureType,
    ...base,
    jsNodeId: `${layer}_${feat}-0`,
    clerp: opts.featureLabel?.(layer, feat) ?? '',
    influence: null,
  });
  for (let i = 0; i < adjacency.n; i++) {
    if (!nodeMask[i]) continue;
    const ref = nodeAt(layout, i);
    const influence = cumulativeScores[i];
    if (ref.kind === 'feature') {
      const a = graph.selectedFeatures[ref.selected];
      const layer = graph.activeFeatures[3 * a];
      const pos = graph.activeFeatures[3 * a + 1];
      const feat = graph.activeFeatures[3 * a + 2];
      built[i] = { ...featureNode(layer, feat, pos), influence, activation: graph.activationValues[a] };
    } else if (ref.kind === 'error') {
      built[i] = {
        node_id: ct ? ct.id(ref.layer, ref.pos) : errorId(ref.layer, ref.pos),
        feature: -1,
        layer: String(ref.layer),
        ctx_idx: ref.pos,
        feature_type: 'mlp reconstruction error',
        ...base,
        // circuit-tracer's error jsNodeId equals that of feature `pos` of the same layer.
        jsNodeId: ct ? `${ref.layer}_${ref.pos}-0` : `err_${ref.layer}-${ref.pos}`,
        influence,
      };
    } else if (ref.kind === 'token') {
      const tok = graph.inputTokens[ref.pos];
      built[i] = {
        node_id: `E_${tok}_${ref.pos}`,
        feature: ref.pos,
        layer: 'E',
        ctx_idx: ref.pos,
        feature_type: 'embedding',
        ...base,
        jsNodeId: `E_${tok}-${ref.pos}`,
        influence,
      };
    } else {
      const { tokenStr, vocabIdx } = graph.logitTargets[ref.target];
      const p = graph.logitProbabilities[ref.target];
      built[i] = {
        node_id: `${L + 1}_${vocabIdx}_${T - 1}`,
        feature: vocabIdx,
        layer: String(L + 1),
        ctx_idx: T - 1,
        feature_type: 'logit',
        ...base,
        token_prob: p,
        is_target_logit: ref.target === 0,
        jsNodeId: `L_${vocabIdx}-${T - 1}`,
        clerp: `Output "${tokenStr}" (p=${formatFixed3(p)})`,
        influence: null,
      };
    }
  }

  // Only scored edges can be kept, and they ascend: walking them walks the rows in order.
  const links: GraphJsonLink[] = [];
  const connected = new Uint8Array(adjacency.n);
  for (let j = 0, r = 0; j < pr.scoredEdges.length; j++) {
    const k = pr.scoredEdges[j];
    if (!edgeMask[k]) continue;
    while (adjacency.rowPtr[r + 1] <= k) r++;
    const c = adjacency.colIdx[k];
    const dst = built[r];
    const src = built[c];
    if (!dst || !src) continue;
    links.push({ source: src.node_id, target: dst.node_id, weight: adjacency.values[k] });
    connected[r] = 1;
    connected[c] = 1;
  }
  const kept: [number, GraphJsonNode][] = [];
  built.forEach((nd, i) => {
    if (nd && (connected[i] || nd.feature_type === 'embedding' || nd.feature_type === 'logit'))
      kept.push([i, nd]);
  });
  const nodes = kept.map(([, nd]) => nd);
  const graphNodes = nodes.length;
  const graphLinks = links.length;
  const extra = graph.inactive
    ? inactiveJson(graph, new Map(kept), (l, f, p) => ({
        ...featureNode(l, f, p),
        activation: 0,
        inactive: true,
      }))
    : undefined;
  if (extra) nodes.push(...extra.nodes);
  if (extra) links.push(...extra.links);
  const seen = new Set<string>();
  for (const nd of nodes) {
    if (seen.has(nd.node_id)) throw new Error(`graph JSON: node id '${nd.node_id}' would name two nodes`);
    seen.add(nd.node_id);
  }

  const metadata: GraphJsonMetadata = {
    slug: opts.slug,
    scan,
    transcoder_list: transcoderList,
    prompt_tokens: Array.from(graph.inputTokens, (t) => opts.decodeToken(t)),
    prompt: graph.inputString,
    node_threshold: nodeThreshold,
    schema_version: 1,
  };
  if (!ct) metadata.node_id_format = 'loupe';
  if (ct && kind && kind !== 'clt') metadata.dictionary_kind = FEATURE_TYPES[kind];
  if (ct && ct.collisions.length > 0) metadata.node_id_collisions = ct.collisions;
  const json: GraphJson = {
    metadata: { ...metadata, ...opts.extraMetadata },
    qParams: { pinnedIds: [], supernodes: [], linkType: 'both', clickedId: '', sg_pos: '' },
    nodes,
    links,
  };
  const scores = computeGraphScores(adjacency, layout, graph.logitProbabilities, pr);
  const finite = (x: number) => (Number.isFinite(x) ? x : null);
  json.loupe = {
    ...(graph.bias ? { bias: biasJson(graph, kept, base) } : {}),
    ...(graph.qk
      ? {
          qk: qkJson(graph, {
            feature: (l, f, p) => `${l}_${f}_${p}`,
            error: (l, p) => (ct ? ct.id(l, p) : errorId(l, p)),
            token: (p) => `E_${graph.inputTokens[p]}_${p}`,
            inFile: seen,
          }),
        }
      : {}),
    ...(extra ? { inactive: extra.inactive } : {}),
    scores: { replacement: finite(scores.replacement), completeness: finite(scores.completeness) },
    pruning: {
      node_threshold: nodeThreshold,
      edge_threshold: edgeThreshold,
      nodes: { before: adjacency.n, after: graphNodes },
      links: { before: pr.normalized.nonZero, after: graphLinks },
      features: { active: graph.activeFeatures.length / 3, selected: graph.selectedFeatures.length },
    },
  };
  return { json, pruning: pr };
}

export * from './json-import.ts';
export * from './json-url.ts';
