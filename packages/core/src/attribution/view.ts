/**
 * The attribution-graph explorer's maths, for Node and the browser alike (no DOM): a typed view of a graph JSON
 * file, re-pruning it with the same algorithm as the CLI, influence ranking, strongest edges and node search.
 * The layout lives in view-layout.ts and the synthetic graph generator in view-synthetic.ts.
 *
 * Node kinds come from feature_type and the other fields, never from node ids: id formats differ between
 * writers and error ids can collide with layer-0 feature ids.
 */
import { cantorUnpair } from '../dictionary/features.ts';
import type { CsrAdjacency } from './graph.ts';
import { computeInfluence, normalizedEntry, normalizeMatrix } from './influence.ts';
import type { GraphJsonLink } from './json-types.ts';
import { NODE_ROLE, type PruneOptions, pruneAdjacency } from './prune.ts';
import type { GraphScores } from './scores.ts';

export type ViewNodeKind = 'embedding' | 'feature' | 'error' | 'logit' | 'other';

/** A graph JSON as flat arrays indexed by node (file order) and by edge (CSR, rows are targets). */
export interface GraphView {
  readonly n: number;
  readonly ids: readonly string[]; // [n] node_id
  readonly index: ReadonlyMap<string, number>;
  readonly kinds: readonly ViewNodeKind[]; // [n]
  readonly featureTypes: readonly string[]; // [n] as written
  /** Model layer; -1 for embeddings and layers that are not numbers. */
  readonly layer: Int32Array; // [n]
  /** Layout row: 0 embeddings, layer + 1 for layer nodes, nRows − 1 logits. */
  readonly row: Int32Array; // [n]
  readonly nRows: number;
  /** Number of model layers seen on feature, error and other nodes. */
  readonly nLayers: number;
  readonly ctxIdx: Int32Array; // [n]
  /** Dictionary feature id (Cantor-paired in circuit-tracer files); NaN when absent. */
  readonly feature: Float64Array; // [n]
  readonly activation: Float32Array; // [n], NaN when absent
  /** The file's own influence field (cumulative share, small = important); NaN when absent. */
  readonly storedInfluence: Float32Array; // [n]
  /** Influence on the weighted logits recomputed on the stored links; logits carry their weight instead. */
  readonly influence: Float64Array; // [n]
  readonly tokenProb: Float32Array; // [n]
  readonly clerps: readonly string[]; // [n]
  readonly promptTokens: readonly string[]; // [nPos]
  readonly nPos: number;
  readonly rowPtr: Int32Array; // [n + 1] edges grouped by target
  readonly colIdx: Int32Array; // [nnz] source of each edge
  readonly edgeTarget: Int32Array; // [nnz] target of each edge
  readonly weights: Float32Array; // [nnz]
  readonly outPtr: Int32Array; // [n + 1] edges grouped by source
  readonly outEdge: Int32Array; // [nnz] edge indices, by source
  /** Influence seed: logit probabilities on logit nodes (uniform when the file has none). */
  readonly logitWeights: Float64Array; // [n]
  /** NODE_ROLE per node: how pruning treats it. */
  readonly roles: Uint8Array; // [n]
  /** 1 for a feature that does not fire on the prompt, kept in the file for the inhibition it receives. */
  readonly inactive: Uint8Array; // [n]
}

const FEATURE_TYPES = new Set([
  'cross layer transcoder',
  'transcoder',
  'per layer transcoder',
  'lorsa',
  'sae',
  'sparse autoencoder',
  'feature',
]);

/** The explorer's kind for one node; unknown feature types (bias nodes, extensions) are 'other'. */
export function nodeKind(node: { feature_type: string; is_target_logit?: boolean }): ViewNodeKind {
  const t = node.feature_type.toLowerCase();
  if (t === 'embedding') return 'embedding';
  if (t === 'logit' || node.is_target_logit === true) return 'logit';
  if (t.includes('error')) return 'error';
  if (FEATURE_TYPES.has(t)) return 'feature';
  return 'other';
}

