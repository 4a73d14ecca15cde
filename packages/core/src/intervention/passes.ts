/**
 * The passes every intervention is made of, shared by one-shot interventions (intervener.ts) and generation
 * (generate.ts): the clean run that records what the frozen modes freeze, the clean dictionary activations,
 * a spec resolved against a prompt, and the feeds of one intervened pass. Every pass is one ORT graph,
 * compiled once per signature and reused.
 */
import type { Dictionary } from '../dictionary/types.ts';
import { checkTokenIds } from '../io/tokenizer.ts';
import type { HookName } from '../model/hooks.ts';
import type { Model } from '../model/model.ts';
import { GraphBuilder } from '../tensor/graph.ts';
import { f32, type F32, type HostTensor, i32 } from '../tensor/host.ts';
import { objectId } from '../tensor/object-id.ts';
import { outputF32 } from '../tensor/runtime.ts';
import {
  buildEncodeGraph,
  buildInterventionGraph,
  checkConstrainable,
  decoderRows,
  frozenKeys,
  type GraphMode,
  type InterventionSignature,
  signatureKey,
} from './graph.ts';
import { feedName, fetchName } from './names.ts';
import {
  checkFeature,
  checkSteering,
  checkValue,
  dictionaryLayerIndex,
  INTERVENTION_MODES,
  type InterventionMode,
  type InterventionSpec,
  resolvePositions,
} from './spec.ts';
import { positiveInt } from '../tensor/checks.ts';

/** Clean-run values: logits, everything the frozen modes freeze, and every dictionary activation. */
export interface CleanRun {
  T: number;
  logits: F32; // [1, T, V]
  /** The clean graph's outputs: the frozen values and the dictionary inputs, by their fetch names. */
  recorded: Record<string, HostTensor>;
  /** Clean dictionary activations [T, dTc] per dictionary layer index, encoded on demand. */
  acts: Map<number, Float32Array>;
}

export interface Resolved {
  /** Per dictionary layer index: feature → (pos → value). */
  byLayer: Map<number, Map<number, Map<number, number>>>;
  steer: Map<HookName, Float32Array>; // [T, d] dense
}

export function topKOf(k: number | undefined): number {
  return positiveInt(k ?? 5, 'topK');
}

export class InterventionPasses {
  constructor(
    readonly model: Model,
    readonly dict: Dictionary,
  ) {}

  session(sig: InterventionSignature) {
    const key = `intervene|${objectId(this.model)}|${objectId(this.dict)}|${signatureKey(sig)}`;
    return this.model.runtime.graph(key, () => {
      const g = new GraphBuilder();
      return g.compile(buildInterventionGraph(g, this.model.config, this.model.constants(g), this.dict, sig));
    });
  }

  checkTokens(tokens: Int32Array): void {
    const { nCtx, dVocab } = this.model.config;
    if (tokens.length === 0) throw new Error('empty token sequence');
    if (tokens.length > nCtx) throw new Error(`${tokens.length} tokens exceed the context length ${nCtx}`);
    checkTokenIds(tokens, dVocab);
  }

  checkMode(mode: InterventionMode): void {
    if (!INTERVENTION_MODES.includes(mode))
      throw new Error(`unknown mode '${mode}' (expected ${INTERVENTION_MODES.join(', ')})`);
    if (mode === 'constrained') checkConstrainable(this.model.config, this.dict);
  }

  /** Clean forward pass recording what the frozen modes freeze and every dictionary input (acts come later). */
  async clean(tokens: Int32Array, signal?: AbortSignal): Promise<CleanRun> {
    this.checkTokens(tokens);
    signal?.throwIfAborted();
    const s = await this.session({ mode: 'clean', layers: [], steer: [], past: false, cache: [] });
    const recorded = await s.run({ [feedName.tokens]: i32([1, tokens.length], tokens) });
    return { T: tokens.length, logits: outputF32(recorded, fetchName.logits), recorded, acts: new Map() };
  }

  /** Encodes the clean inputs of the given dictionary layers (one small graph per layer, cached). */
  async ensureActs(c: CleanRun, layers: Iterable<number>, signal?: AbortSignal): Promise<void> {
    for (const i of layers) {
      if (c.acts.has(i)) continue;
      signal?.throwIfAborted();
      const key = `intervene-encode|${objectId(this.dict)}|${i}`;
      const s = await this.model.runtime.graph(key, () => {
        const g = new GraphBuilder();
        return g.compile(buildEncodeGraph(g, this.dict, i));
      });
      const x = outputF32(c.recorded, fetchName.dictionaryInput(i));
      const out = await s.run({ [feedName.encoderInput]: x });
      c.acts.set(i, outputF32(out, fetchName.encoderActs).data);
    }
  }

