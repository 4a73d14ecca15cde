import { basename } from 'node:path';
import type { AttributeParams } from '@loupe/api/jobs';
import {
  type AttributeProgress,
  attribute,
  createGraphJson,
  logitDifferenceTarget,
  type Model,
  type TargetSpec,
} from '@loupe/core';
import { contractHandler, type JobContext, PermanentJobError, StoredGraph } from '../registry.ts';
import { requirePath } from '../roots.ts';
import { openForJob } from './open.ts';

/**
 * The job's targets as core's TargetSpec: the salient logits (the CLI's default), chosen token strings, or
 * logit(a) − logit(b) as one custom direction, the difference of the two unembedding columns.
 */
export function targetSpec(p: AttributeParams, model: Model): TargetSpec {
  const t = p.targets;
  if (t.kind === 'salient')
    return { kind: 'salient', maxNLogits: p.maxNLogits, desiredLogitProb: p.desiredLogitProb };
  if (t.kind === 'tokens') return { kind: 'strings', tokens: t.tokens };
  const tokenizer = model.tokenizer;
  if (!tokenizer) throw new PermanentJobError('a logit difference needs the model to have a tokenizer');
  const single = (s: string) => {
    const ids = Array.from(tokenizer.encode(s));
    if (ids.length !== 1)
      throw new PermanentJobError(
        `target ${JSON.stringify(s)} is ${ids.length} tokens; it must be exactly one`,
      );
    return ids[0];
  };
  return {
    kind: 'custom',
    targets: [logitDifferenceTarget(model.weights.unembed, single(t.a), single(t.b), { tokenizer })],
  };
}

/** Same weighting as the CLI's bar: setup 5 %, logit rows 5 %, feature rows the rest. */
function percent(p: AttributeProgress): number {
  const frac = p.total > 0 ? p.done / p.total : 1;
  if (p.phase === 'setup') return 5 * frac;
  if (p.phase === 'logits') return 5 + 5 * frac;
  return 10 + 90 * frac;
}

export interface AttributeSummary {
  nodes: number;
  links: number;
  selectedFeatures: number;
  activeFeatures: number;
  logitTargets: number;
  tokens: number;
}

/** Loads the model and dictionary, traces the graph, and hands back its JSON for the web app to store. */
export async function runAttribute(
  p: AttributeParams,
  ctx: JobContext,
): Promise<StoredGraph<AttributeSummary>> {
  const modelDir = requirePath(ctx.paths, 'model');
  const dictDir = requirePath(ctx.paths, 'dictionary');
  ctx.progress(0, 'loading model and transcoders');
  const { checkpoint: ckpt, dictionary: dict, model, close } = await openForJob(ctx, modelDir, dictDir);
  try {
    const modelName = typeof dict.meta.model_name === 'string' ? dict.meta.model_name : basename(modelDir);
    const graph = await attribute(
      model,
      dict,
      p.tokens ? { tokens: p.tokens } : { text: p.prompt as string },
      {
        targets: targetSpec(p, model),
        maxFeatureNodes: p.maxFeatureNodes === 'all' ? undefined : p.maxFeatureNodes,
        batchSize: p.batchSize,
        inactivePerSite: p.includeInactive || undefined,
        modelName,
        signal: ctx.signal,
        onProgress: (e) =>
          ctx.progress(percent(e), e.phase === 'setup' ? 'setup' : `${e.phase} ${e.done}/${e.total}`),
      },
    );
    const decode = (id: number) => (ckpt.tokenizer ? ckpt.tokenizer.decode([id]) : String(id));
    const json = createGraphJson(graph, {
      slug: p.slug,
      scan: graph.model.scan ?? basename(dictDir),
      decodeToken: decode,
      nodeThreshold: p.nodeThreshold,
      edgeThreshold: p.edgeThreshold,
    });
    const summary: AttributeSummary = {
      nodes: json.nodes.length,
      links: json.links.length,
      selectedFeatures: graph.selectedFeatures.length,
      activeFeatures: graph.activeFeatures.length / 3,
      logitTargets: graph.logitTargets.length,
      tokens: graph.inputTokens.length,
    };
    ctx.log(`graph: ${summary.nodes} nodes, ${summary.links} links`);
    return new StoredGraph(summary, { prompt: graph.inputString, slug: p.slug, graph: json });
  } finally {
    await close();
  }
}

export const attributeHandler = contractHandler('attribute', runAttribute);
