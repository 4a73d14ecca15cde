/**
 * A plain-TypeScript forward pass, written for obviousness rather than speed: the oracle that the compiled
 * ONNX model is tested against. Everything is computed in float64 and returned as float32. Hooks follow
 * model/hooks.ts (TransformerLens semantics) exactly. Only tests and debugging use it.
 */
import type { Activation, ModelConfig } from './config.ts';
import { type BlockHook, blockHook, type HookName } from './hooks.ts';
import type { F32 } from '../tensor/host.ts';
import type { ModelWeights, NormWeights } from './weights.ts';
import { rotaryInvFreq } from './rope.ts';

export interface ReferenceOutput {
  logits: F32; // [T, dVocab]
  hooks: Map<HookName, F32>;
}

export interface ReferenceOptions {
  /**
   * Sees each hook's value (row-major, shaped as in hooks.ts) before it flows on, and may change it in place:
   * patching and ablation, written the obvious way, for the compiled model's interventions to be checked on.
   */
  hook?: (name: HookName, value: Float64Array) => void;
}

/** Passes a value through its hook site: the option's edit, then the record. */
type Site = (name: HookName, shape: number[], value: Float64Array) => Float64Array;

type Mat = Float64Array; // row-major [rows, cols], dims carried alongside

function toF32(shape: number[], m: Float64Array): F32 {
  return { dtype: 'float32', shape, data: Float32Array.from(m) };
}

/** x [T, n] @ W [n, m] (+ b [m]) -> [T, m]. */
function matmul(x: Mat, T: number, n: number, w: F32, m: number, b?: F32): Mat {
  if (w.shape[0] !== n || w.shape[1] !== m)
    throw new Error(`reference: weight shape [${w.shape}] is not [${n}, ${m}]`);
  const out = new Float64Array(T * m);
  for (let t = 0; t < T; t++) {
    for (let j = 0; j < m; j++) {
      let s = b ? b.data[j] : 0;
      for (let i = 0; i < n; i++) s += x[t * n + i] * w.data[i * m + j];
      out[t * m + j] = s;
    }
  }
  return out;
}

interface NormResult {
  scale: Float64Array; // [T]
  normalized: Mat; // [T, d], before weight and bias
  out: Mat; // [T, d]
}

/** LayerNorm or RMSNorm; with a hook prefix, hook_scale and hook_normalized pass through `site`. */
function norm(
  kind: ModelConfig['norm'],
  x: Mat,
  T: number,
  d: number,
  eps: number,
  p: NormWeights,
  hooked?: { site: Site; prefix: 'ln_final' | `blocks.${number}.ln${1 | 2}` },
): NormResult {
  const centred = new Float64Array(T * d);
  const scale = new Float64Array(T);
  for (let t = 0; t < T; t++) {
    const row = x.subarray(t * d, (t + 1) * d);
    let mean = 0;
    if (kind === 'layernorm') {
      for (const v of row) mean += v;
      mean /= d;
    }
    let sq = 0;
    for (let i = 0; i < d; i++) {
      centred[t * d + i] = row[i] - mean;
      sq += (row[i] - mean) * (row[i] - mean);
    }
    scale[t] = Math.sqrt(sq / d + eps);
  }
  if (hooked) hooked.site(`${hooked.prefix}.hook_scale`, [T, 1], scale);
  const normalized = new Float64Array(T * d);
  for (let k = 0; k < T * d; k++) normalized[k] = centred[k] / scale[Math.floor(k / d)];
  if (hooked) hooked.site(`${hooked.prefix}.hook_normalized`, [T, d], normalized);
  const out = new Float64Array(T * d);
  for (let k = 0; k < T * d; k++)
    out[k] = normalized[k] * p.w.data[k % d] + (kind === 'layernorm' && p.b ? p.b.data[k % d] : 0);
  return { scale, normalized, out };
}

function erf(x: number): number {
  // Abramowitz & Stegun 7.1.26 is too coarse for a 1e-4 oracle; this series/continued-fraction pair is ~1e-15.
  const ax = Math.abs(x);
  if (ax < 2.5) {
    let term = ax;
    let sum = ax;
    for (let n = 1; n < 100; n++) {
      term *= (-ax * ax) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17) break;
    }
    return Math.sign(x) * ((2 / Math.sqrt(Math.PI)) * sum);
  }
  // erfc continued fraction (Lentz) for the tail.
  let f = ax;
  let C = ax;
  let D = 0;
  for (let n = 1; n < 200; n++) {
    const a = n / 2;
    D = ax + a * D;
    D = 1 / D;
    C = ax + a / C;
    const delta = C * D;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return Math.sign(x) * (1 - erfc);
}

export function activate(act: Activation, x: number): number {
  switch (act) {
    case 'gelu':
      return 0.5 * x * (1 + erf(x / Math.SQRT2));
    case 'gelu_new':
    case 'gelu_pytorch_tanh':
      return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
    case 'silu':
      return x / (1 + Math.exp(-x));
    case 'relu':
      return Math.max(0, x);
  }
}

