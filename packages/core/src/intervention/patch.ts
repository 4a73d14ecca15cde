/**
 * Activation patching between prompts and steering directions: both produce plain specs for the Intervener.
 */
import { type Dictionary, decoderOutputs, outputHookName } from '../dictionary/types.ts';
import type { HookName } from '../model/hooks.ts';
import type { Model } from '../model/model.ts';
import type { Intervener } from './intervener.ts';
import {
  checkFeature,
  dictionaryLayerIndex,
  type FeatureIntervention,
  resolvePositions,
  type SteeringVector,
  type FeatureGroup,
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

/** mean(hook at `pos` over prompts A) − mean(over prompts B): a difference-of-means steering direction. */
export async function differenceOfMeans(
  model: Model,
  hook: HookName,
  promptsA: readonly Int32Array[],
  promptsB: readonly Int32Array[],
  pos = -1,
): Promise<Float32Array> {
  if (promptsA.length === 0 || promptsB.length === 0)
    throw new Error('difference of means: both prompt sets need at least one prompt');
  const mean = async (prompts: readonly Int32Array[]) => {
    const d = model.config.dModel;
    const acc = new Float64Array(d);
    for (const p of prompts) {
      const [q] = resolvePositions(pos, p.length, 'difference of means');
      const { cache } = await model.run(p, { hooks: [hook] });
      const v = cache.get(hook);
      if (!v || v.shape[v.shape.length - 1] !== d)
        throw new Error(`difference of means: '${hook}' is not a [T, dModel] hook`);
      for (let j = 0; j < d; j++) acc[j] += v.data[q * d + j] / prompts.length;
    }
    return acc;
  };
  const a = await mean(promptsA);
  const b = await mean(promptsB);
  return Float32Array.from(a, (x, j) => x - b[j]);
}
