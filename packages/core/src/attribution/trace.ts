// Over 450 lines: `buildTraceGraph` and the tracer that compiles and runs it share one feed/fetch layout (stated
// below) that must change in both at once; preparation, decoder slots and the top layer of feature rows live in trace-*.ts.
import type { Dictionary } from '../dictionary/types.ts';
import type { ModelConfig } from '../model/config.ts';
import type { Model } from '../model/model.ts';
import type { WeightTree } from '../model/transformer.ts';
import { type CompiledModel, GraphBuilder, type Tensor } from '../tensor/graph.ts';
import { f32, type HostTensor } from '../tensor/host.ts';
import type { CompiledGraph } from '../tensor/runtime.ts';
import type { ComputeRows, RowTarget } from './explore.ts';
import { biasSiteCount, type TraceContext } from './trace-prepare.ts';
import { type DecoderSlots, slotDecoders } from './trace-slots.ts';
import { featureTopLayer } from './trace-top.ts';

export * from './trace-prepare.ts';
export type { DecoderSlots } from './trace-slots.ts';

/**
 * The linearised backward for one prompt, over the first P positions (rows of targets before position P
 * never reach later positions, so a batch runs on the shortest prefix that holds its targets).
 *
 * Feeds: `inj` [B, d], the vector injected for each row (W_enc[g] of a feature target, v_i of a logit target);
 * `site` [B, 2L+1, P], 1 where it is injected (index l < L: layer l's feature-input hook; L: the final-norm
 * output; L+1+l: layer l's hook_resid_pre, for QK attribution); and per source layer l `slots{l}` [S_l]
 * int64, the positions of its decoder slots that lie before P (a prefix of `DecoderSlots.slotPos`), and
 * `cols{l}` [N_l] int64, its features before P as slot·width + column (a prefix of `DecoderSlots.columns`).
 *
 * Fetches, copied into rows by `createTracer`: `feat{l}` [B, N_l], the decoder contractions of source layer
 * l's features before P in active order; `err` [B, L, P]; `tok` [B, P]; and `bias` [B, L + 2, P], the
 * constants by bias site (b_enc excepted: it is the target's own, and `createTracer` adds it).
 *
 * With `top` < L the graph starts at layer `top` instead of the final norm: it serves rows injected at layers
 * ≤ top only, outputs feat{l} and err for the layers below `top` ([B, top, P]; none when top = 0) and bias for
 * levels 0..top + 1, the rest of each row being zero.
 *
 * With `injections` 'featureInputs' (top < L) the graph reads only layer top's feature-input sites: the
 * final-norm and hook_resid_pre injections, which feature targets never use, and the feature inputs of layers a
 * batch has no target at, each cost full [B, P, d] passes per layer otherwise.
 *
 * With `flows`, it also fetches `flow{l}` [B, H, P, P] for each layer l ≤ top: what attention edge (head,
 * query, key) carries into the row's target, A[h,q,k] · (∂target/∂z_h[q] · v_h[k]) with v the clean value
 * vector; summed over heads, queries and keys it is the target's dependence on layer l's attention output
 * less b_O.
 */