function parseLayer(layer: string | number): number {
  if (typeof layer === 'number') return layer;
  return /^\d+$/.test(layer) ? Number(layer) : -1;
}

/** The fields the view reads; both written (GraphJson) and imported (ImportedGraphJson) files fit. */
export interface ViewInputNode {
  node_id: string;
  feature?: number | null;
  layer: string | number;
  ctx_idx: number;
  feature_type: string;
  clerp: string;
  token_prob?: number;
  is_target_logit?: boolean;
  influence?: number | null;
  activation?: number | null;
  inactive?: true;
}

export interface ViewInput {
  metadata: { prompt_tokens: string[] };
  nodes: readonly ViewInputNode[];
  links: readonly Pick<GraphJsonLink, 'source' | 'target' | 'weight'>[];
}

/** Builds the view; throws on links naming missing nodes, duplicate node ids or duplicate links. */
export function buildGraphView(json: ViewInput): GraphView {
  const nodes = json.nodes;
  const n = nodes.length;
  if (n === 0) throw new Error('graph view: the graph has no nodes');
  const index = new Map<string, number>();
  nodes.forEach((nd, i) => {
    if (index.has(nd.node_id)) throw new Error(`graph view: node id '${nd.node_id}' appears twice`);
    index.set(nd.node_id, i);
  });
  const kinds = nodes.map((nd) => nodeKind(nd));
  const layer = Int32Array.from(nodes, (nd, i) => (kinds[i] === 'embedding' ? -1 : parseLayer(nd.layer)));
  let nLayers = 0;
  for (let i = 0; i < n; i++) {
    if (kinds[i] !== 'logit' && kinds[i] !== 'embedding') nLayers = Math.max(nLayers, layer[i] + 1);
  }
  const nRows = nLayers + 2;
  const row = Int32Array.from(kinds, (k, i) =>
    k === 'embedding' ? 0 : k === 'logit' ? nRows - 1 : layer[i] < 0 ? 0 : layer[i] + 1,
  );
  const ctxIdx = Int32Array.from(nodes, (nd) => nd.ctx_idx);
  let nPos = json.metadata.prompt_tokens.length;
  for (let i = 0; i < n; i++) nPos = Math.max(nPos, ctxIdx[i] + 1);

  const { rowPtr, colIdx, weights, edgeTarget } = linksToCsr(json.links, index, n);
  const { outPtr, outEdge } = transpose(colIdx, n);
  assertAcyclic(rowPtr, edgeTarget, outPtr, outEdge, nodes);

  const tokenProb = Float32Array.from(nodes, (nd) => nd.token_prob ?? 0);
  const logitWeights = new Float64Array(n);
  const logits = kinds.flatMap((k, i) => (k === 'logit' ? [i] : []));
  const probMass = logits.reduce((s, i) => s + tokenProb[i], 0);
  for (const i of logits) logitWeights[i] = probMass > 0 ? tokenProb[i] : 1 / logits.length;
  const roles = Uint8Array.from(kinds, (k) =>
    k === 'embedding' || k === 'logit'
      ? NODE_ROLE.kept
      : k === 'feature'
        ? NODE_ROLE.feature
        : NODE_ROLE.source,
  );
  const adjacency: CsrAdjacency = { kind: 'csr', n, rowPtr, colIdx, values: weights };
  const influence = computeInfluence(normalizeMatrix(adjacency), logitWeights);
  for (const i of logits) influence[i] = logitWeights[i];

  const numOrNaN = (v: number | null | undefined) => (typeof v === 'number' ? v : Number.NaN);
  return {
    n,
    ids: nodes.map((nd) => nd.node_id),
    index,
    kinds,
    featureTypes: nodes.map((nd) => nd.feature_type),
    layer,
    row,
    nRows,
    nLayers,
    ctxIdx,
    feature: Float64Array.from(nodes, (nd) => numOrNaN(nd.feature)),
    activation: Float32Array.from(nodes, (nd) => numOrNaN(nd.activation)),
    storedInfluence: Float32Array.from(nodes, (nd) => numOrNaN(nd.influence)),
    influence,
    tokenProb,
    clerps: nodes.map((nd) => nd.clerp),
    promptTokens: Array.from({ length: nPos }, (_, p) => json.metadata.prompt_tokens[p] ?? `[${p}]`),
    nPos,
    rowPtr,
    colIdx,
    edgeTarget,
    weights,
    outPtr,
    outEdge,
    logitWeights,
    roles,
    inactive: Uint8Array.from(nodes, (nd) => (nd.inactive === true ? 1 : 0)),
  };
}

