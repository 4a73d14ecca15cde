/**
 * QK attribution as part of a graph: the attention edges a request names (layer, head, query, key), or the
 * edges that carry the most into one node's input, each decomposed by `attributeAttentionEdge` into its
 * largest query-side × key-side source pairs. The result travels with the graph (`AttributionGraph.qk`) and
 * into the graph JSON's `loupe.qk` extension.
 */
import type { Model } from '../model/model.ts';
import {
  type AttentionEdge,
  AttributionRequestError,
  attributeAttentionEdge,
  checkEdge,
  qkPairs,
} from './trace-qk.ts';
import type { InjectionSite, Tracer } from './trace.ts';

/** What `attribute` traces through attention besides the graph itself. */
export interface QkRequest {
  /** Attention edges to decompose. */
  edges?: AttentionEdge[];
  /** Node ids (feature `{layer}_{feature}_{pos}` or logit `{L+1}_{vocab}_{T-1}`) whose top incoming edges to decompose. */
  into?: string[];
  /** Edges decomposed per `into` node (default 5). */
  top?: number;
  /** Source pairs kept per edge (default 10), and sources per side in the marginal lists. */
  pairs?: number;
}

/** A source of a query or key vector: an index in adjacency-row column order (active features, errors, tokens), or -1 for the constants. */
export interface QkSourceValue {
  source: number;
  value: number;
}

export interface GraphQkEdge extends AttentionEdge {
  /** q·k with the attention scale, before any softcap. */
  score: number;
  /** The clean attention pattern A[head, query, key]. */
  pattern: number;
  /** For edges found by `into`: the node and what the edge carries into its input (A · ∂input/∂z · v). */
  into?: { nodeId: string; carried: number };
  /** The largest q_s·k_s' terms (see qkPairs). */
  pairs: { query: number; key: number; value: number }[];
  /** Sources by |q_s·k| and by |q·k_s|, largest first. */
  queryTop: QkSourceValue[];
  keyTop: QkSourceValue[];
}

/** An `into` node resolved to the cotangent whose row is its input. */
export interface QkIntoTarget {
  nodeId: string;
  vector: Float32Array; // [d]
  site: InjectionSite;
}

export interface QkIntoLookup {
  nLayers: number;
  nPos: number;
  dModel: number;
  /** Active features (layer, pos, feat), ascending, and their encoder rows [nActive, d]. */
  activeFeatures: Int32Array;
  encoderVecs: Float32Array;
  /** Logit targets' vocabulary ids and directions [K, d]. */
  logitVocab: readonly number[];
  logitVectors: Float32Array;
}

/** Resolves `into` ids to injections; an id that names no feature or logit node of the graph is a request error. */
export function resolveQkInto(ids: readonly string[], at: QkIntoLookup): QkIntoTarget[] {
  const { nLayers: L, nPos: T, dModel: d } = at;
  const nActive = at.activeFeatures.length / 3;
  return ids.map((id) => {
    const m = /^(\d+)_(\d+)_(\d+)$/.exec(id);
    if (!m) {
      throw new AttributionRequestError(
        `node '${id}' is not a feature ({layer}_{feature}_{pos}) or logit ({L+1}_{vocab}_{T-1}) node id: only their inputs pass through attention`,
      );
    }
    const [layer, feat, pos] = [Number(m[1]), Number(m[2]), Number(m[3])];
    if (layer === L + 1) {
      const k = at.logitVocab.indexOf(feat);
      if (k < 0 || pos !== T - 1)
        throw new AttributionRequestError(`node '${id}' is not a logit target of this graph`);
      return { nodeId: id, vector: at.logitVectors.slice(k * d, (k + 1) * d), site: { kind: 'final', pos } };
    }
    for (let i = 0; i < nActive; i++) {
      const a = at.activeFeatures;
      if (a[3 * i] === layer && a[3 * i + 1] === pos && a[3 * i + 2] === feat) {
        return {
          nodeId: id,
          vector: at.encoderVecs.slice(i * d, (i + 1) * d),
          site: { kind: 'featureInput', layer, pos },
        };
      }
    }
    throw new AttributionRequestError(`node '${id}' is not an active feature of this prompt`);
  });
}

/** Checks a request against the model and prompt before anything is traced. */
export function checkQkRequest(model: Model, nPos: number, request: QkRequest): void {
  const edges = request.edges ?? [];
  if (model.config.qkNorm && (edges.length > 0 || (request.into ?? []).length > 0))
    throw new Error('QK attribution: per-head q/k norms (Qwen3) are not supported');
  for (const e of edges) checkEdge(model.config, nPos, e);
}

/** The attention edges with the largest |carried| into one target: flows [L, H, T, T] as from Tracer.attentionFlows. */
export function topFlows(
  flows: Float32Array,
  nLayers: number,
  nHeads: number,
  nPos: number,
  top: number,
): { edge: AttentionEdge; carried: number }[] {
  const T = nPos;
  const found: { edge: AttentionEdge; carried: number }[] = [];
  for (let i = 0; i < flows.length; i++) {
    if (flows[i] === 0) continue;
    const keyPos = i % T;
    const queryPos = Math.floor(i / T) % T;
    const head = Math.floor(i / (T * T)) % nHeads;
    const layer = Math.floor(i / (T * T * nHeads));
    if (layer < nLayers) found.push({ edge: { layer, head, queryPos, keyPos }, carried: flows[i] });
  }
  found.sort((a, b) => Math.abs(b.carried) - Math.abs(a.carried));
  return found.slice(0, top);
}

const topBy = (scores: Float32Array, n: number): QkSourceValue[] =>
  Array.from(scores.keys())
    .sort((x, y) => Math.abs(scores[y]) - Math.abs(scores[x]) || x - y)
    .slice(0, n)
    .map((source) => ({ source, value: scores[source] }));

/** Decomposes the requested edges and each `into` node's top incoming edges, in request order. */
export async function traceQk(
  model: Model,
  tracer: Tracer,
  request: QkRequest,
  into: readonly QkIntoTarget[],
): Promise<GraphQkEdge[]> {
  const ctx = tracer.context;
  const { nLayers: L, nPos: T } = ctx;
  const H = model.config.nHeads;
  const nPairs = request.pairs ?? 10;
  const jobs: { edge: AttentionEdge; into?: GraphQkEdge['into'] }[] = (request.edges ?? []).map((edge) => ({
    edge,
  }));
  for (const t of into) {
    const flows = await tracer.attentionFlows(t.vector, t.site);
    for (const f of topFlows(flows, L, H, T, request.top ?? 5))
      jobs.push({ edge: f.edge, into: { nodeId: t.nodeId, carried: f.carried } });
  }
  const out: GraphQkEdge[] = [];
  for (const job of jobs) {
    const a = await attributeAttentionEdge(model, tracer, job.edge);
    const e = job.edge;
    out.push({
      ...e,
      score: a.score,
      pattern: ctx.frozen.patterns[((e.layer * H + e.head) * T + e.queryPos) * T + e.keyPos],
      ...(job.into ? { into: job.into } : {}),
      pairs: qkPairs(a, nPairs)
        .slice(0, nPairs)
        .map((p) => ({ query: p.querySource, key: p.keySource, value: p.value })),
      queryTop: topBy(a.queryScores, nPairs),
      keyTop: topBy(a.keyScores, nPairs),
    });
  }
  return out;
}
