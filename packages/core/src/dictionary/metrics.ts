/**
 * How good a dictionary is, measured on held-out tokens in ONE onnxruntime graph per batch that runs the
 * model three times with shared weights:
 *   clean     the model as is; the dictionary reads its clean input hooks, giving FVU, L0 and feature firing;
 *   spliced   every output hook replaced by the dictionary's reconstruction, computed from the spliced
 *             model's own input hooks (errors compound through the layers, as in the replacement model);
 *   zero      every output hook zeroed (the MLP zero-ablated, for transcoders).
 * Loss recovered = (L_zero − L_spliced) / (L_zero − L_clean). Excluded positions (BOS, padding) keep their
 * clean values and do not count in FVU/L0; a next-token target that is excluded does not count in the losses.
 */
import type { HookName } from '../model/hooks.ts';
import type { Model } from '../model/model.ts';
import { buildTransformer } from '../model/transformer.ts';
import { GraphBuilder, type Tensor } from '../tensor/graph.ts';
import { f32, type F32, i32 } from '../tensor/host.ts';
import { objectId } from '../tensor/object-id.ts';
import type { Runtime } from '../tensor/runtime.ts';
import { type HeldOutPassOptions, heldOutBatches } from './held-out.ts';
import { validateAgainstModel } from './load.ts';
import type { TokenBatches } from './train.ts';
import { type Dictionary, inputHookName, outputHookName } from './types.ts';

export interface DictionaryEvaluation {
  /** Positions that counted (not excluded). */
  tokens: number;
  /** Fraction of variance unexplained, pooled over layers: Σ‖y − ŷ‖² / Σ‖y − ȳ‖². */
  fvu: number;
  fvuPerLayer: number[];
  /** Mean active features per position, averaged over layers. */
  meanL0: number;
  l0PerLayer: number[];
  /** Features that never fired on these tokens, as a fraction of all. */
  deadFraction: number;
  deadPerLayer: number[];
  /** Mean next-token cross-entropy (nats) of the clean, spliced and output-zeroed model. */
  loss: { clean: number; spliced: number; zeroAblated: number; recovered: number; targets: number };
}

export interface EvaluationOptions extends HeldOutPassOptions {
  /** Token ids whose positions are not spliced, measured or predicted (BOS, padding). */
  excludeTokens?: readonly number[];
  /** Stop after this many batches (default 16); a finite source may end earlier. */
  maxBatches?: number;
  /**
   * Bound on B·T·V per graph run (default 2^24: 64 MB per logits tensor, three of which live at once);
   * a batch over it runs in slices of whole sequences.
   */
  maxLogitsPerRun?: number;
}

/** Activations of dictionary layer `li` on x [..., d]: [..., dTc] (the dictionary's own semantics). */
export function encodeLayerOps(g: GraphBuilder, dict: Dictionary, li: number, x: Tensor): Tensor {
  const layer = dict.layers[li];
  const input = dict.applyBDecToInput ? g.sub(x, g.constant(layer.bDec)) : x;
  const pre = g.add(g.matmul(input, g.mT(g.constant(layer.wEnc))), g.constant(layer.bEnc));
  const a = dict.activation;
  if (a.kind === 'relu') return g.relu(pre);
  let keep: Tensor;
  if (a.kind === 'jumprelu') {
    if (!layer.threshold) throw new Error(`dictionary layer ${li}: JumpReLU without a threshold`);
    keep = g.greater(pre, g.constant(layer.threshold));
  } else {
    const k = Math.min(a.k, dict.dTc);
    const shape = [...pre.shape.slice(0, -1), k];
    const [values] = g.node('TopK', [pre, g.ints([k])], [shape, shape], ['float32', 'int64'], {
      axis: -1,
      largest: 1,
      sorted: 1,
    });
    keep = g.greaterOrEqual(pre, g.slice(values, pre.rank - 1, k - 1, k));
  }
  if (a.rectify) keep = g.and(keep, g.greater(pre, g.scalar(0)));
  return g.where(keep, pre, 0);
}

/**
 * Reconstructions at every output layer from the activations of every dictionary layer: out[k] =
 * Σ_{l≤k} acts[l] @ W_dec_l[:, k−l] (CLT) or acts[k] @ W_dec_k (PLT/SAE), + b_dec_k + skip(x_k).
 */