export function buildTraceGraph(
  g: GraphBuilder,
  config: ModelConfig,
  weights: WeightTree<Tensor>,
  dict: Dictionary,
  ctx: TraceContext,
  blocks: readonly DecoderSlots[],
  top: number = ctx.nLayers,
  flows = false,
  injections: InjectionSet = 'all',
): CompiledModel {
  const { nLayers: L, nPos: T, dModel: d } = ctx;
  if (!(Number.isInteger(top) && top >= 0 && top <= L))
    throw new Error(`trace graph: top layer ${top} is outside [0, ${L}]`);
  if (injections === 'featureInputs' && top >= L)
    throw new Error(`trace graph: feature inputs are read at layers below ${L}, not at the final norm`);
  /** The lowest layer whose feature-input sites are read. */
  const from = injections === 'all' ? 0 : top;
  const { nHeads: H, nKvHeads: Hkv, dHead: dh } = config;
  const rep = H / Hkv;
  const center = config.norm === 'layernorm';
  const inj = g.input('inj', 'float32', ['B', d]);
  const site = g.input('site', 'float32', ['B', 2 * L + 1, 'P']);
  const P = g.dimSize('P');
  /** The first P entries of a [.., T, ..] constant along `axes`. */
  const prefix = (host: Float32Array, shape: number[], axes: number[]): Tensor => {
    const t = g.constant(f32(shape, host));
    const out = shape.map((n, i) => (axes.includes(i) ? 'P' : n));
    const zeros = g.ints(axes.map(() => 0));
    const ends = g.concat(
      axes.map(() => P),
      0,
    );
    return g.node('Slice', [t, zeros, ends, g.ints(axes)], [out], ['float32'])[0];
  };
  const perLayer = (all: Float32Array, l: number, shape: number[]) => {
    const n = shape.reduce((a, b) => a * b, 1);
    return all.subarray(l * n, (l + 1) * n);
  };
  const injRow = g.unsqueeze(inj, [1]); // [B, 1, d]
  const injectAt = (k: number): Tensor =>
    g.mul(g.unsqueeze(g.squeeze(g.slice(site, 1, k, k + 1), [1]), [2]), injRow); // [B, P, d]
  const scaleConst = (all: Float32Array, l: number) => prefix(perLayer(all, l, [1, T, 1]), [1, T, 1], [1]);
  /** Adjoint of x ↦ center(x) / s · w with s frozen: the centring projection is symmetric. */
  const normT = (gy: Tensor, s: Tensor, nw?: Tensor): Tensor => {
    const t = g.div(nw ? g.mul(gy, nw) : gy, s);
    return center ? g.sub(t, g.reduceMean(t, [-1], true)) : t;
  };
  const fz = ctx.frozen;
  const { input, output } = dict.hooks;
  /** A constant c entering at a site contributes cotangent·c there, per position: [B, P]. */
  const against = (cot: Tensor, c: Tensor): Tensor => g.reduceSum(g.mul(cot, c), [-1], false);
  const none = g.mul(g.reduceSum(site, [1], false), 0); // [B, P] zeros
  const sum = (terms: Tensor[]): Tensor => (terms.length ? terms.reduce((a, b) => g.add(a, b)) : none);
  /** a + b where an undefined a is a zero gradient (nothing injected above), which is never materialised. */
  const plus = (a: Tensor | undefined, b: Tensor): Tensor => (a ? g.add(a, b) : b);
  /** Bias contributions by level, each [B, P]: 0 embedding, 1 + l layer l, L + 1 final norm. */
  const levels: Tensor[] = new Array(L + 2);
  // Undefined while zero: nothing is injected above layer `top`.
  let gR: Tensor | undefined;
  if (top === L) {
    const finalCot = injectAt(L);
    levels[L + 1] = weights.lnFinal.b ? against(finalCot, weights.lnFinal.b) : none;
    gR = normT(finalCot, scaleConst(fz.lnFinal, 0), weights.lnFinal.w);
  }
  /** Per layer, the gradient at the MLP output transposed to [P, B, d] (defined below the top layer). */
  const gOutT: Tensor[] = new Array(L);
  /** Per layer, each row's contraction with the error vector at every position: [P, B, 1]. */
  const errCols: Tensor[] = new Array(L);
  const flowOut: Record<string, Tensor> = {};
  for (let l = Math.min(top, L - 1); l >= 0; l--) {
    const layer = weights.layers[l];
    const grouped = prefix(patternGrouped(fz.patterns, fz.ln1, l, H, Hkv, T), [1, Hkv, T, rep, T], [2, 4]);
    if (injections === 'featureInputs' && l === top && !flows) {
      const at = g.squeeze(g.slice(site, 1, top, top + 1), [1]); // [B, P], 1 at each row's target
      const top1 = featureTopLayer({
        g,
        layer,
        input,
        center,
        nHeads: H,
        nKvHeads: Hkv,
        dHead: dh,
        inj,
        at,
        scaleAt: (kind) => g.matmul(at, prefix(perLayer(fz[kind] as Float32Array, l, [T, 1]), [T, 1], [0])),
        grouped,
        ln1Scale: prefix(perLayer(fz.ln1, l, [1, T]), [1, T], [1]),
      });
      levels[1 + l] = sum(top1.terms);
      gR = top1.gR;
      continue;
    }
    const terms: Tensor[] = [];
    // MLP output site (o_l = skip(x_l) + constant); Gemma-2's post-norm sits between mlp.hook_out and the residual.
    let gO = gR;
    if (gR && output === 'mlp.hook_out' && layer.ln2Post) {
      if (layer.ln2Post.b) terms.push(against(gR, layer.ln2Post.b));
      gO = normT(gR, scaleConst(fz.ln2Post as Float32Array, l), layer.ln2Post.w);
    }
    if (gO) {
      // The error and the constant part of this MLP output, two columns per position, contract with the
      // gradient in one batched matmul over positions; the decoder slots gather from the same transpose.
      const gT = g.transpose(gO, [1, 0, 2]); // [P, B, d]
      gOutT[l] = gT;
      const r = g.matmul(gT, prefix(errorAndConstantColumns(ctx, l), [T, d, 2], [0])); // [P, B, 2]
      errCols[l] = g.slice(r, 2, 0, 1);
      terms.push(g.transpose(g.squeeze(g.slice(r, 2, 1, 2), [2]), [1, 0])); // [B, P]
    }
    // Undefined while zero: no feature input is read at this layer and no skip term reaches it.
    let gx = l >= from ? injectAt(l) : undefined;
    const wSkip = dict.layers[l].wSkip;
    if (wSkip && gO) gx = plus(gx, g.matmul(gO, g.constant(wSkip))); // skip(x) = x @ wSkipᵀ
    const s2 = scaleConst(fz.ln2, l);
    let gMid = gR;
    if (gx && input === 'hook_resid_mid') gMid = plus(gMid, gx);
    else if (gx && input === 'ln2.hook_normalized') gMid = plus(gMid, normT(gx, s2));
    else if (gx && input === 'mlp.hook_in') {
      // mlp.hook_in is ln2's output after its weight and bias: the bias is a constant of the input itself.
      if (layer.ln2.b) terms.push(against(gx, layer.ln2.b));
      gMid = plus(gMid, normT(gx, s2, layer.ln2.w));
    }
    // Features read at hook_resid_pre enter below the attention: a zero gradient still flows through it here.
    gMid ??= g.mul(gx ?? injectAt(l), 0);
    // Attention with the frozen pattern: resid_mid = resid_pre + post(Wo · P · V · ln1(resid_pre)).
    let gA = gMid;
    if (layer.ln1Post) {
      if (layer.ln1Post.b) terms.push(against(gMid, layer.ln1Post.b));
      gA = normT(gA, scaleConst(fz.ln1Post as Float32Array, l), layer.ln1Post.w);
    }
    if (layer.attn.bO) terms.push(against(gA, layer.attn.bO));
    // Each KV group's query heads side by side along the keys (`grouped`), so one matmul also sums over the group;
    // each value row divided by ln1's frozen scale there, so ln1's adjoint below is a matmul with W_V·w alone.
    const gz = g.matmul(gA, g.mT(layer.attn.wO)); // [B, P, H·dh]
    const gzh = g.reshape(g.transpose(g.reshape(gz, ['B', 'P', H, dh]), [0, 2, 1, 3]), [
      'B',
      Hkv,
      rep,
      'P',
      dh,
    ]);
    const gv = g.matmul(g.reshape(grouped, [1, Hkv, 'P', 'rP']), g.reshape(gzh, ['B', Hkv, 'rP', dh])); // [B, Hkv, P, dh], over ln1's scale
    if (flows) {
      const r = prefix(perLayer(ctx.residPre, l, [1, T, d]), [1, T, d], [1]); // [1, P, d]
      let x = g.mul(
        g.div(center ? g.sub(r, g.reduceMean(r, [-1], true)) : r, scaleConst(fz.ln1, l)),
        layer.ln1.w,
      );
      if (layer.ln1.b) x = g.add(x, layer.ln1.b);
      let v = g.matmul(x, layer.attn.wV); // [1, P, Hkv·dh]
      if (layer.attn.bV) v = g.add(v, layer.attn.bV);
      const vT = g.unsqueeze(g.transpose(g.reshape(v, [1, 'P', Hkv, dh]), [0, 2, 3, 1]), [2]); // [1, Hkv, 1, dh, P]
      const pat = prefix(perLayer(fz.patterns, l, [H, T, T]), [1, Hkv, rep, T, T], [3, 4]);
      flowOut[`flow${l}`] = g.reshape(g.mul(pat, g.matmul(gzh, vT)), ['B', H, 'P', 'P']);
    }
    const gvFlat = g.reshape(g.transpose(gv, [0, 2, 1, 3]), ['B', 'P', Hkv * dh]);
    const gx1 = g.matmul(gvFlat, g.mul(g.mT(layer.attn.wV), layer.ln1.w)); // [B, P, d]: (gv·W_Vᵀ)·w / s
    // V = ln1(x)·W_V + b_V with ln1(x) = x̂·w + β: β·W_V + b_V is a constant value at every key position.
    const b1 = layer.ln1.b;
    const bV = layer.attn.bV;
    if (b1 || bV) {
      const vBias = b1 ? g.matmul(g.unsqueeze(b1, [0]), layer.attn.wV) : undefined; // [1, Hkv·dh]
      const s1 = prefix(perLayer(fz.ln1, l, [1, T]), [1, T], [1]); // [1, P]: gv is over it
      terms.push(g.mul(against(gvFlat, vBias && bV ? g.add(vBias, bV) : ((vBias ?? bV) as Tensor)), s1));
    }
    levels[1 + l] = sum(terms);
    gR = g.add(gMid, center ? g.sub(gx1, g.reduceMean(gx1, [-1], true)) : gx1);
    if (gx && input === 'hook_resid_pre') gR = g.add(gR, gx);
    if (injections === 'all') gR = g.add(gR, injectAt(L + 1 + l));
  }
  // What hook_embed does not hold: learned position embeddings are added after it.
  const posEmbed = config.positional === 'learned' ? weights.posEmbed : undefined;
  if (!gR) throw new Error('trace graph: no layer was walked');
  levels[0] = posEmbed
    ? against(gR, g.node('Slice', [posEmbed, g.ints([0]), P, g.ints([0])], [['P', d]], ['float32'])[0])
    : none;

  // Contractions: features (decoder vectors), errors, tokens.
  const outputs: Record<string, Tensor> = { ...flowOut };
  // Layer l's features and errors feed only layers above l, so below `top` their gradient is all zero.
  for (const b of blocks.filter((blk) => blk.layer < top)) {
    // A CLT's outputs at layers ≥ top write where no target of this graph reads.
    const nUse = Math.min(b.nOut, top - b.layer);
    const outs = Array.from({ length: nUse }, (_, o) => gOutT[b.layer + o]);
    const gCat = outs.length === 1 ? outs[0] : g.concat(outs, -1); // [P, B, nUse·d]
    const S = `S${b.layer}`;
    const slots = g.input(`slots${b.layer}`, 'int64', [S]);
    const nSlots = b.slotPos.length;
    const all = g.constant(f32([nSlots, b.nOut * d, b.width], b.data));
    const dec = g.node(
      'Slice',
      [all, g.ints([0, 0]), g.concat([g.dimSize(S), g.ints([nUse * d])], 0), g.ints([0, 1])],
      [[S, nUse * d, b.width]],
      ['float32'],
    )[0];
    const gSlots = g.gather(gCat, slots); // [S, B, nUse·d]
    const bySlot = g.reshape(g.transpose(g.matmul(gSlots, dec), [1, 0, 2]), ['B', `SW${b.layer}`]); // [B, S·width]
    const N = `N${b.layer}`;
    const cols = g.input(`cols${b.layer}`, 'int64', [N]);
    outputs[`feat${b.layer}`] = g.node('Gather', [bySlot, cols], [['B', N]], ['float32'], { axis: 1 })[0];
  }
  const errs = errCols.slice(0, Math.min(top, L));
  if (errs.length > 0) outputs.err = g.transpose(g.concat(errs, 2), [1, 2, 0]); // [B, min(top, L), P]
  outputs.tok = g.reduceSum(g.mul(gR, prefix(ctx.tokenVectors, [1, T, d], [1])), [-1], false);
  outputs.bias = g.concat(
    levels.slice(0, top === L ? L + 2 : top + 2).map((t) => g.unsqueeze(t, [1])),
    1,
  ); // [B, top + 2 levels (all L + 2 when top = L), P]
  return g.compileModel(outputs);
}