function linksToCsr(
  links: readonly Pick<GraphJsonLink, 'source' | 'target' | 'weight'>[],
  index: ReadonlyMap<string, number>,
  n: number,
) {
  const nnz = links.length;
  const src = new Int32Array(nnz);
  const dst = new Int32Array(nnz);
  links.forEach((l, k) => {
    const s = index.get(l.source);
    const t = index.get(l.target);
    if (s === undefined) throw new Error(`graph view: links[${k}].source '${l.source}' is not a node_id`);
    if (t === undefined) throw new Error(`graph view: links[${k}].target '${l.target}' is not a node_id`);
    if (!Number.isFinite(l.weight)) throw new Error(`graph view: links[${k}].weight is not finite`);
    src[k] = s;
    dst[k] = t;
  });
  const order = Int32Array.from({ length: nnz }, (_, k) => k).sort(
    (a, b) => dst[a] - dst[b] || src[a] - src[b],
  );
  const rowPtr = new Int32Array(n + 1);
  const colIdx = new Int32Array(nnz);
  const edgeTarget = new Int32Array(nnz);
  const weights = new Float32Array(nnz);
  order.forEach((k, j) => {
    if (j > 0 && dst[k] === edgeTarget[j - 1] && src[k] === colIdx[j - 1]) {
      throw new Error(`graph view: two links join '${links[k].source}' to '${links[k].target}'`);
    }
    colIdx[j] = src[k];
    edgeTarget[j] = dst[k];
    weights[j] = links[k].weight;
    rowPtr[dst[k] + 1]++;
  });
  for (let r = 0; r < n; r++) rowPtr[r + 1] += rowPtr[r];
  return { rowPtr, colIdx, weights, edgeTarget };
}

/** Influence is a series over paths; on a cycle it has no meaning, so such files are refused (Kahn's order). */
function assertAcyclic(
  rowPtr: Int32Array,
  edgeTarget: Int32Array,
  outPtr: Int32Array,
  outEdge: Int32Array,
  nodes: readonly { node_id: string }[],
): void {
  const n = nodes.length;
  const inDegree = Int32Array.from({ length: n }, (_, i) => rowPtr[i + 1] - rowPtr[i]);
  const ready: number[] = [];
  for (let i = 0; i < n; i++) if (inDegree[i] === 0) ready.push(i);
  let done = 0;
  while (ready.length > 0) {
    const i = ready.pop()!;
    done++;
    for (let j = outPtr[i]; j < outPtr[i + 1]; j++) {
      const t = edgeTarget[outEdge[j]];
      if (--inDegree[t] === 0) ready.push(t);
    }
  }
  if (done < n) {
    const stuck = inDegree.findIndex((d) => d > 0);
    throw new Error(
      `graph view: the links form a cycle (through '${nodes[stuck].node_id}'); a graph must be acyclic`,
    );
  }
}

function transpose(colIdx: Int32Array, n: number) {
  const outPtr = new Int32Array(n + 1);
  for (let k = 0; k < colIdx.length; k++) outPtr[colIdx[k] + 1]++;
  for (let i = 0; i < n; i++) outPtr[i + 1] += outPtr[i];
  const fill = outPtr.slice(0, n);
  const outEdge = new Int32Array(colIdx.length);
  for (let k = 0; k < colIdx.length; k++) outEdge[fill[colIdx[k]]++] = k;
  return { outPtr, outEdge };
}