/** RoPE inverse frequencies [dim/2] in float64 (rope.ts). */
export const ropeInvFreq = (config: ModelConfig): Float64Array => rotaryInvFreq(config, Float64Array);

/** HF rotate_half convention: pairs (i, i + dim/2) of each head's first `dim` components. In place. */
function applyRope(x: Mat, T: number, heads: number, dHead: number, inv: Float64Array): void {
  const half = inv.length;
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < heads; h++) {
      const o = t * heads * dHead + h * dHead;
      for (let i = 0; i < half; i++) {
        const angle = t * inv[i];
        const c = Math.cos(angle);
        const s = Math.sin(angle);
        const a = x[o + i];
        const b = x[o + i + half];
        x[o + i] = a * c - b * s;
        x[o + i + half] = b * c + a * s;
      }
    }
  }
}

/** Per-head RMSNorm (Qwen3 q_norm/k_norm). In place. */
function headNorm(x: Mat, T: number, heads: number, dHead: number, eps: number, p: NormWeights): void {
  for (let r = 0; r < T * heads; r++) {
    const o = r * dHead;
    let sq = 0;
    for (let i = 0; i < dHead; i++) sq += x[o + i] * x[o + i];
    const scale = Math.sqrt(sq / dHead + eps);
    for (let i = 0; i < dHead; i++) x[o + i] = (x[o + i] / scale) * p.w.data[i];
  }
}

function softcap(x: number, cap: number | undefined): number {
  return cap ? cap * Math.tanh(x / cap) : x;
}