/** Layer l's error vectors and MLP constants as two columns per position: [T, d, 2]. */
function errorAndConstantColumns(ctx: TraceContext, l: number): Float32Array {
  const { nPos: T, dModel: d } = ctx;
  const n = T * d;
  const err = ctx.errors.subarray(l * n, (l + 1) * n);
  const cst = ctx.mlpConstants.subarray(l * n, (l + 1) * n);
  const out = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    out[2 * i] = err[i];
    out[2 * i + 1] = cst[i];
  }
  return out;
}

/**
 * Layer l's pattern [H, T(query), T(key)] transposed and grouped by KV head: [Hkv, T(key), rep, T(query)] with
 * head h = kv·rep + r, each key row divided by the frozen ln1 scale at that key (scales [L, T]), flattened.
 */
function patternGrouped(
  patterns: Float32Array,
  scales: Float32Array,
  l: number,
  H: number,
  Hkv: number,
  T: number,
): Float32Array {
  const rep = H / Hkv;
  const out = new Float32Array(H * T * T);
  const base = l * H * T * T;
  for (let h = 0; h < H; h++) {
    const kv = Math.floor(h / rep);
    const r = h % rep;
    for (let q = 0; q < T; q++)
      for (let k = 0; k < T; k++)
        out[((kv * T + k) * rep + r) * T + q] = patterns[base + (h * T + q) * T + k] / scales[l * T + k];
  }
  return out;
}

