/**
 * Feature interventions, supernode scaling, steering and generation on a model + dictionary
 * (circuit-tracer §4). Every forward pass is one ORT graph, compiled once per signature and reused.
 */
import { validateAgainstModel } from '../dictionary/load.ts';
import type { Dictionary } from '../dictionary/types.ts';
import type { HookName } from '../model/hooks.ts';
import { seededRandom } from '../model/init.ts';
import type { Model } from '../model/model.ts';
import { GraphBuilder } from '../tensor/graph.ts';
import { f32, type F32, type HostTensor, i32 } from '../tensor/host.ts';
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
import {
  checkFeature,
  checkSteering,
  checkValue,
  dictionaryLayerIndex,
  INTERVENTION_MODES,
  type InterventionMode,
  type InterventionSpec,
  isOpenEnded,
  resolvePositions,
} from './spec.ts';
import { argmax, klDivergence, largestDiffs, type LogitDiff, type TopToken, topTokens } from './summary.ts';

export interface InterventionOptions {
  mode: InterventionMode;
  /** Tokens per position in the summaries (default 5). */
  topK?: number;
  /** Extra hooks whose intervened values to return. */
  hooks?: readonly HookName[];
  signal?: AbortSignal;
}

/** One resolved (layer, pos, feature) intervention and what it did. */
export interface AppliedIntervention {
  layer: number;
  pos: number;
  feature: number;
  value: number;
  /** Activation on the clean run. */
  clean: number;
  /** The activation Δ was taken from: clean (constrained) or recomputed on the perturbed residual. */
  current: number;
  delta: number;
}

export interface PositionSummary {
  pos: number;
  token: number;
  clean: TopToken[];
  intervened: TopToken[];
  /** Tokens whose logit moved most. */
  diffs: LogitDiff[];
  /** KL(clean ‖ intervened) of the next-token distributions. */
  kl: number;
}

/** The JSON-serialisable part of an intervention result. */
export interface InterventionReport {
  mode: InterventionMode;
  tokens: number[];
  applied: AppliedIntervention[];
  positions: PositionSummary[];
}

export interface InterventionResult {
  report: InterventionReport;
  logits: F32; // [T, V]
  cleanLogits: F32; // [T, V]
  hooks: Record<string, F32>; // requested hooks, [T, ...] (hooks.ts shapes)
}

export interface ModeComparison {
  tokens: number[];
  runs: InterventionResult[];
  /** For each pair of modes, per position: do the top tokens agree, and KL between their distributions. */
  pairs: {
    a: InterventionMode;
    b: InterventionMode;
    positions: { pos: number; sameTop: boolean; kl: number }[];
  }[];
}

export interface InterventionGenerateOptions extends InterventionOptions {
  maxNewTokens: number;
  /** 0 (default): greedy. */
  temperature?: number;
  seed?: number;
  stopTokens?: readonly number[];
}

export interface GenerationStep {
  token: number;
  text?: string;
  top: TopToken[];
  /** Against the clean model on the same prefix. */
  diffs: LogitDiff[];
}

export interface GenerationReport {
  mode: InterventionMode;
  prompt: number[];
  /** The clean model's own continuation. */
  clean: { tokens: number[]; text?: string; steps: { token: number; top: TopToken[] }[] };
  intervened: { tokens: number[]; text?: string; steps: GenerationStep[] };
}

export interface GenerationResult {
  report: GenerationReport;
  logits: F32; // [n, V]: each generated token's distribution
  cleanLogits: F32; // [n, V]: the clean model on the same prefixes
}

/** Clean-run values: logits, everything the frozen modes freeze, and every dictionary activation. */
interface CleanRun {
  T: number;
  logits: F32; // [1, T, V]
  state: Record<string, HostTensor>;
  /** Clean dictionary activations [T, dTc] per dictionary layer index, encoded on demand. */
  acts: Map<number, Float32Array>;
}

interface Resolved {
  /** Per dictionary layer index: feature → (pos → value). */
  byLayer: Map<number, Map<number, Map<number, number>>>;
  steer: Map<HookName, Float32Array>; // [T, d] dense
}

