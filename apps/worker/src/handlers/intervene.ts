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
import { z } from 'zod';
import { defineHandler, type JobContext, PermanentJobError } from '../registry.ts';

/**
 * Params of an `intervene` job: the flags of `pnpm loupe intervene` with the same defaults. `set` takes the CLI's
 * `L:P:F=V` strings; `scale` carries each feature group inline (the JSON the CLI reads from GROUP_FILE).
 */
export const interveneParams = z
  .strictObject({
    model: z.string().min(1),
    transcoders: z.string().min(1),
    prompt: z.string().min(1).max(20_000).optional(),
    tokens: z.array(z.number().int().min(0)).min(1).max(8_192).optional(),
    set: z.array(z.string().min(1).max(200)).max(10_000).default([]),
    scale: z
      .array(z.strictObject({ group: z.unknown(), factor: z.number().finite() }))
      .max(1_000)
      .default([]),
    mode: z.enum(INTERVENTION_MODES as [InterventionMode, ...InterventionMode[]]).default('constrained'),
    compare: z.boolean().default(false),
    generate: z.number().int().min(1).max(1_024).optional(),
    topK: z.number().int().min(1).max(100).default(5),
  })
  .refine((p) => (p.prompt === undefined) !== (p.tokens === undefined), {
    message: 'give exactly one of prompt or tokens',
    path: ['prompt'],
  })
  .refine((p) => p.set.length + p.scale.length > 0, {
    message: 'nothing to do: give at least one set or scale',
    path: ['set'],
  });
export type InterveneParams = z.output<typeof interveneParams>;

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
  const ckpt = await loadCheckpoint(p.model, files);
  const dict = await loadDictionary(p.transcoders, files);
  const runtime = nodeRuntime();
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

export const interveneHandler = defineHandler({
  kind: 'intervene',
  paramsSchema: interveneParams,
  run: runIntervene,
});
