/**
 * The five supported architectures (GPT-2, Llama, Gemma-2, Qwen2, Qwen3), defined once as a builder
 * program. Config switches select the variant; hook points follow hooks.ts exactly.
 *
 * Every hook site passes its value through `options.hook`, which may return a replacement (freeze,
 * add a vector, read it for a gradient); the tensor returned is what flows downstream and what
 * `TransformerGraph.hooks` records. Linearisation for attribution is `options.detach`.
 */
import type { GraphBuilder, Tensor } from '../tensor/graph.ts';
import type { F32 } from '../tensor/host.ts';
import type { ModelConfig } from './config.ts';
import { blockHook, type BlockHook, type HookName } from './hooks.ts';
import type { FreezeKind } from './replacement.ts';
import { rotaryInvFreq } from './rope.ts';
import type { ModelWeights } from './weights.ts';

/** ModelWeights with every F32 replaced by T (symbolic tensors, names, ...). */
export type WeightTree<T> = MapLeaves<ModelWeights, T>;
type MapLeaves<W, T> = W extends F32
  ? T
  : W extends readonly (infer U)[]
    ? MapLeaves<U, T>[]
    : { [K in keyof W]: MapLeaves<W[K], T> };

function isF32(v: unknown): v is F32 {
  return (
    typeof v === 'object' &&
    v !== null &&
    (v as F32).dtype === 'float32' &&
    (v as F32).data instanceof Float32Array
  );
}

/** Maps every weight to fn(path, weight), with paths like 'layers.0.attn.wQ'. */
export function mapWeights<T>(w: ModelWeights, fn: (path: string, v: F32) => T): WeightTree<T> {
  const walk = (v: unknown, path: string): unknown => {
    if (isF32(v)) return fn(path, v);
    if (Array.isArray(v)) return v.map((x, i) => walk(x, `${path}.${i}`));
    if (typeof v === 'object' && v !== null) {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v))
        if (x !== undefined) out[k] = walk(x, path ? `${path}.${k}` : k);
      return out;
    }
    return v;
  };
  return walk(w, '') as WeightTree<T>;
}

/** Every weight as a flat name → tensor record (the order is stable). */
export function flattenWeights(w: ModelWeights): Record<string, F32> {
  const out: Record<string, F32> = {};
  mapWeights(w, (path, v) => {
    out[path] = v;
  });
  return out;
}

/** Weights as graph constants (ONNX initializers; ORT pre-packs constant MatMul operands). */
export function constantWeights(g: GraphBuilder, w: ModelWeights): WeightTree<Tensor> {
  return mapWeights(w, (path, v) => g.constant(v, `w.${path}`));
}

export interface TransformerOptions {
  hook?: (name: HookName, value: Tensor) => Tensor;
  detach?: readonly FreezeKind[];
  /** With 'mlp' detached, the gradient flows through this linear skip path: out = skip + detach(y − skip). */
  mlpSkip?: (layer: number, mlpIn: Tensor) => Tensor;
  /** int64 [T] absolute positions; default 0..T-1, or P..P+T-1 after a KV cache of length P. */
  positions?: Tensor;
  /**
   * Keys and values of earlier positions, per layer, each [B, nKvHeads, P, dHead] (P may be 0). With it,
   * `tokens` are the next positions and the graph returns the extended cache as `present`.
   */
  past?: readonly KvPair[];
  /**
   * Gemma-2's post-norm denominators ([B, T, 1]) have no TransformerLens hook in hooks.ts; this sees and may
   * replace them, so that direct-effect interventions can freeze them like every other norm scale.
   */
  postNormScale?: (layer: number, norm: 'ln1_post' | 'ln2_post', scale: Tensor) => Tensor;
}

export interface KvPair {
  k: Tensor; // [B, nKvHeads, P, dHead], rotary already applied
  v: Tensor; // [B, nKvHeads, P, dHead]
}

