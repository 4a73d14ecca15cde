import type { BlockHook } from '../model/hooks.ts';
import type { WeightTree } from '../model/transformer.ts';
import type { GraphBuilder, Tensor } from '../tensor/graph.ts';

/** What the top layer of a feature-row trace graph needs from buildTraceGraph (trace.ts). */
export interface TopLayerInputs {
  g: GraphBuilder;
  layer: WeightTree<Tensor>['layers'][number];
  /** The dictionary's feature-input hook. */
  input: BlockHook;
  /** LayerNorm (centring) rather than RMSNorm. */
  center: boolean;
  nHeads: number;
  nKvHeads: number;
  dHead: number;
  /** Each row's injected vector (its feature's encoder row): [B, d]. */
  inj: Tensor;
  /** 1 at each row's target position: [B, P]. */
  at: Tensor;
  /** A frozen per-position scale of this layer at each row's target position: [B, 1]. */
  scaleAt: (kind: 'ln2' | 'ln1Post') => Tensor;
  /** The layer's pattern grouped by KV head, over ln1's scale: [1, Hkv, P(key), rep, P(query)]. */
  grouped: Tensor;
  /** ln1's frozen scale by key position: [1, P]. */
  ln1Scale: Tensor;
}

/**
 * The top layer of a trace graph whose rows all inject feature inputs at this layer. A row's gradient sits at
 * its target's position alone until the attention spreads it over the keys, so everything before that is a
 * [B, d] row vector; the attention adjoint is then, per head h, the pattern column A_h[q_b, :] (over ln1's
 * scale) times u_h = (W_O,h-part of the row) · W_V,hᵀ · w_ln1, and one matmul [B, P, H + 1] @ [B, H + 1, d]
 * sums the heads and places the row's own residual-stream gradient at its position.
 *
 * Returns the residual-stream gradient below the layer [B, P, d] and its constants' contributions by position.
 */
export function featureTopLayer(t: TopLayerInputs): { gR: Tensor; terms: Tensor[] } {
  const { g, layer, input, center, at, inj } = t;
  const { nHeads: H, nKvHeads: Hkv, dHead: dh } = t;
  const rep = H / Hkv;
  const d = inj.shape[1];
  const terms: Tensor[] = [];
  /** A constant c read by each row's vector x at its target: (x·c) at that position, [B, P]. */
  const against = (x: Tensor, c: Tensor): Tensor => g.mul(g.reduceSum(g.mul(x, c), [-1], true), at);
  const normT = (gy: Tensor, s: Tensor, nw?: Tensor): Tensor => {
    const v = g.div(nw ? g.mul(gy, nw) : gy, s);
    return center ? g.sub(v, g.reduceMean(v, [-1], true)) : v;
  };
  const atCol = g.unsqueeze(at, [2]); // [B, P, 1]
  if (input === 'hook_resid_pre') {
    // Read below the attention: nothing of the row passes through it.
    return { gR: g.mul(atCol, g.unsqueeze(inj, [1])), terms };
  }
  let gMid = inj; // [B, d], at hook_resid_mid
  if (input === 'ln2.hook_normalized') gMid = normT(inj, t.scaleAt('ln2'));
  else if (input === 'mlp.hook_in') {
    if (layer.ln2.b) terms.push(against(inj, layer.ln2.b));
    gMid = normT(inj, t.scaleAt('ln2'), layer.ln2.w);
  }
  let gA = gMid;
  if (layer.ln1Post) {
    if (layer.ln1Post.b) terms.push(against(gMid, layer.ln1Post.b));
    gA = normT(gA, t.scaleAt('ln1Post'), layer.ln1Post.w);
  }
  if (layer.attn.bO) terms.push(against(gA, layer.attn.bO));
  const gz = g.reshape(g.matmul(gA, g.mT(layer.attn.wO)), ['B', Hkv, rep, dh]); // [B, Hkv, rep, dh]
  // Per head, W_V's block (ln1's weight folded in) maps the value gradient back to ln1's input: [1, Hkv, dh, d].
  const wv = g.unsqueeze(g.reshape(g.mul(g.mT(layer.attn.wV), layer.ln1.w), [Hkv, dh, d]), [0]);
  let u = g.reshape(g.matmul(gz, wv), ['B', H, d]); // [B, H, d]
  if (center) u = g.sub(u, g.reduceMean(u, [-1], true));
  // Each row's pattern column at its query position, by key and head h = kv·rep + r: [B, P, H].
  const cols = g.matmul(g.reshape(t.grouped, [Hkv, 'kr', 'P']), g.transpose(at, [1, 0])); // [Hkv, P·rep, B]
  const weights = g.reshape(g.transpose(g.reshape(cols, [Hkv, 'P', rep, 'B']), [3, 1, 0, 2]), ['B', 'P', H]);
  // V = ln1(x)·W_V + b_V with ln1(x) = x̂·w + β: β·W_V + b_V is a constant value at every key position.
  const b1 = layer.ln1.b;
  const bV = layer.attn.bV;
  if (b1 || bV) {
    const vBias = b1 ? g.matmul(g.unsqueeze(b1, [0]), layer.attn.wV) : undefined; // [1, Hkv·dh]
    const vb = g.reshape(vBias && bV ? g.add(vBias, bV) : ((vBias ?? bV) as Tensor), [Hkv, 1, dh]);
    const perHead = g.reshape(g.reduceSum(g.mul(gz, vb), [-1], false), ['B', H, 1]); // [B, H, 1]
    terms.push(g.mul(g.squeeze(g.matmul(weights, perHead), [2]), t.ln1Scale)); // weights are over ln1's scale
  }
  const gR = g.matmul(
    g.concat([weights, atCol], 2), // [B, P, H + 1]
    g.concat([u, g.unsqueeze(gMid, [1])], 1), // [B, H + 1, d]
  );
  return { gR, terms };
}