const ids = new WeakMap<object, number>();
let nextId = 0;
function idOf(o: object): number {
  let id = ids.get(o);
  if (id === undefined) ids.set(o, (id = nextId++));
  return id;
}

function topKOf(k: number | undefined): number {
  const v = k ?? 5;
  if (!(Number.isInteger(v) && v >= 1)) throw new Error(`topK must be a positive integer, got ${v}`);
  return v;
}

function sample(row: Float32Array, temperature: number, rand: () => number): number {
  if (temperature === 0) return argmax(row);
  let max = Number.NEGATIVE_INFINITY;
  for (const v of row) max = Math.max(max, v);
  const w = Array.from(row, (v) => Math.exp((v - max) / temperature));
  let u = rand() * w.reduce((a, b) => a + b, 0);
  for (let i = 0; i < w.length; i++) {
    u -= w[i];
    if (u <= 0) return i;
  }
  return w.length - 1;
}

export class Intervener {
  private constructor(
    readonly model: Model,
    readonly dict: Dictionary,
  ) {}

  static create(model: Model, dict: Dictionary): Intervener {
    validateAgainstModel(dict, model.config, { everyLayer: false });
    return new Intervener(model, dict);
  }

  private session(sig: InterventionSignature) {
    const key = `intervene|${idOf(this.model)}|${idOf(this.dict)}|${signatureKey(sig)}`;
    return this.model.runtime.graph(key, () => {
      const g = new GraphBuilder();
      return g.compile(buildInterventionGraph(g, this.model.config, this.model.constants(g), this.dict, sig));
    });
  }

  private checkTokens(tokens: Int32Array): void {
    const { nCtx, dVocab } = this.model.config;
    if (tokens.length === 0) throw new Error('empty token sequence');
    if (tokens.length > nCtx) throw new Error(`${tokens.length} tokens exceed the context length ${nCtx}`);
    for (const t of tokens)
      if (!(Number.isInteger(t) && t >= 0 && t < dVocab))
        throw new Error(`token ${t} outside [0, ${dVocab})`);
  }

  /** Clean forward pass recording what the frozen modes freeze and every dictionary input (acts come later). */
  private async clean(tokens: Int32Array, signal?: AbortSignal): Promise<CleanRun> {
    this.checkTokens(tokens);
    signal?.throwIfAborted();
    const s = await this.session({ mode: 'clean', layers: [], steer: [], past: false, cache: [] });
    const out = await s.run({ tokens: i32([1, tokens.length], tokens) });
    const state: Record<string, HostTensor> = {};
    for (const [k, v] of Object.entries(out)) if (k.startsWith('state:')) state[k.slice(6)] = v;
    return { T: tokens.length, logits: out.logits as F32, state, acts: new Map() };
  }

  /** Encodes the clean inputs of the given dictionary layers (one small graph per layer, cached). */
  private async ensureActs(c: CleanRun, layers: Iterable<number>, signal?: AbortSignal): Promise<void> {
    for (const i of layers) {
      if (c.acts.has(i)) continue;
      signal?.throwIfAborted();
      const key = `intervene-encode|${idOf(this.dict)}|${i}`;
      const s = await this.model.runtime.graph(key, () => {
        const g = new GraphBuilder();
        return g.compile(buildEncodeGraph(g, this.dict, i));
      });
      const x = c.state[`in:${i}`];
      c.acts.set(i, (await s.run({ x })).acts.data as Float32Array);
    }
  }

  private cleanAct(c: CleanRun, i: number, pos: number, f: number): number {
    const a = c.acts.get(i);
    if (!a) throw new Error(`clean activations of dictionary layer ${i} were not encoded`);
    return a[pos * this.dict.dTc + f];
  }