function decodeOps(
  g: GraphBuilder,
  dict: Dictionary,
  acts: readonly Tensor[],
  inputs: readonly Tensor[],
  k: number,
): Tensor {
  const d = dict.dModel;
  const wDec = (l: number) => {
    const w = dict.layers[l].wDec;
    if (!w) throw new Error('evaluating a dictionary needs in-memory decoders (load it without lazyDecoder)');
    return w;
  };
  let y: Tensor;
  if (dict.kind === 'clt') {
    const parts: Tensor[] = [];
    for (let l = 0; l <= k; l++) {
      const w = g.slice(g.constant(wDec(l)), 1, k - l, k - l + 1); // [dTc, 1, d]
      parts.push(g.matmul(acts[l], g.reshape(w, [dict.dTc, d])));
    }
    y = parts.reduce((s, p) => g.add(s, p));
  } else y = g.matmul(acts[k], g.constant(wDec(k)));
  y = g.add(y, g.constant(dict.layers[k].bDec));
  const skip = dict.layers[k].wSkip;
  if (skip) y = g.add(y, g.matmul(inputs[k], g.mT(g.constant(skip))));
  return y;
}

/** Σ over kept (b, t) of −log p(target): logits [B, T, V], targets int32 [B, T], mask [B, T]. */
function nllSum(g: GraphBuilder, logits: Tensor, targets: Tensor, mask: Tensor, V: number): Tensor {
  const picked = g.reduceSum(g.mul(g.logSoftmax(logits, -1), g.oneHot(targets, V)), [-1], false);
  return g.neg(g.reduceSum(g.mul(picked, mask), [0, 1], false));
}

function buildEvaluationGraph(model: Model, dict: Dictionary): Uint8Array {
  const { dVocab: V } = model.config;
  const L = dict.layers.length;
  const inHooks = dict.layers.map((_, i) => inputHookName(dict, i));
  const outHooks = dict.layers.map((_, i) => outputHookName(dict, i));
  const g = new GraphBuilder();
  const tokens = g.input('tokens', 'int32', ['B', 'T']);
  const targets = g.input('targets', 'int32', ['B', 'T']);
  const lossMask = g.input('lossMask', 'float32', ['B', 'T']);
  const keep = g.input('keep', 'float32', ['B', 'T']);
  const keep3 = g.unsqueeze(keep, [2]); // [B, T, 1]
  const keepBool = g.greater(keep3, g.scalar(0.5));
  const weights = model.constants(g);

  const clean = buildTransformer(g, model.config, weights, tokens);
  const hookOf = (h: HookName) => clean.hooks.get(h) as Tensor;
  const cleanIn = inHooks.map(hookOf);
  const cleanActs = cleanIn.map((x, l) => encodeLayerOps(g, dict, l, x));
  const outputs: Record<string, Tensor> = { clean: nllSum(g, clean.logits, targets, lossMask, V) };
  const sse: Tensor[] = [];
  const ysum: Tensor[] = [];
  const ysq: Tensor[] = [];
  const fires: Tensor[] = [];
  for (let l = 0; l < L; l++) {
    const y = hookOf(outHooks[l]);
    const err = g.mul(g.sub(decodeOps(g, dict, cleanActs, cleanIn, l), y), keep3);
    const yk = g.mul(y, keep3);
    sse.push(g.reduceSum(g.mul(err, err), [0, 1, 2], true)); // [1, 1, 1]
    ysum.push(g.reduceSum(yk, [0, 1], true)); // [1, 1, d]
    ysq.push(g.reduceSum(g.mul(yk, y), [0, 1, 2], true));
    const a = cleanActs[l];
    fires.push(
      g.reduceSum(g.mul(g.cast(g.greater(g.mul(a, a), g.scalar(0)), 'float32'), keep3), [0, 1], true),
    ); // [1, 1, dTc]
  }
  outputs.sse = g.concat(sse, 0);
  outputs.ysum = g.concat(ysum, 0);
  outputs.ysq = g.concat(ysq, 0);
  outputs.fires = g.concat(fires, 0);

  const splicedIn: Tensor[] = [];
  const splicedActs: Tensor[] = [];
  const spliced = buildTransformer(g, model.config, weights, tokens, {
    hook: (name, v) => {
      const i = inHooks.indexOf(name);
      if (i >= 0) {
        splicedIn[i] = v;
        splicedActs[i] = encodeLayerOps(g, dict, i, v);
      }
      const k = outHooks.indexOf(name);
      if (k < 0) return v;
      return g.where(keepBool, decodeOps(g, dict, splicedActs, splicedIn, k), v);
    },
  });
  outputs.spliced = nllSum(g, spliced.logits, targets, lossMask, V);
  const zeroed = buildTransformer(g, model.config, weights, tokens, {
    hook: (name, v) => (outHooks.includes(name) ? g.where(keepBool, 0, v) : v),
  });
  outputs.zero = nllSum(g, zeroed.logits, targets, lossMask, V);
  return g.compile(outputs);
}

