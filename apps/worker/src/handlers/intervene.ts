import type { InterveneParams } from '@loupe/api/jobs';
import {
  type FeatureIntervention,
  type GroupScale,
  INTERVENTION_MODES,
  Intervener,
  type InterventionMode,
  loadCheckpoint,
  loadDictionary,
  Model,
  parseFeatureGroup,
  parseSetSpec,
  prepareTokens,
  validateAgainstModel,
} from '@loupe/core';
import { nodeFiles, nodeRuntime } from '@loupe/core/node';
import { contractHandler, type JobContext, PermanentJobError } from '../registry.ts';
import { requirePath } from '../roots.ts';

/** The same report the CLI stores in its output's metadata: per-mode runs, mode comparisons, any generation. */
export async function runIntervene(p: InterveneParams, ctx: JobContext): Promise<Record<string, unknown>> {
  // Spec errors are the caller's to fix; retrying cannot help.
  let features: FeatureIntervention[];
  let scales: GroupScale[];
  try {
    features = p.set.map((s) => parseSetSpec(s));
    scales = p.scale.map((s, i) => ({ group: parseFeatureGroup(s.group, `scale[${i}]`), factor: s.factor }));
  } catch (e) {
    throw new PermanentJobError(e instanceof Error ? e.message : String(e));
  }
  const files = nodeFiles();
  ctx.progress(0, 'loading model and dictionary');
  const ckpt = await loadCheckpoint(requirePath(ctx.paths, 'model'), files);
  const dict = await loadDictionary(requirePath(ctx.paths, 'dictionary'), files);
  const runtime = nodeRuntime(ctx.runtimeOptions);
  try {
    validateAgainstModel(dict, ckpt.config);
    const tokens = prepareTokens(
      p.tokens ? { tokens: p.tokens } : { text: p.prompt as string },
      ckpt.config.dVocab,
      ckpt.tokenizer,
    );
    const spec = { features, scales };
    const model = await Model.create(ckpt.config, ckpt.weights, ckpt.tokenizer, runtime);
    const iv = Intervener.create(model, dict);
    ctx.signal.throwIfAborted();
    ctx.progress(30, `${tokens.length} tokens`);
    const modes: InterventionMode[] = p.compare ? [...INTERVENTION_MODES] : [p.mode];
    const cmp = await iv.compareModes(tokens, spec, modes, { topK: p.topK });
    ctx.progress(p.generate === undefined ? 90 : 60, 'interventions done');
    const report: Record<string, unknown> = { runs: cmp.runs.map((r) => r.report), pairs: cmp.pairs };
    if (p.generate !== undefined) {
      ctx.signal.throwIfAborted();
      const gen = await iv.generate(tokens, spec, { mode: p.mode, maxNewTokens: p.generate, topK: p.topK });
      report.generation = gen.report;
    }
    ctx.progress(100, 'report ready');
    // Round-trip so the result is exactly the JSON the CLI writes (no typed arrays or undefined fields).
    return JSON.parse(JSON.stringify(report));
  } finally {
    await dict.close();
    await runtime.release();
  }
}

export const interveneHandler = contractHandler('intervene', runIntervene);