/** The injection sites a trace graph reads (see buildTraceGraph): all, or the top layer's feature inputs alone. */
export type InjectionSet = 'all' | 'featureInputs';

/** Where a row's cotangent is injected ('residPre' is Loupe's own, for QK attribution). */
export type InjectionSite =
  | { kind: 'featureInput'; layer: number; pos: number }
  | { kind: 'final'; pos: number }
  | { kind: 'residPre'; layer: number; pos: number };

export interface Tracer {
  context: TraceContext;
  /** Rows for `targets`; logit targets inject `logitVectors` [K, d] at the final-norm output, last position. */
  computeRows: ComputeRows;
  /**
   * The same rows with each target's bias contributions appended: [n, rowSize + biasSiteCount(L, T)], bias
   * site s = level·T + pos as in the header, b_enc of a feature target included at its own site.
   */
  computeRowsWithBias: ComputeRows;
  /** Rows for arbitrary cotangents: vectors [n, d], injected at sites[i]. */
  injectedRows(vectors: Float32Array, sites: readonly InjectionSite[]): Promise<Float32Array>;
  /** Rows [n, rowSize] and the constants' contributions [n, biasSiteCount(L, T)] for arbitrary cotangents. */
  injectedRowsWithBias(
    vectors: Float32Array,
    sites: readonly InjectionSite[],
  ): Promise<{ rows: Float32Array; bias: Float32Array }>;
  /**
   * What each attention edge carries into one cotangent's target (see `flows` of buildTraceGraph): [L, H, T, T]
   * by (layer, head, query, key), zero where the injection site does not reach.
   */
  attentionFlows(vector: Float32Array, site: InjectionSite): Promise<Float32Array>;
  /** Releases the per-prompt session. */
  close(): Promise<void>;
}

