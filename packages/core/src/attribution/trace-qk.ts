/**
 * Attribution through attention (QK): for one attention edge (layer, head, query pos, key pos), which sources
 * made the head attend there. This goes beyond circuit-tracer, whose graphs take attention patterns as given.
 *
 * In the linearised model (norm scales frozen at their clean values) the head's query and key vectors are
 * affine in the residual stream, and the residual stream entering the layer is a sum of source contributions
 * (features, errors, token embeddings) plus constants (biases, positional embeddings, b_dec). So
 *
 *   q = Σ_s q_s + q_rest,   k = Σ_s k_s + k_rest,   score = q·k = Σ_{s,s'} q_s·k_{s'} + (rest terms)
 *
 * exactly (before any softcap). q_s is found with the same linearised backward as the adjacency: the dHead rows
 * of ∂q/∂resid_pre(query pos) are injected as cotangents, and each returned row holds one component of q_s
 * for every source at once. Likewise for k. The rows are computed in onnxruntime; the per-head maps here are
 * [dHead, dModel] bookkeeping.
 */
import type { ModelConfig } from '../model/config.ts';
import type { Model } from '../model/model.ts';
import { ropeInvFreq } from '../model/transformer.ts';
import type { InjectionSite, TraceContext, Tracer } from './trace.ts';

export interface AttentionEdge {
  layer: number;
  /** Query head; the key head is head / (nHeads / nKvHeads). */
  head: number;
  queryPos: number;
  keyPos: number;
}

export interface QkAttribution {
  edge: AttentionEdge;
  dHead: number;
  /** Sources in adjacency-row column order: active features, errors (layer-major), tokens. */
  nSources: number;
  /** q·k with the attention scale, before any softcap. */
  score: number;
  query: Float32Array; // [dHead], rotary and attention scale applied
  key: Float32Array; // [dHead], rotary applied
  queryContrib: Float32Array; // [nSources, dHead]
  keyContrib: Float32Array; // [nSources, dHead]
  /** Constants: biases, positional embeddings, decoder biases. */
  queryRest: Float32Array; // [dHead]
  keyRest: Float32Array; // [dHead]
  /** q_s·k: each source through the query side, with the key at its clean value. */
  queryScores: Float32Array; // [nSources]
  /** q·k_s: each source through the key side, with the query at its clean value. */
  keyScores: Float32Array; // [nSources]
}

interface HeadMap {
  value: Float32Array; // [dh]
  jacobian: Float32Array; // [dh, d]: ∂value/∂resid_pre at that position
}

/**
 * The query (or key) vector of one head at one position as an affine map of resid_pre, with the ln1 scale
 * frozen: value = scale · R_pos (Wᵀ ln1(r) + b), where R_pos is the rotary rotation.
 */
function headMap(
  model: Model,
  ctx: TraceContext,
  layer: number,
  which: 'q' | 'k',
  head: number,
  pos: number,
): HeadMap {
  const config = model.config;
  const { dModel: d, nPos: T } = ctx;
  const dh = config.dHead;
  const lw = model.weights.layers[layer];
  const W = which === 'q' ? lw.attn.wQ : lw.attn.wK; // [d, heads·dh]
  const bias = which === 'q' ? lw.attn.bQ : lw.attn.bK;
  const width = W.shape[1];
  const c0 = head * dh;
  const s = ctx.frozen.ln1[layer * T + pos];
  const w1 = lw.ln1.w.data;
  const b1 = lw.ln1.b?.data;
  const r = ctx.residPre.subarray((layer * T + pos) * d, (layer * T + pos + 1) * d);
  const center = config.norm === 'layernorm';
  let mean = 0;
  if (center) {
    for (let i = 0; i < d; i++) mean += r[i];
    mean /= d;
  }
  const x = new Float64Array(d);
  for (let i = 0; i < d; i++) x[i] = ((r[i] - mean) / s) * w1[i] + (b1 ? b1[i] : 0);
  const pre = new Float64Array(dh);
  const a = new Float64Array(dh * d); // ∂pre/∂r
  for (let j = 0; j < dh; j++) {
    let v = bias ? bias.data[c0 + j] : 0;
    let rowMean = 0;
    for (let i = 0; i < d; i++) {
      const wij = W.data[i * width + c0 + j];
      v += x[i] * wij;
      a[j * d + i] = (wij * w1[i]) / s;
      rowMean += a[j * d + i];
    }
    pre[j] = v;
    if (center) {
      rowMean /= d;
      for (let i = 0; i < d; i++) a[j * d + i] -= rowMean;
    }
  }
  const scale = which === 'q' ? config.attnScale : 1;
  const value = new Float32Array(dh);
  const jacobian = new Float32Array(dh * d);
  const rot = rotary(config, pos);
  for (let j = 0; j < dh; j++) {
    // Row j of R_pos: cos at j and ∓sin at the rotate_half partner (identity past the rotary dims).
    const terms: [number, number][] = rot && j < rot.dim ? rot.row(j) : [[j, 1]];
    let v = 0;
    for (const [jj, c] of terms) {
      v += c * pre[jj];
      for (let i = 0; i < d; i++) jacobian[j * d + i] += scale * c * a[jj * d + i];
    }
    value[j] = scale * v;
  }
  return { value, jacobian };
}

function rotary(
  config: ModelConfig,
  pos: number,
): { dim: number; row(j: number): [number, number][] } | undefined {
  if (config.positional !== 'rope') return undefined;
  const inv = ropeInvFreq(config);
  const half = inv.length;
  return {
    dim: 2 * half,
    row(j) {
      const angle = pos * inv[j % half];
      const c = Math.cos(angle);
      const sn = Math.sin(angle);
      return j < half
        ? [
            [j, c],
            [j + half, -sn],
          ]
        : [
            [j, c],
            [j - half, sn],
          ];
    },
  };
}

