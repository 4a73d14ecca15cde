import type { InterveneParams } from '@loupe/api/jobs';
import { Intervener, parseInterventionRequest, prepareTokens, runInterventionRequest } from '@loupe/core';
import { contractHandler, type JobContext, PermanentJobError } from '../registry.ts';
import { requirePath } from '../roots.ts';
import { openForJob } from './open.ts';

/** The same report the CLI stores in its output's metadata: per-mode runs, mode comparisons, any generation. */
export async function runIntervene(p: InterveneParams, ctx: JobContext): Promise<Record<string, unknown>> {
  // Spec errors are the caller's to fix; retrying cannot help.
  try {
    parseInterventionRequest(p);
  } catch (e) {
    throw new PermanentJobError(e instanceof Error ? e.message : String(e));
  }
  ctx.progress(0, 'loading model and dictionary');
  const opened = await openForJob(ctx, requirePath(ctx.paths, 'model'), requirePath(ctx.paths, 'dictionary'));
  const { checkpoint: ckpt, dictionary: dict, model, close } = opened;
  try {
    const tokens = prepareTokens(
      p.tokens ? { tokens: p.tokens } : { text: p.prompt as string },
      ckpt.config.dVocab,
      ckpt.tokenizer,
    );
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
    await close();
  }
}

export const interveneHandler = contractHandler('intervene', runIntervene);