/** Where rows are written: row r at data[r · stride + offset ..]. */
interface RowSink {
  data: Float32Array;
  stride: number;
  offset: number;
}

/** Indices 0..n-1 grouped by equal key, groups in order of first appearance. */
function groupBy(keys: readonly number[]): number[][] {
  const groups = new Map<number, number[]>();
  keys.forEach((k, i) => {
    const g = groups.get(k);
    if (g) g.push(i);
    else groups.set(k, [i]);
  });
  return [...groups.values()];
}

/** The session of the trace graph that walks layers top..0 (top = L: from the final norm). */
async function compileTracer(
  model: Model,
  dict: Dictionary,
  ctx: TraceContext,
  blocks: readonly DecoderSlots[],
  top: number,
  flows: boolean,
  injections: InjectionSet,
): Promise<CompiledGraph> {
  const g = new GraphBuilder();
  return model.runtime.load(
    buildTraceGraph(g, model.config, model.constants(g), dict, ctx, blocks, top, flows, injections),
    { cpuMemArena: false },
  );
}

/**
 * Compiles the linearised backward for this prompt (one session, any batch size) and returns its
 * `computeRows` for exploreFeatures.
 */
export async function createTracer(
  model: Model,
  dict: Dictionary,
  ctx: TraceContext,
  logitVectors: Float32Array,
): Promise<Tracer> {
  const { nLayers: L, nPos: T, dModel: d, nActive } = ctx;
  if (logitVectors.length % d !== 0)
    throw new Error(`logit vectors must be [K, ${d}], got ${logitVectors.length} values`);
  const K = logitVectors.length / d;
  const blocks = slotDecoders(dict, ctx);
  /**
   * One session per top layer and injection set, compiled when a batch first needs it: rows of targets at
   * layer m need only layers ≤ m, and attribute's batches come in layer order, so each is compiled once.
   */
  const sessions = new Map<string, Promise<CompiledGraph>>();
  const sessionFor = (top: number, injections: InjectionSet, flows = false): Promise<CompiledGraph> => {
    const key = `${top}:${injections}:${flows}`;
    let s = sessions.get(key);
    if (!s) {
      s = compileTracer(model, dict, ctx, blocks, top, flows, injections);
      sessions.set(key, s);
    }
    return s;
  };
  const encoders = ctx.components.encoderVecs.data;
  const act = ctx.components.activations;
  const rowSize = nActive + (L + 1) * T;
  const nSites = 2 * L + 1;
  const siteOf = (s: InjectionSite): { k: number; pos: number } => {
    const layer = s.kind === 'final' ? 0 : s.layer;
    if (!(Number.isInteger(s.pos) && s.pos >= 0 && s.pos < T))
      throw new Error(`injection position ${s.pos} is outside [0, ${T})`);
    if (!(Number.isInteger(layer) && layer >= 0 && layer < L))
      throw new Error(`injection layer ${layer} is outside [0, ${L})`);
    return { k: s.kind === 'featureInput' ? layer : s.kind === 'final' ? L : L + 1 + layer, pos: s.pos };
  };
  const nBias = biasSiteCount(L, T);
  /** The deepest layer a site reaches: feature inputs and hook_resid_pre of layer l, or the final norm. */
  const depth = (w: { k: number }) => (w.k < L ? w.k : w.k === L ? L : w.k - L - 1);
  /** The feeds of one run of injections, and the prefix length, top layer and injection set its session needs. */
  const injectionFeeds = (vectors: Float32Array, where: readonly { k: number; pos: number }[]) => {
    const B = where.length;
    const P = Math.max(...where.map((w) => w.pos)) + 1;
    const top = Math.max(...where.map(depth));
    const siteMask = new Float32Array(B * nSites * P);
    where.forEach((w, b) => {
      siteMask[(b * nSites + w.k) * P + w.pos] = 1;
    });
    const feeds: Record<string, HostTensor> = {
      inj: f32([B, d], vectors),
      site: f32([B, nSites, P], siteMask),
    };
    for (const b of blocks) {
      if (b.layer >= top) continue;
      const S = b.slotStart[P];
      feeds[`slots${b.layer}`] = { dtype: 'int64', shape: [S], data: b.slotPos.subarray(0, S) };
      const N = b.featStart[P];
      feeds[`cols${b.layer}`] = { dtype: 'int64', shape: [N], data: b.columns.subarray(0, N) };
    }
    const injections: InjectionSet = where.every((w) => w.k < L && w.k === top) ? 'featureInputs' : 'all';
    return { feeds, P, top, injections };
  };
  /**
   * Runs `where`'s injections and writes row r into rows [.., rowStride] at row rowAt[r] and its constants into
   * bias [.., biasStride] there (each from its offset).
   */
  const runInto = async (
    vectors: Float32Array,
    where: readonly { k: number; pos: number }[],
    rowAt: Int32Array,
    rows: RowSink,
    bias: RowSink,
  ): Promise<void> => {
    const B = where.length;
    const { feeds, P, top, injections } = injectionFeeds(vectors, where);
    const out = await (await sessionFor(top, injections)).run(feeds);
    // Positions ≥ P are unreachable and stay 0.
    for (const blk of blocks) {
      if (blk.layer >= top) continue;
      const f = out[`feat${blk.layer}`].data as Float32Array; // [B, N]
      const N = blk.featStart[P];
      for (let b = 0; b < B; b++)
        rows.data.set(f.subarray(b * N, (b + 1) * N), rowAt[b] * rows.stride + rows.offset + blk.first);
    }
    const nErr = Math.min(top, L);
    const err = out.err?.data as Float32Array; // [B, nErr, P]
    const tok = out.tok.data as Float32Array; // [B, P]
    const biasOut = out.bias.data as Float32Array; // [B, nLevels, P]: levels 0..nLevels-1
    const nLevels = top === L ? L + 2 : top + 2;
    for (let b = 0; b < B; b++) {
      const base = rowAt[b] * rows.stride + rows.offset + nActive;
      for (let l = 0; l < nErr; l++)
        rows.data.set(err.subarray((b * nErr + l) * P, (b * nErr + l + 1) * P), base + l * T);
      rows.data.set(tok.subarray(b * P, (b + 1) * P), base + L * T);
      const at = rowAt[b] * bias.stride + bias.offset;
      for (let v = 0; v < nLevels; v++) {
        const o = (b * nLevels + v) * P;
        bias.data.set(biasOut.subarray(o, o + P), at + v * T);
      }
    }
  };
  /**
   * Rows of `sites` into the sinks. Feature inputs of several layers run one layer at a time, so that each run
   * reads one layer's sites and walks no layer above them (one session per layer); other batches run whole.
   */
  const injectInto = async (
    vectors: Float32Array,
    sites: readonly InjectionSite[],
    rows: RowSink,
    bias: RowSink,
  ): Promise<void> => {
    const B = sites.length;
    if (vectors.length !== B * d)
      throw new Error(`injected rows: ${vectors.length} values for ${B} vectors of ${d}`);
    if (B === 0) return;
    const where = sites.map(siteOf);
    const groups = where.every((w) => w.k < L) ? groupBy(where.map((w) => w.k)) : [where.map((_, b) => b)];
    for (const group of groups) {
      let part = vectors;
      if (group.length < B) {
        part = new Float32Array(group.length * d);
        for (let r = 0; r < group.length; r++)
          part.set(vectors.subarray(group[r] * d, (group[r] + 1) * d), r * d);
      }
      const runSites = group.map((b) => where[b]);
      await runInto(part, runSites, Int32Array.from(group), rows, bias);
    }
  };
  const injectedRowsWithBias = async (
    vectors: Float32Array,
    sites: readonly InjectionSite[],
  ): Promise<{ rows: Float32Array; bias: Float32Array }> => {
    const B = sites.length;
    const rows = new Float32Array(B * rowSize);
    const bias = new Float32Array(B * nBias);
    await injectInto(
      vectors,
      sites,
      { data: rows, stride: rowSize, offset: 0 },
      { data: bias, stride: nBias, offset: 0 },
    );
    return { rows, bias };
  };
  const injectedRows = async (vectors: Float32Array, sites: readonly InjectionSite[]) =>
    (await injectedRowsWithBias(vectors, sites)).rows;
  const targetInjections = (targets: readonly RowTarget[]) => {
    const inj = new Float32Array(targets.length * d);
    const sites: InjectionSite[] = targets.map((t, b) => {
      if (t.kind === 'logit') {
        if (!(t.index >= 0 && t.index < K)) throw new Error(`logit target ${t.index} is outside [0, ${K})`);
        inj.set(logitVectors.subarray(t.index * d, (t.index + 1) * d), b * d);
        return { kind: 'final', pos: T - 1 };
      }
      const i = t.activeIndex;
      if (!(i >= 0 && i < nActive)) throw new Error(`feature target ${i} is outside [0, ${nActive})`);
      inj.set(encoders.subarray(i * d, (i + 1) * d), b * d);
      return { kind: 'featureInput', layer: act.layer[i], pos: act.pos[i] };
    });
    return { inj, sites };
  };
  const computeRows: ComputeRows = async (targets) => {
    const { inj, sites } = targetInjections(targets);
    return injectedRows(inj, sites);
  };
  const computeRowsWithBias: ComputeRows = async (targets) => {
    const { inj, sites } = targetInjections(targets);
    const width = rowSize + nBias;
    const out = new Float32Array(targets.length * width);
    await injectInto(
      inj,
      sites,
      { data: out, stride: width, offset: 0 },
      { data: out, stride: width, offset: rowSize },
    );
    targets.forEach((t, b) => {
      if (t.kind === 'feature') {
        // A feature's pre-activation is W_enc·x + b_enc: its own encoder bias enters at its layer and position.
        const i = t.activeIndex;
        out[b * width + rowSize + (1 + act.layer[i]) * T + act.pos[i]] +=
          dict.layers[act.layer[i]].bEnc.data[act.feature[i]];
      }
    });
    return out;
  };
  const H = model.config.nHeads;
  const attentionFlows = async (vector: Float32Array, site: InjectionSite): Promise<Float32Array> => {
    if (vector.length !== d)
      throw new Error(`attention flows: a cotangent of ${vector.length} values, not ${d}`);
    const { feeds, P, top, injections } = injectionFeeds(vector, [siteOf(site)]);
    const out = await (await sessionFor(top, injections, true)).run(feeds);
    const flows = new Float32Array(L * H * T * T);
    for (let l = 0; l < Math.min(top + 1, L); l++) {
      const f = out[`flow${l}`].data as Float32Array; // [1, H, P, P]
      for (let h = 0; h < H; h++)
        for (let q = 0; q < P; q++)
          flows.set(f.subarray((h * P + q) * P, (h * P + q + 1) * P), ((l * H + h) * T + q) * T);
    }
    return flows;
  };
  return {
    context: ctx,
    computeRows,
    computeRowsWithBias,
    injectedRows,
    injectedRowsWithBias,
    attentionFlows,
    close: async () => {
      for (const s of sessions.values()) await (await s).session.release();
      sessions.clear();
    },
  };
}