  /** Validates a spec against a T-token prompt and resolves positions, supernode factors and steering. */
  private async resolve(spec: InterventionSpec, c: CleanRun, signal?: AbortSignal): Promise<Resolved> {
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
  private async interventionFeeds(
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
      feeds[`dec:${i}`] = await decoderRows(this.dict, i, feats);
      if (mode === 'constrained') {
        if (!clean) throw new Error('constrained mode needs the clean run');
        const delta = new Float32Array(T * N);
        feats.forEach((f, col) => {
          for (const [p, v] of byFeat.get(f) ?? []) delta[p * N + col] = v - this.cleanAct(clean, i, p, f);
        });
        feeds[`delta:${i}`] = f32([1, T, N], delta);
      } else {
        const mask = new Float32Array(T * N);
        const value = new Float32Array(T * N);
        feats.forEach((f, col) => {
          for (const [p, v] of byFeat.get(f) ?? []) {
            mask[p * N + col] = 1;
            value[p * N + col] = v;
          }
        });
        feeds[`feat:${i}`] = { dtype: 'int64', shape: [N], data: BigInt64Array.from(feats, BigInt) };
        feeds[`mask:${i}`] = f32([1, T, N], mask);
        feeds[`value:${i}`] = f32([1, T, N], value);
      }
    }
    for (const [h, v] of r.steer) feeds[`add:${h}`] = f32([1, T, this.model.config.dModel], v);
    return { layers, columns };
  }

  private freezeFeeds(mode: InterventionMode, clean: CleanRun, feeds: Record<string, HostTensor>): void {
    for (const { key } of frozenKeys(this.model.config, this.dict, mode)) {
      const src = key.startsWith('skipin:') ? `in:${key.slice(7)}` : key;
      const v = clean.state[src];
      if (!v) throw new Error(`clean run did not record '${src}'`);
      feeds[`freeze:${key}`] = v;
    }
  }

  private checkMode(mode: InterventionMode): void {
    if (!INTERVENTION_MODES.includes(mode))
      throw new Error(`unknown mode '${mode}' (expected ${INTERVENTION_MODES.join(', ')})`);
    if (mode === 'constrained') checkConstrainable(this.model.config, this.dict);
  }

  private async runMode(
    tokens: Int32Array,
    spec: InterventionSpec,
    options: InterventionOptions,
    clean: CleanRun,
  ): Promise<InterventionResult> {
    const { mode } = options;
    this.checkMode(mode);
    const k = topKOf(options.topK);
    options.signal?.throwIfAborted();
    const { T } = clean;
    const r = await this.resolve(spec, clean, options.signal);
    await this.ensureActs(clean, r.byLayer.keys(), options.signal);
    const feeds: Record<string, HostTensor> = { tokens: i32([1, T], tokens) };
    this.freezeFeeds(mode, clean, feeds);
    const { layers, columns } = await this.interventionFeeds(r, mode, T, clean, feeds);
    const cache = [...new Set(options.hooks ?? [])].sort();
    for (const h of cache) this.model.hookShape(h, T);
    const s = await this.session({ mode, layers, steer: [...r.steer.keys()].sort(), past: false, cache });
    options.signal?.throwIfAborted();
    const out = await s.run(feeds);
    const V = this.model.config.dVocab;
    const logits = f32([T, V], out.logits.data as Float32Array);
    const cleanLogits = f32([T, V], clean.logits.data as Float32Array);
    const applied: AppliedIntervention[] = [];
    for (const i of layers) {
      const feats = columns.get(i) as number[];
      const cur = out[`acts:${i}`]?.data as Float32Array | undefined;
      feats.forEach((f, col) => {
        for (const [pos, value] of r.byLayer.get(i)?.get(f) ?? []) {
          const c = this.cleanAct(clean, i, pos, f);
          const current = cur ? cur[pos * feats.length + col] : c;
          applied.push({
            layer: this.dict.layers[i].layer,
            pos,
            feature: f,
            value,
            clean: c,
            current,
            delta: value - current,
          });
        }
      });
    }
    applied.sort((a, b) => a.layer - b.layer || a.pos - b.pos || a.feature - b.feature);
    const tok = this.model.tokenizer;
    const positions: PositionSummary[] = [];
    for (let p = 0; p < T; p++) {
      const a = cleanLogits.data.subarray(p * V, (p + 1) * V);
      const b = logits.data.subarray(p * V, (p + 1) * V);
      positions.push({
        pos: p,
        token: tokens[p],
        clean: topTokens(a, k, tok),
        intervened: topTokens(b, k, tok),
        diffs: largestDiffs(a, b, k, tok),
        kl: klDivergence(a, b),
      });
    }
    const hooks: Record<string, F32> = {};
    for (const h of cache) {
      const t = out[`hook:${h}`] as F32;
      hooks[h] = f32(t.shape.slice(1), t.data);
    }
    return { report: { mode, tokens: [...tokens], applied, positions }, logits, cleanLogits, hooks };
  }