export function referenceForward(
  config: ModelConfig,
  weights: ModelWeights,
  tokens: ArrayLike<number>,
  options: ReferenceOptions = {},
): ReferenceOutput {
  const T = tokens.length;
  const d = config.dModel;
  const H = config.nHeads;
  const Hkv = config.nKvHeads;
  const dh = config.dHead;
  const V = config.dVocab;
  if (T === 0) throw new Error('reference: empty token sequence');
  if (config.positional === 'learned' && T > config.nCtx)
    throw new Error(`reference: ${T} tokens exceed nCtx ${config.nCtx}`);
  for (let t = 0; t < T; t++) {
    if (!Number.isInteger(tokens[t]) || tokens[t] < 0 || tokens[t] >= V)
      throw new Error(`reference: token ${tokens[t]} outside [0, ${V})`);
  }
  const hooks = new Map<HookName, F32>();
  const site: Site = (name, shape, value) => {
    options.hook?.(name, value);
    hooks.set(name, toF32(shape, value));
    return value;
  };
  const rowShape = [T, d];

  const embed = new Float64Array(T * d);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < d; i++)
      embed[t * d + i] = weights.embed.data[tokens[t] * d + i] * (config.embedScale ?? 1);
  }
  site('hook_embed', rowShape, embed);
  let resid = Float64Array.from(embed);
  if (config.positional === 'learned') {
    if (!weights.posEmbed) throw new Error('reference: learned positions need posEmbed');
    const pos = new Float64Array(T * d);
    for (let t = 0; t < T; t++) for (let i = 0; i < d; i++) pos[t * d + i] = weights.posEmbed.data[t * d + i];
    site('hook_pos_embed', rowShape, pos);
    for (let k = 0; k < resid.length; k++) resid[k] += pos[k];
  }
  const invFreq = config.positional === 'rope' ? ropeInvFreq(config) : undefined;
  const sliding = new Set(config.slidingWindowLayers ?? []);
  const group = H / Hkv;

  for (let l = 0; l < config.nLayers; l++) {
    const L = weights.layers[l];
    const at = (hook: BlockHook, shape: number[], value: Float64Array) =>
      site(blockHook(l, hook), shape, value);
    at('hook_resid_pre', rowShape, resid);

    const n1 = norm(config.norm, resid, T, d, config.normEps, L.ln1, { site, prefix: `blocks.${l}.ln1` });
    // Per-head values are [T, heads, dHead] row-major, which is the projection's [T, heads · dHead].
    const q = at('attn.hook_q', [T, H, dh], matmul(n1.out, T, d, L.attn.wQ, H * dh, L.attn.bQ)).slice();
    const k = at('attn.hook_k', [T, Hkv, dh], matmul(n1.out, T, d, L.attn.wK, Hkv * dh, L.attn.bK)).slice();
    const v = at('attn.hook_v', [T, Hkv, dh], matmul(n1.out, T, d, L.attn.wV, Hkv * dh, L.attn.bV));
    if (config.qkNorm) {
      if (!L.attn.qNorm || !L.attn.kNorm) throw new Error(`reference: layer ${l} needs qNorm and kNorm`);
      headNorm(q, T, H, dh, config.normEps, L.attn.qNorm);
      headNorm(k, T, Hkv, dh, config.normEps, L.attn.kNorm);
    }
    if (invFreq) {
      applyRope(q, T, H, dh, invFreq);
      applyRope(k, T, Hkv, dh, invFreq);
    }
    const window = sliding.has(l) ? config.slidingWindow : undefined;
    const pattern = new Float64Array(H * T * T);
    for (let h = 0; h < H; h++) {
      const kv = Math.floor(h / group);
      for (let i = 0; i < T; i++) {
        const scores = new Float64Array(T).fill(Number.NEGATIVE_INFINITY);
        let max = Number.NEGATIVE_INFINITY;
        for (let j = 0; j <= i; j++) {
          if (window !== undefined && i - j >= window) continue;
          let s = 0;
          for (let c = 0; c < dh; c++) s += q[i * H * dh + h * dh + c] * k[j * Hkv * dh + kv * dh + c];
          scores[j] = softcap(s * config.attnScale, config.attnSoftcap);
          max = Math.max(max, scores[j]);
        }
        let sum = 0;
        for (let j = 0; j <= i; j++)
          sum += scores[j] === Number.NEGATIVE_INFINITY ? 0 : Math.exp(scores[j] - max);
        for (let j = 0; j < T; j++)
          pattern[h * T * T + i * T + j] =
            scores[j] === Number.NEGATIVE_INFINITY ? 0 : Math.exp(scores[j] - max) / sum;
      }
    }
    at('attn.hook_pattern', [H, T, T], pattern);
    const z = new Float64Array(T * H * dh);
    for (let h = 0; h < H; h++) {
      const kv = Math.floor(h / group);
      for (let i = 0; i < T; i++)
        for (let j = 0; j < T; j++) {
          const p = pattern[h * T * T + i * T + j];
          for (let c = 0; c < dh; c++) z[i * H * dh + h * dh + c] += p * v[j * Hkv * dh + kv * dh + c];
        }
    }
    at('attn.hook_z', [T, H, dh], z);
    let attnOut = matmul(z, T, H * dh, L.attn.wO, d, L.attn.bO);
    if (config.postNorms) {
      if (!L.ln1Post) throw new Error(`reference: layer ${l} needs ln1Post`);
      attnOut = norm(config.norm, attnOut, T, d, config.normEps, L.ln1Post).out;
    }
    at('hook_attn_out', rowShape, attnOut);
    const mid = new Float64Array(T * d);
    for (let k2 = 0; k2 < mid.length; k2++) mid[k2] = resid[k2] + attnOut[k2];
    at('hook_resid_mid', rowShape, mid);

    const n2 = norm(config.norm, mid, T, d, config.normEps, L.ln2, { site, prefix: `blocks.${l}.ln2` });
    const mlpIn = at('mlp.hook_in', rowShape, n2.out);

    const m = config.dMlp;
    const up = matmul(mlpIn, T, d, L.mlp.wIn, m, L.mlp.bIn);
    const hidden = new Float64Array(T * m);
    if (config.gatedMlp) {
      if (!L.mlp.wGate) throw new Error(`reference: layer ${l} needs wGate`);
      const gate = at('mlp.hook_pre', [T, m], matmul(mlpIn, T, d, L.mlp.wGate, m));
      at('mlp.hook_pre_linear', [T, m], up);
      for (let k2 = 0; k2 < hidden.length; k2++) hidden[k2] = activate(config.act, gate[k2]) * up[k2];
    } else {
      at('mlp.hook_pre', [T, m], up);
      for (let k2 = 0; k2 < hidden.length; k2++) hidden[k2] = activate(config.act, up[k2]);
    }
    at('mlp.hook_post', [T, m], hidden);
    const mlpOut = at('mlp.hook_out', rowShape, matmul(hidden, T, m, L.mlp.wOut, d, L.mlp.bOut));
    let added = mlpOut;
    if (config.postNorms) {
      if (!L.ln2Post) throw new Error(`reference: layer ${l} needs ln2Post`);
      added = norm(config.norm, mlpOut, T, d, config.normEps, L.ln2Post).out;
    }
    at('hook_mlp_out', rowShape, added);
    resid = new Float64Array(T * d);
    for (let k2 = 0; k2 < resid.length; k2++) resid[k2] = mid[k2] + added[k2];
    at('hook_resid_post', rowShape, resid);
  }

  const nf = norm(config.norm, resid, T, d, config.normEps, weights.lnFinal, { site, prefix: 'ln_final' });
  const logits = matmul(nf.out, T, d, weights.unembed, V, weights.bUnembed);
  if (config.finalSoftcap)
    for (let k2 = 0; k2 < logits.length; k2++) logits[k2] = softcap(logits[k2], config.finalSoftcap);
  return { logits: toF32([T, V], logits), hooks };
}
