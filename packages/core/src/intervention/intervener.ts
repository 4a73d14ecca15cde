/**
 * Feature interventions, supernode scaling and steering on a model + dictionary, in one of three modes
 * (constrained, frozen-attention, free) or compared across several; generation is in generate.ts, the
 * passes they share in passes.ts, the option and result types in types.ts.
 */
import { validateAgainstModel } from '../dictionary/load.ts';
import type { Dictionary } from '../dictionary/types.ts';
import type { Model } from '../model/model.ts';
import { argmax } from '../model/sampling.ts';
import { f32, type F32, type HostTensor, i32 } from '../tensor/host.ts';
import { outputF32 } from '../tensor/runtime.ts';
import { generateWithInterventions } from './generate.ts';
import { feedName, fetchName } from './names.ts';
import { type CleanRun, InterventionPasses, topKOf } from './passes.ts';
import { dictionaryLayerIndex, type InterventionMode, type InterventionSpec } from './spec.ts';
import { klDivergence, largestDiffs, topTokens, topUnion } from './summary.ts';
import type {
  AppliedIntervention,
  GenerationResult,
  InterventionGenerateOptions,
  InterventionOptions,
  InterventionResult,
  ModeComparison,
  PositionSummary,
} from './types.ts';

export class Intervener {
  private readonly passes: InterventionPasses;

  private constructor(
    readonly model: Model,
    readonly dict: Dictionary,
  ) {
    this.passes = new InterventionPasses(model, dict);
  }

  static create(model: Model, dict: Dictionary): Intervener {
    validateAgainstModel(dict, model.config, { everyLayer: false });
    return new Intervener(model, dict);
  }

  private async runMode(
    tokens: Int32Array,
    spec: InterventionSpec,
    options: InterventionOptions,
    clean: CleanRun,
  ): Promise<InterventionResult> {
    const { mode } = options;
    const p = this.passes;
    p.checkMode(mode);
    const k = topKOf(options.topK);
    options.signal?.throwIfAborted();
    const { T } = clean;
    const r = await p.resolve(spec, clean, options.signal);
    await p.ensureActs(clean, r.byLayer.keys(), options.signal);
    const feeds: Record<string, HostTensor> = { [feedName.tokens]: i32([1, T], tokens) };
    p.freezeFeeds(mode, clean, feeds);
    const { layers, columns } = await p.interventionFeeds(r, mode, T, clean, feeds);
    const cache = [...new Set(options.hooks ?? [])].sort();
    for (const h of cache) this.model.hookShape(h, T);
    const s = await p.session({ mode, layers, steer: [...r.steer.keys()].sort(), past: false, cache });
    options.signal?.throwIfAborted();
    const out = await s.run(feeds);
    const V = this.model.config.dVocab;
    const logits = f32([T, V], outputF32(out, fetchName.logits).data);
    const cleanLogits = f32([T, V], clean.logits.data);
    const applied: AppliedIntervention[] = [];
    for (const i of layers) {
      const feats = columns.get(i) as number[];
      // Constrained mode feeds Δ and computes no live activations.
      const cur = out[fetchName.acts(i)] ? outputF32(out, fetchName.acts(i)).data : undefined;
      feats.forEach((f, col) => {
        for (const [pos, value] of r.byLayer.get(i)?.get(f) ?? []) {
          const c = p.cleanAct(clean, i, pos, f);
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
      const top = { clean: topTokens(a, k, tok), intervened: topTokens(b, k, tok) };
      positions.push({
        pos: p,
        token: tokens[p],
        ...top,
        diffs: largestDiffs(a, b, k, tok),
        union: topUnion(a, b, top, tok),
        kl: klDivergence(a, b),
      });
    }
    const hooks: Record<string, F32> = {};
    for (const h of cache) {
      const t = outputF32(out, fetchName.hook(h));
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
    this.passes.checkMode(options.mode);
    return this.runMode(tokens, spec, options, await this.passes.clean(tokens, options.signal));
  }

  /** The same interventions in several modes from one clean run, compared pairwise. */
  async compareModes(
    tokens: Int32Array,
    spec: InterventionSpec,
    modes: readonly InterventionMode[],
    options: Omit<InterventionOptions, 'mode'> = {},
  ): Promise<ModeComparison> {
    if (modes.length === 0) throw new Error('compareModes: no modes given');
    for (const m of modes) this.passes.checkMode(m);
    const clean = await this.passes.clean(tokens, options.signal);
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
   * Generates with a KV cache: the prompt pass applies every intervention in `mode`, later tokens the
   * open-ended ones (generate.ts). Also the clean continuation, and each intervened token scored against the
   * clean model on the same prefix.
   */
  generate(
    tokens: Int32Array,
    spec: InterventionSpec,
    options: InterventionGenerateOptions,
  ): Promise<GenerationResult> {
    return generateWithInterventions(this.passes, tokens, spec, options);
  }

  /**
   * Clean dictionary activations [n, T, dTc] of the given model layers (default: every dictionary layer), in
   * that order: default values for patching and for choosing intervention values.
   */
  async activations(
    tokens: Int32Array,
    options: { layers?: readonly number[]; signal?: AbortSignal } = {},
  ): Promise<F32> {
    const c = await this.passes.clean(tokens, options.signal);
    const layers = (options.layers ?? this.dict.layers.map((l) => l.layer)).map((l) =>
      dictionaryLayerIndex(this.dict, l, 'activations'),
    );
    await this.passes.ensureActs(c, layers, options.signal);
    const n = c.T * this.dict.dTc;
    const out = new Float32Array(layers.length * n);
    layers.forEach((i, k) => {
      const acts = c.acts.get(i);
      if (acts) out.set(acts, k * n);
    });
    return f32([layers.length, c.T, this.dict.dTc], out);
  }
}