  /** Runs the prompt with the interventions in one mode; logits and summaries against the clean run. */
  async intervene(
    tokens: Int32Array,
    spec: InterventionSpec,
    options: InterventionOptions,
  ): Promise<InterventionResult> {
    this.checkMode(options.mode);
    return this.runMode(tokens, spec, options, await this.clean(tokens, options.signal));
  }

  /** The same interventions in several modes from one clean run, compared pairwise. */
  async compareModes(
    tokens: Int32Array,
    spec: InterventionSpec,
    modes: readonly InterventionMode[],
    options: Omit<InterventionOptions, 'mode'> = {},
  ): Promise<ModeComparison> {
    if (modes.length === 0) throw new Error('compareModes: no modes given');
    for (const m of modes) this.checkMode(m);
    const clean = await this.clean(tokens, options.signal);
    const runs: InterventionResult[] = [];
    for (const mode of modes) runs.push(await this.runMode(tokens, spec, { ...options, mode }, clean));
    const V = this.model.config.dVocab;
    const pairs: ModeComparison['pairs'] = [];
    for (let x = 0; x < runs.length; x++) {
      for (let y = x + 1; y < runs.length; y++) {
        const positions = Array.from({ length: clean.T }, (_, pos) => {
          const a = runs[x].logits.data.subarray(pos * V, (pos + 1) * V);
          const b = runs[y].logits.data.subarray(pos * V, (pos + 1) * V);
          return { pos, sameTop: argmax(a) === argmax(b), kl: klDivergence(a, b) };
        });
        pairs.push({ a: modes[x], b: modes[y], positions });
      }
    }
    return { tokens: [...tokens], runs, pairs };
  }

