import type { InterveneParams } from '@loupe/api/jobs';
import {
  Intervener,
  loadCheckpoint,
  loadDictionary,
  Model,
  parseInterventionRequest,
  prepareTokens,
  runInterventionRequest,
  validateAgainstModel,
} from '@loupe/core';
import { nodeFiles, nodeRuntime } from '@loupe/core/node';
import { contractHandler, type JobContext, PermanentJobError } from '../registry.ts';
import { requirePath } from '../roots.ts';

/** The same report the CLI stores in its output's metadata: per-mode runs, mode comparisons, any generation. */
export async function runIntervene(p: InterveneParams, ctx: JobContext): Promise<Record<string, unknown>> {
  // Spec errors are the caller's to fix; retrying cannot help.
  try {
    parseInterventionRequest(p);
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
    const model = await Model.create(ckpt.config, ckpt.weights, ckpt.tokenizer, runtime);
    const iv = Intervener.create(model, dict);
    ctx.signal.throwIfAborted();
    ctx.progress(30, `${tokens.length} tokens`);
    const report = await runInterventionRequest(iv, tokens, p, {
      signal: ctx.signal,
      onModesDone: () => ctx.progress(p.generate === undefined ? 90 : 60, 'interventions done'),
    });
    ctx.progress(100, 'report ready');
    return { ...report };
  } finally {
    await dict.close();
    await runtime.release();
  }
}

export const interveneHandler = contractHandler('intervene', runIntervene);
