/**
 * Activation patching between prompts and steering directions: both produce plain specs for the Intervener.
 */
import { type Dictionary, decoderOutputs, outputHookName } from '../dictionary/types.ts';
import type { HookName } from '../model/hooks.ts';
import type { Model } from '../model/model.ts';
import { type F32, f32 } from '../tensor/host.ts';
import type { Intervener } from './intervener.ts';
import {
  checkFeature,
  dictionaryLayerIndex,
  type FeatureIntervention,
  type FeatureGroup,
  type ResidualSteerSpec,
  resolvePositions,
  type SteeringVector,
} from './spec.ts';

export interface PatchOptions {
  /** Source position in prompt B → target position in prompt A (negative indices count from the end). */
  positions: readonly { from: number; to: number }[];
  /** Model layers to patch (default: every dictionary layer). Ignored with `group`. */
  layers?: readonly number[];
  /** Only these features, at their own positions in B (a supernode from B's graph). */
  group?: FeatureGroup;
  /** Multiplies the patched values (default 1). */
  factor?: number;
  /**
   * Also set to 0 the features active on A at a target position (in the patched layers) that B does not
   * write there, so the position carries B's features only (default true without a group, false with one).
   */
  replace?: boolean;
}

/**
 * Takes the features active on prompt B (`source`) and writes them into prompt A (`target`), as the
 * multilingual and two-hop swap experiments do. Returns absolute-value interventions for prompt A.
 */
export async function patchInterventions(
  iv: Intervener,
  source: Int32Array,
  target: Int32Array,
  options: PatchOptions,
  signal?: AbortSignal,
): Promise<FeatureIntervention[]> {
  const dict = iv.dict;
  if (options.positions.length === 0) throw new Error('patch: no positions given');
  const factor = options.factor ?? 1;
  if (!Number.isFinite(factor)) throw new Error(`patch: factor ${factor} is not a finite number`);
  const map = new Map<number, number>();
  for (const { from, to } of options.positions) {
    const [f] = resolvePositions(from, source.length, 'patch source');
    const [t] = resolvePositions(to, target.length, 'patch target');
    map.set(f, t);
  }
  const what = options.group ? `patch group '${options.group.label}'` : 'patch';
  const layers = [
    ...new Set(
      options.group
        ? options.group.members.map((m) => m.layer)
        : (options.layers ?? dict.layers.map((l) => l.layer)),
    ),
  ];
  for (const l of layers) dictionaryLayerIndex(dict, l, what);
  const actsB = await iv.activations(source, { layers, signal }); // [n, Tb, dTc]
  const actsA = await iv.activations(target, { layers, signal }); // [n, Ta, dTc]
  const slot = new Map(layers.map((l, k) => [l, k]));
  const { dTc } = dict;
  const at = (a: typeof actsB, layer: number, p: number, f: number) =>
    a.data[((slot.get(layer) as number) * a.shape[1] + p) * dTc + f];
  const out = new Map<string, FeatureIntervention>();
  const put = (layer: number, pos: number, feature: number, value: number) => {
    out.set(`${layer}:${pos}:${feature}`, { layer, pos, feature, value });
  };
  const touched: { layer: number; to: number }[] = [];
  if (options.group) {
    for (const m of options.group.members) {
      checkFeature(dict, m.feature, what);
      const to = map.get(m.pos);
      if (to === undefined)
        throw new Error(`${what}: member position ${m.pos} is not a patched source position`);
      put(m.layer, to, m.feature, factor * at(actsB, m.layer, m.pos, m.feature));
      touched.push({ layer: m.layer, to });
    }
  } else {
    for (const layer of layers) {
      for (const [from, to] of map) {
        for (let f = 0; f < dTc; f++) {
          const v = at(actsB, layer, from, f);
          if (v !== 0) put(layer, to, f, factor * v);
        }
        touched.push({ layer, to });
      }
    }
  }
  if (options.replace ?? !options.group) {
    for (const { layer, to } of touched) {
      for (let f = 0; f < dTc; f++) {
        if (at(actsA, layer, to, f) !== 0 && !out.has(`${layer}:${to}:${f}`)) put(layer, to, f, 0);
      }
    }
  }
  return [...out.values()];
}