  /**
   * Generates with a KV cache. The prompt pass applies every intervention in `mode`; later tokens get the
   * open-ended ones (slices without an end, steering without positions) unfrozen, with Δ = v − a_current
   * (circuit-tracer §4.2.3). Also generates the clean continuation and scores the intervened tokens
   * against the clean model on the same prefixes.
   */
  async generate(
    tokens: Int32Array,
    spec: InterventionSpec,
    options: InterventionGenerateOptions,
  ): Promise<GenerationResult> {
    const { mode, maxNewTokens: n, signal } = options;
    this.checkMode(mode);
    this.checkTokens(tokens);
    const T = tokens.length;
    if (!Number.isInteger(n) || n < 1) throw new Error(`maxNewTokens must be a positive integer, got ${n}`);
    if (T + n > this.model.config.nCtx)
      throw new Error(`${T} + ${n} tokens exceed the context length ${this.model.config.nCtx}`);
    const temperature = options.temperature ?? 0;
    if (!(temperature >= 0)) throw new Error(`temperature must be ≥ 0, got ${temperature}`);
    const clean = await this.clean(tokens, signal);
    const r = await this.resolve(spec, clean, signal);
    await this.ensureActs(clean, r.byLayer.keys(), signal);
    const open: InterventionSpec = {
      features: (spec.features ?? []).filter((f) => isOpenEnded(f.pos)).map((f) => ({ ...f, pos: 0 })),
      steer: (spec.steer ?? []).filter((s) => isOpenEnded(s.pos)).map((s) => ({ ...s, pos: 0 })),
    };
    const later = await this.resolve(open, { ...clean, T: 1, acts: new Map() }, signal);
    const V = this.model.config.dVocab;
    const k = topKOf(options.topK);
    const tok = this.model.tokenizer;

    const decode = async (intervened: boolean) => {
      const rand = seededRandom(options.seed ?? 0);
      const stop = new Set(options.stopTokens ?? []);
      const { nLayers, nKvHeads, dHead } = this.model.config;
      const feeds: Record<string, HostTensor> = {};
      for (let l = 0; l < nLayers; l++) {
        feeds[`past:k:${l}`] = f32([1, nKvHeads, 0, dHead]);
        feeds[`past:v:${l}`] = f32([1, nKvHeads, 0, dHead]);
      }
      const out: number[] = [];
      const rows = new Float32Array(n * V);
      for (let i = 0; i < n; i++) {
        signal?.throwIfAborted();
        const step = i === 0 ? tokens : Int32Array.of(out[i - 1]);
        const stepFeeds: Record<string, HostTensor> = { ...feeds, tokens: i32([1, step.length], step) };
        let sig: InterventionSignature = { mode: 'free', layers: [], steer: [], past: true, cache: [] };
        if (intervened) {
          const stepMode: InterventionMode = i === 0 ? mode : 'free';
          const res = i === 0 ? r : later;
          if (i === 0) this.freezeFeeds(mode, clean, stepFeeds);
          const { layers } = await this.interventionFeeds(res, stepMode, step.length, clean, stepFeeds);
          sig = { mode: stepMode, layers, steer: [...res.steer.keys()].sort(), past: true, cache: [] };
        }
        const s = await this.session(sig);
        const res = await s.run(stepFeeds);
        for (let l = 0; l < nLayers; l++) {
          feeds[`past:k:${l}`] = res[`present:k:${l}`];
          feeds[`past:v:${l}`] = res[`present:v:${l}`];
        }
        const row = (res.logits.data as Float32Array).subarray((step.length - 1) * V, step.length * V);
        rows.set(row, i * V);
        const next = sample(row, temperature, rand);
        out.push(next);
        if (stop.has(next)) break;
      }
      return { tokens: out, logits: rows.subarray(0, out.length * V) };
    };

    const base = await decode(false);
    const steered = await decode(true);
    // The clean model on the intervened prefixes: one pass over prompt + generated tokens.
    const m = steered.tokens.length;
    const full = new Int32Array(T + m - 1);
    full.set(tokens);
    full.set(steered.tokens.slice(0, m - 1), T);
    const cleanOnSteered = await this.clean(full, signal);
    const cleanRows = (cleanOnSteered.logits.data as Float32Array).subarray((T - 1) * V, (T + m - 1) * V);
    const text = (t: number[]) => (tok ? { text: tok.decode(t) } : {});
    const steps: GenerationStep[] = steered.tokens.map((token, i) => {
      const a = cleanRows.subarray(i * V, (i + 1) * V);
      const b = steered.logits.subarray(i * V, (i + 1) * V);
      return {
        token,
        ...(tok ? { text: tok.decode([token]) } : {}),
        top: topTokens(b, k, tok),
        diffs: largestDiffs(a, b, k, tok),
      };
    });
    return {
      report: {
        mode,
        prompt: [...tokens],
        clean: {
          tokens: base.tokens,
          ...text(base.tokens),
          steps: base.tokens.map((token, i) => ({
            token,
            top: topTokens(base.logits.subarray(i * V, (i + 1) * V), k, tok),
          })),
        },
        intervened: { tokens: steered.tokens, ...text(steered.tokens), steps },
      },
      logits: f32([m, V], steered.logits),
      cleanLogits: f32([m, V], Float32Array.from(cleanRows)),
    };
  }

  /**
   * Clean dictionary activations [n, T, dTc] of the given model layers (default: every dictionary layer), in
   * that order: default values for patching and for choosing intervention values.
   */
  async activations(
    tokens: Int32Array,
    options: { layers?: readonly number[]; signal?: AbortSignal } = {},
  ): Promise<F32> {
    const c = await this.clean(tokens, options.signal);
    const layers = (options.layers ?? this.dict.layers.map((l) => l.layer)).map((l) =>
      dictionaryLayerIndex(this.dict, l, 'activations'),
    );
    await this.ensureActs(c, layers, options.signal);
    const n = c.T * this.dict.dTc;
    const out = new Float32Array(layers.length * n);
    layers.forEach((i, k) => {
      out.set(c.acts.get(i) as Float32Array, k * n);
    });
    return f32([layers.length, c.T, this.dict.dTc], out);
  }
}