/** A request that names something the model or prompt does not have (an edge, a node): the caller's mistake. */
export class AttributionRequestError extends Error {}

/** Throws AttributionRequestError unless the edge exists in this model over a prompt of nPos tokens. */
export function checkEdge(config: ModelConfig, nPos: number, e: AttentionEdge): void {
  const int = (v: number, lo: number, hi: number, what: string) => {
    if (!Number.isInteger(v) || v < lo || v >= hi)
      throw new AttributionRequestError(`QK attribution: ${what} ${v} is outside [${lo}, ${hi})`);
  };
  int(e.layer, 0, config.nLayers, 'layer');
  int(e.head, 0, config.nHeads, 'head');
  int(e.queryPos, 0, nPos, 'query position');
  int(e.keyPos, 0, nPos, 'key position');
  if (e.keyPos > e.queryPos)
    throw new AttributionRequestError(
      `QK attribution: key ${e.keyPos} comes after query ${e.queryPos} (causal mask)`,
    );
  const sliding = config.slidingWindow !== undefined && (config.slidingWindowLayers ?? []).includes(e.layer);
  if (sliding && e.queryPos - e.keyPos >= (config.slidingWindow as number)) {
    throw new AttributionRequestError(
      `QK attribution: key ${e.keyPos} is outside layer ${e.layer}'s sliding window from query ${e.queryPos}`,
    );
  }
  if (config.qkNorm) throw new Error('QK attribution: per-head q/k norms (Qwen3) are not supported');
}

/** Decomposes one attention score into source contributions on the query and key sides. */
export async function attributeAttentionEdge(
  model: Model,
  tracer: Tracer,
  edge: AttentionEdge,
): Promise<QkAttribution> {
  const ctx = tracer.context;
  const config = model.config;
  checkEdge(config, ctx.nPos, edge);
  const dh = config.dHead;
  const d = ctx.dModel;
  const kvHead = Math.floor(edge.head / (config.nHeads / config.nKvHeads));
  const q = headMap(model, ctx, edge.layer, 'q', edge.head, edge.queryPos);
  const k = headMap(model, ctx, edge.layer, 'k', kvHead, edge.keyPos);
  const vectors = new Float32Array(2 * dh * d);
  vectors.set(q.jacobian, 0);
  vectors.set(k.jacobian, dh * d);
  const sites: InjectionSite[] = [
    ...Array.from({ length: dh }, () => ({
      kind: 'residPre' as const,
      layer: edge.layer,
      pos: edge.queryPos,
    })),
    ...Array.from({ length: dh }, () => ({ kind: 'residPre' as const, layer: edge.layer, pos: edge.keyPos })),
  ];
  const rows = await tracer.injectedRows(vectors, sites); // [2·dh, nSources]
  const nSources = rows.length / (2 * dh);
  const queryContrib = new Float32Array(nSources * dh);
  const keyContrib = new Float32Array(nSources * dh);
  for (let j = 0; j < dh; j++) {
    for (let s = 0; s < nSources; s++) {
      queryContrib[s * dh + j] = rows[j * nSources + s];
      keyContrib[s * dh + j] = rows[(dh + j) * nSources + s];
    }
  }
  const rest = (value: Float32Array, contrib: Float32Array) => {
    const out = Float32Array.from(value);
    for (let s = 0; s < nSources; s++) for (let j = 0; j < dh; j++) out[j] -= contrib[s * dh + j];
    return out;
  };
  const against = (contrib: Float32Array, other: Float32Array) => {
    const out = new Float32Array(nSources);
    for (let s = 0; s < nSources; s++) {
      let v = 0;
      for (let j = 0; j < dh; j++) v += contrib[s * dh + j] * other[j];
      out[s] = v;
    }
    return out;
  };
  let score = 0;
  for (let j = 0; j < dh; j++) score += q.value[j] * k.value[j];
  return {
    edge: { ...edge },
    dHead: dh,
    nSources,
    score,
    query: q.value,
    key: k.value,
    queryContrib,
    keyContrib,
    queryRest: rest(q.value, queryContrib),
    keyRest: rest(k.value, keyContrib),
    queryScores: against(queryContrib, k.value),
    keyScores: against(keyContrib, q.value),
  };
}

export interface QkPair {
  /** Source index, or -1 for the constant rest. */
  querySource: number;
  keySource: number;
  /** q_s · k_s'. */
  value: number;
}

/**
 * The largest bilinear terms q_s·k_s' (feature×feature, feature×error, token×feature, ... and the rest terms)
 * among the `top` sources of each side by |queryScores| / |keyScores|, largest |value| first.
 */
export function qkPairs(a: QkAttribution, top = 20): QkPair[] {
  const dh = a.dHead;
  const pick = (scores: Float32Array) =>
    Array.from(scores.keys())
      .sort((x, y) => Math.abs(scores[y]) - Math.abs(scores[x]) || x - y)
      .slice(0, top);
  const vec = (contrib: Float32Array, rest: Float32Array, s: number) =>
    s < 0 ? rest : contrib.subarray(s * dh, (s + 1) * dh);
  const qs = [...pick(a.queryScores), -1];
  const ks = [...pick(a.keyScores), -1];
  const pairs: QkPair[] = [];
  for (const qs_ of qs) {
    const qv = vec(a.queryContrib, a.queryRest, qs_);
    for (const ks_ of ks) {
      const kv = vec(a.keyContrib, a.keyRest, ks_);
      let v = 0;
      for (let j = 0; j < dh; j++) v += qv[j] * kv[j];
      pairs.push({ querySource: qs_, keySource: ks_, value: v });
    }
  }
  return pairs.sort((x, y) => Math.abs(y.value) - Math.abs(x.value));
}
