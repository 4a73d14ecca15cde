/** Generation with feature interventions and steering (Intervener.generate). */
import { seededRandom } from '../model/init.ts';
import { checkGeneration, sampleToken } from '../model/sampling.ts';
import { f32, type HostTensor, i32 } from '../tensor/host.ts';
import { outputF32 } from '../tensor/runtime.ts';
import type { InterventionSignature } from './graph.ts';
import { feedName, fetchName } from './names.ts';
import { type InterventionPasses, topKOf } from './passes.ts';
import { type InterventionMode, type InterventionSpec, isOpenEnded } from './spec.ts';
import { largestDiffs, topTokens } from './summary.ts';
import type { GenerationResult, GenerationStep, InterventionGenerateOptions } from './types.ts';

/**
 * Generates with a KV cache. The prompt pass applies every intervention in `mode`; later tokens get the
 * open-ended ones (slices without an end, steering without positions) unfrozen, with Δ = v − a_current
 * recomputed on each new position, since no clean value exists there to freeze. Also generates the clean
 * continuation and scores the intervened tokens against the clean model on the same prefixes.
 */
export async function generateWithInterventions(
  passes: InterventionPasses,
  tokens: Int32Array,
  spec: InterventionSpec,
  options: InterventionGenerateOptions,
): Promise<GenerationResult> {
  const { mode, maxNewTokens: n, signal } = options;
  const { model } = passes;
  passes.checkMode(mode);
  passes.checkTokens(tokens);
  const T = tokens.length;
  const temperature = checkGeneration(T, options, model.config.nCtx);
  const clean = await passes.clean(tokens, signal);
  const r = await passes.resolve(spec, clean, signal);
  await passes.ensureActs(clean, r.byLayer.keys(), signal);
  const open: InterventionSpec = {
    features: (spec.features ?? []).filter((f) => isOpenEnded(f.pos)).map((f) => ({ ...f, pos: 0 })),
    steer: (spec.steer ?? []).filter((s) => isOpenEnded(s.pos)).map((s) => ({ ...s, pos: 0 })),
  };
  const later = await passes.resolve(open, { ...clean, T: 1, acts: new Map() }, signal);
  const V = model.config.dVocab;
  const k = topKOf(options.topK);
  const tok = model.tokenizer;

  const decode = async (intervened: boolean) => {
    const rand = seededRandom(options.seed ?? 0);
    const stop = new Set(options.stopTokens ?? []);
    const { nLayers, nKvHeads, dHead } = model.config;
    const feeds: Record<string, HostTensor> = {};
    for (let l = 0; l < nLayers; l++) {
      feeds[feedName.past('k', l)] = f32([1, nKvHeads, 0, dHead]);
      feeds[feedName.past('v', l)] = f32([1, nKvHeads, 0, dHead]);
    }
    const out: number[] = [];
    const rows = new Float32Array(n * V);
    for (let i = 0; i < n; i++) {
      signal?.throwIfAborted();
      const step = i === 0 ? tokens : Int32Array.of(out[i - 1]);
      const stepFeeds: Record<string, HostTensor> = {
        ...feeds,
        [feedName.tokens]: i32([1, step.length], step),
      };
      let sig: InterventionSignature = { mode: 'free', layers: [], steer: [], past: true, cache: [] };
      if (intervened) {
        const stepMode: InterventionMode = i === 0 ? mode : 'free';
        const res = i === 0 ? r : later;
        if (i === 0) passes.freezeFeeds(mode, clean, stepFeeds);
        const { layers } = await passes.interventionFeeds(res, stepMode, step.length, clean, stepFeeds);
        sig = { mode: stepMode, layers, steer: [...res.steer.keys()].sort(), past: true, cache: [] };
      }
      const s = await passes.session(sig);
      const res = await s.run(stepFeeds);
      for (let l = 0; l < nLayers; l++) {
        feeds[feedName.past('k', l)] = outputF32(res, fetchName.present('k', l));
        feeds[feedName.past('v', l)] = outputF32(res, fetchName.present('v', l));
      }
      const row = outputF32(res, fetchName.logits).data.subarray((step.length - 1) * V, step.length * V);
      rows.set(row, i * V);
      const next = sampleToken(row, temperature, rand);
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
  const cleanOnSteered = await passes.clean(full, signal);
  const cleanRows = cleanOnSteered.logits.data.subarray((T - 1) * V, (T + m - 1) * V);
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