/** Next-token targets and the masks of one batch [B, T]. */
export function batchTargets(seqs: readonly Int32Array[], exclude: ReadonlySet<number>) {
  const B = seqs.length;
  const T = seqs[0].length;
  const tokens = new Int32Array(B * T);
  const targets = new Int32Array(B * T);
  const lossMask = new Float32Array(B * T);
  const keep = new Float32Array(B * T);
  seqs.forEach((s, b) => {
    if (s.length !== T) throw new Error(`batch sequences differ in length (${s.length} vs ${T})`);
    tokens.set(s, b * T);
    for (let t = 0; t < T; t++) {
      keep[b * T + t] = exclude.has(s[t]) ? 0 : 1;
      if (t + 1 < T && !exclude.has(s[t + 1])) {
        targets[b * T + t] = s[t + 1];
        lossMask[b * T + t] = 1;
      }
    }
  });
  return {
    tokens: i32([B, T], tokens),
    targets: i32([B, T], targets),
    lossMask: f32([B, T], lossMask),
    keep: f32([B, T], keep),
  };
}

/** FVU, L0, dead features and spliced next-token loss of `dict` on the model over held-out batches. */
export async function evaluateDictionary(
  runtime: Runtime,
  model: Model,
  dict: Dictionary,
  batches: TokenBatches,
  options: EvaluationOptions = {},
): Promise<DictionaryEvaluation> {
  validateAgainstModel(dict, model.config, { everyLayer: false });
  const held = heldOutBatches(batches, options, 16, 'evaluateDictionary');
  const exclude = new Set(options.excludeTokens ?? []);
  const L = dict.layers.length;
  const d = dict.dModel;
  const graph = await runtime.graph(`dictionary-eval:${objectId(model)}:${objectId(dict)}`, () =>
    buildEvaluationGraph(model, dict),
  );
  const sse = new Float64Array(L);
  const ysum = new Float64Array(L * d);
  const ysq = new Float64Array(L);
  const fires = new Float64Array(L * dict.dTc);
  const nll = { clean: 0, spliced: 0, zero: 0 };
  let n = 0;
  let nTargets = 0;
  for await (const seqs of held) {
    if (seqs[0].length > model.config.nCtx)
      throw new Error(`${seqs[0].length} tokens exceed the context length ${model.config.nCtx}`);
    // Three [B, T, V] logits tensors live in the graph at once: run big-vocabulary batches in slices.
    const perRun = Math.max(
      1,
      Math.floor((options.maxLogitsPerRun ?? 2 ** 24) / (seqs[0].length * model.config.dVocab)),
    );
    for (let at = 0; at < seqs.length; at += perRun) {
      const feeds = batchTargets(seqs.slice(at, at + perRun), exclude);
      const out = await graph.run(feeds);
      const add = (acc: Float64Array, t: F32 | undefined) => {
        const src = (t as F32).data;
        for (let i = 0; i < acc.length; i++) acc[i] += src[i];
      };
      add(sse, out.sse as F32);
      add(ysum, out.ysum as F32);
      add(ysq, out.ysq as F32);
      add(fires, out.fires as F32);
      nll.clean += out.clean.data[0] as number;
      nll.spliced += out.spliced.data[0] as number;
      nll.zero += out.zero.data[0] as number;
      for (const v of feeds.keep.data) n += v;
      for (const v of feeds.lossMask.data) nTargets += v;
    }
  }
  if (n === 0 || nTargets === 0)
    throw new Error('evaluateDictionary: no usable positions (no batches, or every token excluded)');
  const fvuPerLayer: number[] = [];
  const l0PerLayer: number[] = [];
  const deadPerLayer: number[] = [];
  let sseAll = 0;
  let sstAll = 0;
  for (let l = 0; l < L; l++) {
    let mean2 = 0;
    for (let j = 0; j < d; j++) mean2 += ysum[l * d + j] ** 2;
    const sst = ysq[l] - mean2 / n;
    sseAll += sse[l];
    sstAll += sst;
    fvuPerLayer.push(sst > 0 ? sse[l] / sst : 0);
    let active = 0;
    let deadCount = 0;
    for (let f = 0; f < dict.dTc; f++) {
      active += fires[l * dict.dTc + f];
      if (fires[l * dict.dTc + f] === 0) deadCount++;
    }
    l0PerLayer.push(active / n);
    deadPerLayer.push(deadCount / dict.dTc);
  }
  const clean = nll.clean / nTargets;
  const spliced = nll.spliced / nTargets;
  const zeroAblated = nll.zero / nTargets;
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return {
    tokens: n,
    fvu: sstAll > 0 ? sseAll / sstAll : 0,
    fvuPerLayer,
    meanL0: mean(l0PerLayer),
    l0PerLayer,
    deadFraction: mean(deadPerLayer),
    deadPerLayer,
    loss: {
      clean,
      spliced,
      zeroAblated,
      recovered: zeroAblated !== clean ? (zeroAblated - spliced) / (zeroAblated - clean) : Number.NaN,
      targets: nTargets,
    },
  };
}