// ---------------------------------------------------------------------------------------------------------------
// Pruning in the browser: the CLI's algorithm on the stored links.

export interface ViewPruning {
  nodeThreshold: number;
  edgeThreshold: number;
  nodeMask: Uint8Array; // [n], 1 = kept
  edgeMask: Uint8Array; // [nnz], 1 = kept
  nodeCount: number;
  edgeCount: number;
  /** Replacement and completeness of the kept subgraph. */
  scores: GraphScores;
}

export function pruneView(
  view: GraphView,
  { nodeThreshold = 0.8, edgeThreshold = 0.98 }: PruneOptions = {},
): ViewPruning {
  const adjacency: CsrAdjacency = {
    kind: 'csr',
    n: view.n,
    rowPtr: view.rowPtr,
    colIdx: view.colIdx,
    values: view.weights,
  };
  const pr = pruneAdjacency(adjacency, view.logitWeights, view.roles, { nodeThreshold, edgeThreshold });
  keepInhibited(view, pr.nodeMask, pr.edgeMask);
  let nodeCount = 0;
  let edgeCount = 0;
  for (let i = 0; i < view.n; i++) nodeCount += pr.nodeMask[i];
  for (let k = 0; k < pr.edgeMask.length; k++) edgeCount += pr.edgeMask[k];
  return {
    nodeThreshold,
    edgeThreshold,
    nodeMask: pr.nodeMask,
    edgeMask: pr.edgeMask,
    nodeCount,
    edgeCount,
    scores: viewScores(view, pr.edgeMask),
  };
}

/**
 * Inactive features have no outputs, so influence pruning always drops them; they are shown with their links
 * from the kept nodes (the inhibition they are in the file for) wherever they have one. Having no outputs, they
 * change no other node's influence or the scores.
 */
function keepInhibited(view: GraphView, nodeMask: Uint8Array, edgeMask: Uint8Array): void {
  for (let i = 0; i < view.n; i++) {
    if (!view.inactive[i]) continue;
    for (let k = view.rowPtr[i]; k < view.rowPtr[i + 1]; k++) {
      if (!nodeMask[view.colIdx[k]]) continue;
      edgeMask[k] = 1;
      nodeMask[i] = 1;
    }
  }
}

/**
 * computeGraphScores on the kept edges, with error and embedding nodes found by kind rather than by
 * circuit-tracer's index ranges.
 */
export function viewScores(view: GraphView, edgeMask?: Uint8Array): GraphScores {
  const values = edgeMask ? view.weights.map((v, k) => (edgeMask[k] ? v : 0)) : view.weights;
  const norm = normalizeMatrix({ kind: 'csr', n: view.n, rowPtr: view.rowPtr, colIdx: view.colIdx, values });
  const w = view.logitWeights;
  const influence = computeInfluence(norm, w);
  let tokenInfluence = 0;
  let errorInfluence = 0;
  for (let i = 0; i < view.n; i++) {
    if (view.kinds[i] === 'error') errorInfluence += influence[i];
    else if (view.kinds[i] === 'embedding') tokenInfluence += influence[i];
  }
  let weighted = 0;
  let total = 0;
  for (let r = 0; r < view.n; r++) {
    let fromErrors = 0;
    for (let k = norm.rowPtr[r]; k < norm.rowPtr[r + 1]; k++) {
      if (view.kinds[norm.colIdx[k]] === 'error') fromErrors += normalizedEntry(norm, r, k);
    }
    const out = influence[r] + w[r];
    weighted += (1 - fromErrors) * out;
    total += out;
  }
  return { replacement: tokenInfluence / (tokenInfluence + errorInfluence), completeness: weighted / total };
}

// ---------------------------------------------------------------------------------------------------------------
// Navigation and details.