export interface TransformerGraph {
  logits: Tensor; // [B, T, dVocab]
  /** Final norm output after its weight and bias, the input of the unembedding. */
  lnFinalOut: Tensor; // [B, T, dModel]
  hooks: Map<HookName, Tensor>;
  /** Past + new keys and values per layer, when `options.past` was given. */
  present?: KvPair[];
}

type NormT = WeightTree<Tensor>['lnFinal'];

/** Rotary inverse frequencies [dim/2] in float32, as the compiled graph applies them (rope.ts). */
export const ropeInvFreq = (config: ModelConfig): Float32Array => rotaryInvFreq(config, Float32Array);

function activation(g: GraphBuilder, kind: ModelConfig['act'], x: Tensor): Tensor {
  switch (kind) {
    case 'gelu_new':
    case 'gelu_pytorch_tanh': {
      const inner = g.mul(g.add(x, g.mul(g.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI));
      return g.mul(g.mul(x, 0.5), g.add(g.tanh(inner), 1));
    }
    case 'gelu':
      return g.mul(g.mul(x, 0.5), g.add(g.erf(g.mul(x, Math.SQRT1_2)), 1));
    case 'silu':
      return g.mul(x, g.sigmoid(x));
    case 'relu':
      return g.relu(x);
  }
}

export function buildTransformer(
  g: GraphBuilder,
  config: ModelConfig,
  weights: WeightTree<Tensor>,
  tokens: Tensor, // int32 [B, T]
  options: TransformerOptions = {},
): TransformerGraph {
  if (tokens.rank !== 2) throw new Error(`buildTransformer: tokens must be [B, T], got rank ${tokens.rank}`);
  if (weights.layers.length !== config.nLayers) {
    throw new Error(`buildTransformer: ${weights.layers.length} weight layers for nLayers ${config.nLayers}`);
  }
  const [B, T] = tokens.shape;
  const { nHeads, nKvHeads, dHead } = config;
  if (nHeads % nKvHeads !== 0) throw new Error(`nHeads ${nHeads} is not a multiple of nKvHeads ${nKvHeads}`);
  const rep = nHeads / nKvHeads;
  const detach = new Set(options.detach ?? []);
  const hooks = new Map<HookName, Tensor>();
  const site = (name: HookName, v: Tensor): Tensor => {
    const out = options.hook ? options.hook(name, v) : v;
    hooks.set(name, out);
    return out;
  };
  const linear = (x: Tensor, w: Tensor, b?: Tensor) => (b ? g.add(g.matmul(x, w), b) : g.matmul(x, w));

  /** LayerNorm or RMSNorm with the scale as an explicit tensor (hook_scale), so it can be frozen. */
  const norm = (x: Tensor, w: NormT, prefix?: string, scaleHook?: (s: Tensor) => Tensor): Tensor => {
    const xc = config.norm === 'layernorm' ? g.sub(x, g.reduceMean(x, [-1], true)) : x;
    let scale = g.sqrt(g.add(g.reduceMean(g.pow(xc, 2), [-1], true), config.normEps));
    if (prefix) scale = site(`${prefix}.hook_scale` as HookName, scale);
    if (scaleHook) scale = scaleHook(scale);
    if (detach.has('ln.hook_scale')) scale = g.detach(scale);
    let normalized = g.div(xc, scale);
    if (prefix) normalized = site(`${prefix}.hook_normalized` as HookName, normalized);
    const y = g.mul(normalized, w.w);
    return w.b ? g.add(y, w.b) : y;
  };
  /** Per-head RMSNorm over dHead (Qwen3 q_norm / k_norm). */
  const headNorm = (x: Tensor, w: NormT): Tensor => {
    const scale = g.sqrt(g.add(g.reduceMean(g.pow(x, 2), [-1], true), config.normEps));
    return g.mul(g.div(x, scale), w.w);
  };

  const past = options.past;
  if (past && past.length !== config.nLayers)
    throw new Error(`past: ${past.length} layers for nLayers ${config.nLayers}`);
  const pastLen = past ? g.axisSize(past[0].k, 2) : undefined;
  const positions =
    options.positions ?? (pastLen ? g.arange(pastLen, g.add(pastLen, g.dimSize(T)), T) : g.range(T));
  const posF = g.cast(positions, 'float32'); // [T]

  let rope: { cos: Tensor; sin: Tensor; dim: number } | undefined;
  if (config.positional === 'rope') {
    const inv = ropeInvFreq(config);
    const angles = g.matmul(
      g.unsqueeze(posF, [1]),
      g.constant({ dtype: 'float32', shape: [1, inv.length], data: inv }),
    );
    const both = g.concat([angles, angles], -1); // [T, dim]
    rope = { cos: g.cos(both), sin: g.sin(both), dim: 2 * inv.length };
  }
  /** HF rotate_half rotary embedding on x [B, heads, T, dHead]; channels past `dim` pass through. */
  const applyRope = (x: Tensor): Tensor => {
    if (!rope) return x;
    const half = rope.dim / 2;
    const xr = rope.dim === dHead ? x : g.slice(x, -1, 0, rope.dim);
    const rotated = g.concat([g.neg(g.slice(xr, -1, half, rope.dim)), g.slice(xr, -1, 0, half)], -1);
    const out = g.add(g.mul(xr, rope.cos), g.mul(rotated, rope.sin));
    return rope.dim === dHead ? out : g.concat([out, g.slice(x, -1, rope.dim, dHead)], -1);
  };

  // Key j is visible from query i when j ≤ i (and i − j < window for sliding-window layers).
  const S = past ? 'S' : T; // key length: P + T with a cache
  const keyPositions = pastLen ? g.arange(g.ints([0]), g.add(pastLen, g.dimSize(T)), S) : positions;
  const qPos = g.unsqueeze(positions, [1]); // [T, 1]
  const kPos = g.unsqueeze(keyPositions, [0]); // [1, S]
  const causal = g.greaterOrEqual(qPos, kPos);
  const windowMask = (w: number) =>
    g.and(
      causal,
      g.less(g.sub(qPos, kPos), g.constant({ dtype: 'int64', shape: [], data: BigInt64Array.of(BigInt(w)) })),
    );

  let embed = g.gather(weights.embed, tokens);
  if (config.embedScale !== undefined) embed = g.mul(embed, config.embedScale);
  let resid = site('hook_embed', embed);
  if (config.positional === 'learned') {
    if (!weights.posEmbed) throw new Error('learned positions need weights.posEmbed');
    const pos = g.expandLike(g.gather(weights.posEmbed, positions), resid); // [B, T, d], as TransformerLens has it
    resid = g.add(resid, site('hook_pos_embed', pos));
  }

  const present: KvPair[] = [];
  for (let l = 0; l < config.nLayers; l++) {
    const lw = weights.layers[l];
    const h = (hook: BlockHook) => blockHook(l, hook);
    resid = site(h('hook_resid_pre'), resid);

    // attention
    const x = norm(resid, lw.ln1, `blocks.${l}.ln1`);
    let q = linear(x, lw.attn.wQ, lw.attn.bQ);
    let k = linear(x, lw.attn.wK, lw.attn.bK);
    const v = linear(x, lw.attn.wV, lw.attn.bV);
    // Per-head hooks see [B, T, heads, dHead], as TransformerLens lays them out; attention runs head-major.
    const headMajor = (hook: BlockHook, x: Tensor, heads: number) =>
      g.transpose(site(h(hook), g.reshape(x, [B, T, heads, dHead])), [0, 2, 1, 3]);
    q = headMajor('attn.hook_q', q, nHeads); // [B, H, T, dh]
    k = headMajor('attn.hook_k', k, nKvHeads); // [B, Hkv, T, dh]
    const vh = headMajor('attn.hook_v', v, nKvHeads); // [B, Hkv, T, dh]
    if (lw.attn.qNorm && lw.attn.kNorm) {
      q = headNorm(q, lw.attn.qNorm);
      k = headNorm(k, lw.attn.kNorm);
    }
    q = g.mul(applyRope(q), config.attnScale);
    k = applyRope(k);
    let vAll = vh;
    if (past) {
      k = g.concat([past[l].k, k], 2); // [B, Hkv, S, dh]
      vAll = g.concat([past[l].v, vh], 2);
      present.push({ k, v: vAll });
    }
    // GQA without copying K/V: query heads are grouped [B, Hkv, rep, T, dh] against K [B, Hkv, 1, dh, T].
    const qg = g.reshape(q, [B, nKvHeads, rep, T, dHead]);
    const kt = g.unsqueeze(g.mT(k), [2]);
    let scores = g.reshape(g.matmul(qg, kt), [B, nHeads, T, S]);
    if (config.attnSoftcap !== undefined)
      scores = g.mul(g.tanh(g.div(scores, config.attnSoftcap)), config.attnSoftcap);
    const sliding = config.slidingWindow !== undefined && (config.slidingWindowLayers ?? []).includes(l);
    const mask = sliding ? windowMask(config.slidingWindow as number) : causal;
    let pattern = site(h('attn.hook_pattern'), g.softmax(g.where(mask, scores, -1e30), -1)); // [B, H, T, S]
    if (detach.has('attn.hook_pattern')) pattern = g.detach(pattern);
    const z = g.matmul(g.reshape(pattern, [B, nKvHeads, rep, T, S]), g.unsqueeze(vAll, [2])); // [B, Hkv, rep, T, dh]
    const zHooked = site(h('attn.hook_z'), g.transpose(g.reshape(z, [B, nHeads, T, dHead]), [0, 2, 1, 3]));
    const zFlat = g.reshape(zHooked, [B, T, nHeads * dHead]);
    let attnOut = linear(zFlat, lw.attn.wO, lw.attn.bO);
    const postScale = options.postNormScale;
    if (lw.ln1Post)
      attnOut = norm(attnOut, lw.ln1Post, undefined, postScale && ((s) => postScale(l, 'ln1_post', s)));
    resid = g.add(resid, site(h('hook_attn_out'), attnOut));
    resid = site(h('hook_resid_mid'), resid);

    // MLP
    const mlpIn = site(h('mlp.hook_in'), norm(resid, lw.ln2, `blocks.${l}.ln2`));
    const up = linear(mlpIn, lw.mlp.wIn, lw.mlp.bIn);
    // TransformerLens's gated MLP: hook_pre is the gate (the activation's input), hook_pre_linear the up projection.
    const hidden = site(
      h('mlp.hook_post'),
      lw.mlp.wGate
        ? g.mul(
            activation(g, config.act, site(h('mlp.hook_pre'), g.matmul(mlpIn, lw.mlp.wGate))),
            site(h('mlp.hook_pre_linear'), up),
          )
        : activation(g, config.act, site(h('mlp.hook_pre'), up)),
    );
    let mlpOut = site(h('mlp.hook_out'), linear(hidden, lw.mlp.wOut, lw.mlp.bOut));
    if (lw.ln2Post)
      mlpOut = norm(mlpOut, lw.ln2Post, undefined, postScale && ((s) => postScale(l, 'ln2_post', s)));
    mlpOut = site(h('hook_mlp_out'), mlpOut);
    if (detach.has('mlp')) {
      const skip = options.mlpSkip?.(l, mlpIn);
      mlpOut = skip ? g.add(skip, g.detach(g.sub(mlpOut, skip))) : g.detach(mlpOut);
      hooks.set(h('hook_mlp_out'), mlpOut);
    }
    resid = site(h('hook_resid_post'), g.add(resid, mlpOut));
  }

  const lnFinalOut = norm(resid, weights.lnFinal, 'ln_final');
  let logits = linear(lnFinalOut, weights.unembed, weights.bUnembed);
  if (config.finalSoftcap !== undefined)
    logits = g.mul(g.tanh(g.div(logits, config.finalSoftcap)), config.finalSoftcap);
  return { logits, lnFinalOut, hooks, ...(past ? { present } : {}) };
}