  cleanAct(c: CleanRun, i: number, pos: number, f: number): number {
    const a = c.acts.get(i);
    if (!a) throw new Error(`clean activations of dictionary layer ${i} were not encoded`);
    return a[pos * this.dict.dTc + f];
  }
  /** Validates a spec against a T-token prompt and resolves positions, supernode factors and steering. */
  async resolve(spec: InterventionSpec, c: CleanRun, signal?: AbortSignal): Promise<Resolved> {
    const { T } = c;
    const byLayer = new Map<number, Map<number, Map<number, number>>>();
    const set = (i: number, pos: number, f: number, v: number) => {
      let layer = byLayer.get(i);
      if (!layer) byLayer.set(i, (layer = new Map()));
      let feat = layer.get(f);
      if (!feat) layer.set(f, (feat = new Map()));
      feat.set(pos, v);
    };
    (spec.features ?? []).forEach((fi, n) => {
      const what = `intervention ${n} (layer ${fi.layer}, feature ${fi.feature})`;
      const i = dictionaryLayerIndex(this.dict, fi.layer, what);
      checkFeature(this.dict, fi.feature, what);
      checkValue(fi.value, what);
      for (const p of resolvePositions(fi.pos, T, what)) set(i, p, fi.feature, fi.value);
    });
    const groupLayers = new Set<number>();
    for (const { group } of spec.scales ?? []) {
      for (const m of group.members)
        groupLayers.add(dictionaryLayerIndex(this.dict, m.layer, `supernode '${group.label}'`));
    }
    await this.ensureActs(c, groupLayers, signal);
    for (const { group, factor } of spec.scales ?? []) {
      const what = `supernode '${group.label}'`;
      checkValue(factor, what);
      if (group.members.length === 0) throw new Error(`${what} has no members`);
      for (const m of group.members) {
        const i = dictionaryLayerIndex(this.dict, m.layer, what);
        checkFeature(this.dict, m.feature, what);
        const [p] = resolvePositions(m.pos, T, what);
        set(i, p, m.feature, factor * this.cleanAct(c, i, p, m.feature));
      }
    }
    const { dModel: d, nLayers } = this.model.config;
    const steer = new Map<HookName, Float32Array>();
    (spec.steer ?? []).forEach((s, n) => {
      const what = `steering vector ${n} at ${s.hook}`;
      checkSteering(s, d, nLayers, what);
      this.model.hookShape(s.hook, T);
      let dense = steer.get(s.hook);
      if (!dense) steer.set(s.hook, (dense = new Float32Array(T * d)));
      const scale = s.scale ?? 1;
      for (const p of resolvePositions(s.pos, T, what))
        for (let j = 0; j < d; j++) dense[p * d + j] += scale * s.vector[j];
    });
    return { byLayer, steer };
  }

  /** Feeds for the resolved interventions of one pass over positions [0, T). */
  async interventionFeeds(
    r: Resolved,
    mode: GraphMode,
    T: number,
    clean: CleanRun | undefined,
    feeds: Record<string, HostTensor>,
  ): Promise<{ layers: number[]; columns: Map<number, number[]> }> {
    const layers = [...r.byLayer.keys()].sort((a, b) => a - b);
    const columns = new Map<number, number[]>();
    for (const i of layers) {
      const byFeat = r.byLayer.get(i) as Map<number, Map<number, number>>;
      const feats = [...byFeat.keys()].sort((a, b) => a - b);
      columns.set(i, feats);
      const N = feats.length;
      feeds[feedName.decoder(i)] = await decoderRows(this.dict, i, feats);
      if (mode === 'constrained') {
        if (!clean) throw new Error('constrained mode needs the clean run');
        const delta = new Float32Array(T * N);
        feats.forEach((f, col) => {
          for (const [p, v] of byFeat.get(f) ?? []) delta[p * N + col] = v - this.cleanAct(clean, i, p, f);
        });
        feeds[feedName.delta(i)] = f32([1, T, N], delta);
      } else {
        const mask = new Float32Array(T * N);
        const value = new Float32Array(T * N);
        feats.forEach((f, col) => {
          for (const [p, v] of byFeat.get(f) ?? []) {
            mask[p * N + col] = 1;
            value[p * N + col] = v;
          }
        });
        feeds[feedName.features(i)] = { dtype: 'int64', shape: [N], data: BigInt64Array.from(feats, BigInt) };
        feeds[feedName.mask(i)] = f32([1, T, N], mask);
        feeds[feedName.value(i)] = f32([1, T, N], value);
      }
    }
    for (const [h, v] of r.steer) feeds[feedName.add(h)] = f32([1, T, this.model.config.dModel], v);
    return { layers, columns };
  }

  freezeFeeds(mode: InterventionMode, clean: CleanRun, feeds: Record<string, HostTensor>): void {
    for (const { key } of frozenKeys(this.model.config, this.dict, mode)) {
      // The skip term's clean input is the clean input of the dictionary layer at that model layer (constrained
      // mode has one dictionary layer per model layer, in order).
      const src = key.kind === 'skipInput' ? fetchName.dictionaryInput(key.layer) : fetchName.state(key);
      const v = clean.recorded[src];
      if (!v) throw new Error(`clean run did not record '${src}'`);
      feeds[feedName.freeze(key)] = v;
    }
  }
}