/**
 * A feature's decoder direction as a steering vector at the hook it writes. For a CLT, `outputLayer` picks
 * which of its decoders (default: its own layer).
 */
export async function decoderDirection(
  dict: Dictionary,
  layer: number,
  feature: number,
  options: { outputLayer?: number; scale?: number } = {},
): Promise<SteeringVector> {
  const i = dictionaryLayerIndex(dict, layer, 'decoder direction');
  checkFeature(dict, feature, 'decoder direction');
  const o = (options.outputLayer ?? layer) - layer;
  const nOut = decoderOutputs(dict, i);
  if (!(Number.isInteger(o) && o >= 0 && o < nOut)) {
    throw new Error(
      `decoder direction: layer ${layer} writes to layers ${layer}..${layer + nOut - 1}, not ${options.outputLayer}`,
    );
  }
  const rows = await dict.decoder.rows(i, [feature]); // [1, d] or [1, nOut, d]
  const d = dict.dModel;
  return {
    hook: outputHookName(dict, i + o),
    vector: Float32Array.from(rows.data.subarray(o * d, (o + 1) * d)),
    ...(options.scale === undefined ? {} : { scale: options.scale }),
  };
}

/** Where residual-direction steering (`--steer-diff`, `--steer-vector`) adds: the residual leaving block `layer`. */
export const residualSteeringHook = (layer: number): HookName => `blocks.${layer}.hook_resid_post`;

/** A [dModel] direction as a steering vector at the residual leaving block `spec.layer`. */
export function residualSteering(direction: Float32Array, spec: ResidualSteerSpec): SteeringVector {
  return {
    hook: residualSteeringHook(spec.layer),
    vector: direction,
    scale: spec.scale,
    ...(spec.pos === undefined ? {} : { pos: spec.pos }),
  };
}

/**
 * The mean of a's rows minus the mean of b's rows: a [nA, d], b [nB, d] → [d]. Sums in float64 so that the
 * direction of two nearly equal means keeps its digits.
 */
export function meanDifference(a: F32, b: F32): Float32Array {
  const [nA, d] = a.shape;
  const [nB, dB] = b.shape;
  if (a.shape.length !== 2 || b.shape.length !== 2 || d !== dB)
    throw new Error(`mean difference: expected [nA, d] and [nB, d], got [${a.shape}] and [${b.shape}]`);
  if (nA === 0 || nB === 0) throw new Error('mean difference: both sets need at least one row');
  const out = new Float64Array(d);
  for (let i = 0; i < nA * d; i++) out[i % d] += a.data[i] / nA;
  for (let i = 0; i < nB * d; i++) out[i % d] -= b.data[i] / nB;
  return Float32Array.from(out);
}

/** A [T, d] hook's value at position `pos` of each prompt (one forward pass each): [n, d]. */
export async function hookRows(
  model: Model,
  hook: HookName,
  prompts: readonly Int32Array[],
  pos: number,
  what: string,
): Promise<F32> {
  const rows: Float32Array[] = [];
  for (const p of prompts) {
    const [q] = resolvePositions(pos, p.length, what);
    const v = (await model.run(p, { hooks: [hook] })).cache.get(hook);
    if (v?.shape.length !== 2) throw new Error(`${what}: '${hook}' is not a [T, d] hook`);
    const d = v.shape[1];
    rows.push(v.data.subarray(q * d, (q + 1) * d));
  }
  const d = rows[0]?.length ?? 0;
  const out = new Float32Array(rows.length * d);
  for (let i = 0; i < rows.length; i++) out.set(rows[i], i * d);
  return f32([rows.length, d], out);
}

/** mean(hook at `pos` over prompts A) − mean(over prompts B): a difference-of-means steering direction [d]. */
export async function differenceOfMeans(
  model: Model,
  hook: HookName,
  promptsA: readonly Int32Array[],
  promptsB: readonly Int32Array[],
  pos = -1,
): Promise<Float32Array> {
  if (promptsA.length === 0 || promptsB.length === 0)
    throw new Error('difference of means: both prompt sets need at least one prompt');
  const what = 'difference of means';
  return meanDifference(
    await hookRows(model, hook, promptsA, pos, what),
    await hookRows(model, hook, promptsB, pos, what),
  );
}