/** Node indices by descending influence (logits by their weight first among equals), kept nodes only. */
export function rankByInfluence(view: GraphView, kept?: Uint8Array | null): Int32Array {
  const ids: number[] = [];
  for (let i = 0; i < view.n; i++) if (!kept || kept[i]) ids.push(i);
  ids.sort((a, b) => view.influence[b] - view.influence[a] || a - b);
  return Int32Array.from(ids);
}

/** The node after (step 1) or before (step −1) `current` in `ranking`, wrapping; the first one when none. */
export function stepRanking(ranking: Int32Array, current: number | null, step: 1 | -1): number | null {
  if (ranking.length === 0) return null;
  const at = current === null ? -1 : ranking.indexOf(current);
  if (at < 0) return step === 1 ? ranking[0] : ranking[ranking.length - 1];
  return ranking[(at + step + ranking.length) % ranking.length];
}

export interface ViewEdge {
  edge: number;
  /** The node at the other end. */
  node: number;
  weight: number;
}

/** A node's input or output edges by descending |weight|, limited to kept edges when a mask is given. */
export function strongestEdges(
  view: GraphView,
  node: number,
  direction: 'in' | 'out',
  limit = 10,
  edgeMask?: Uint8Array | null,
): ViewEdge[] {
  const out: ViewEdge[] = [];
  if (direction === 'in') {
    for (let k = view.rowPtr[node]; k < view.rowPtr[node + 1]; k++) {
      if (!edgeMask || edgeMask[k]) out.push({ edge: k, node: view.colIdx[k], weight: view.weights[k] });
    }
  } else {
    for (let j = view.outPtr[node]; j < view.outPtr[node + 1]; j++) {
      const k = view.outEdge[j];
      if (!edgeMask || edgeMask[k]) out.push({ edge: k, node: view.edgeTarget[k], weight: view.weights[k] });
    }
  }
  out.sort((a, b) => Math.abs(b.weight) - Math.abs(a.weight) || a.node - b.node);
  return out.slice(0, limit);
}

/** A short human name: the label given, else the clerp, else the token or feature id. */
export function nodeTitle(view: GraphView, i: number, label?: string | null): string {
  if (label) return label;
  if (view.clerps[i]) return view.clerps[i];
  const kind = view.kinds[i];
  const pos = view.ctxIdx[i];
  if (kind === 'embedding') return `Emb "${view.promptTokens[pos] ?? ''}"`;
  if (kind === 'error') return `Error L${view.layer[i]} @${pos}`;
  if (kind === 'feature') return `L${view.layer[i]} #${featureIndexText(view, i)}`;
  return `${view.featureTypes[i]} ${view.ids[i]}`;
}

/**
 * The feature's index within its layer. Graph JSON stores a feature node's `feature` as the Cantor pair of
 * (layer, index), so that one number names it across layers; a value that does not unpair to the node's own
 * layer is shown as written.
 */
function featureIndexText(view: GraphView, i: number): string {
  const f = view.feature[i];
  if (Number.isNaN(f)) return view.ids[i];
  if (Number.isSafeInteger(f) && f >= 0) {
    const { layer, feature } = cantorUnpair(f);
    if (layer === view.layer[i]) return String(feature);
  }
  return String(f);
}

/**
 * Nodes whose id, feature id, clerp or label contains the query (case-insensitive), strongest first.
 * `labels` maps node ids to the investigation's own labels.
 */
export function searchNodes(
  view: GraphView,
  query: string,
  labels?: ReadonlyMap<string, string> | null,
  limit = 20,
): number[] {
  const q = query.trim().toLowerCase();
  if (q === '') return [];
  const hits: number[] = [];
  for (let i = 0; i < view.n; i++) {
    const fields = [view.ids[i], view.clerps[i], labels?.get(view.ids[i]) ?? ''];
    if (!Number.isNaN(view.feature[i])) fields.push(String(view.feature[i]));
    if (fields.some((f) => f.toLowerCase().includes(q))) hits.push(i);
  }
  hits.sort((a, b) => view.influence[b] - view.influence[a] || a - b);
  return hits.slice(0, limit);
}
