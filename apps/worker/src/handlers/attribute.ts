import { basename } from 'node:path';
import {
  type AttributeProgress,
  attribute,
  createGraphJson,
  loadCheckpoint,
  loadDictionary,
  Model,
  validateAgainstModel,
} from '@loupe/core';
import { nodeFiles, nodeRuntime } from '@loupe/core/node';
import { z } from 'zod';
import { defineHandler, type JobContext, StoredGraph } from '../registry.ts';

/**
 * Params of an `attribute` job: the flags of `pnpm loupe attribute` with the same defaults, so that equal inputs
 * give the same graph in the worker and the CLI (issue #9, point 4). Paths are on the worker's disk.
 */
export const attributeParams = z
  .strictObject({
    model: z.string().min(1),
    transcoders: z.string().min(1),
    prompt: z.string().min(1).max(20_000).optional(),
    tokens: z.array(z.number().int().min(0)).min(1).max(8_192).optional(),
    /** Feature rows to compute in influence order; 'all' (the CLI default) computes every active feature. */
    maxFeatureNodes: z.union([z.literal('all'), z.number().int().min(1).max(1_000_000)]).default('all'),
    maxNLogits: z.number().int().min(1).max(1_000).default(10),
    desiredLogitProb: z.number().min(0).max(1).default(0.95),
    batchSize: z.number().int().min(1).max(4_096).default(64),
    nodeThreshold: z.number().min(0).max(1).default(0.8),
    edgeThreshold: z.number().min(0).max(1).default(0.98),
    /** Not read here: jobs.complete links the stored graph to these registered records. */
    modelId: z.string().min(1).max(100).optional(),
    dictionaryId: z.string().min(1).max(100).optional(),
    /** Graph slug; the CLI uses the output file's name. */
    slug: z.string().min(1).max(200).default('graph'),
  })
  .refine((p) => (p.prompt === undefined) !== (p.tokens === undefined), {
    message: 'give exactly one of prompt or tokens',
    path: ['prompt'],
  });
export type AttributeParams = z.output<typeof attributeParams>;

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
  const files = nodeFiles();
  ctx.progress(0, 'loading model and transcoders');
  const ckpt = await loadCheckpoint(p.model, files);
  const dict = await loadDictionary(p.transcoders, files);
  const runtime = nodeRuntime();
  try {
    validateAgainstModel(dict, ckpt.config);
    const model = await Model.create(ckpt.config, ckpt.weights, ckpt.tokenizer, runtime);
    const modelName = typeof dict.meta.model_name === 'string' ? dict.meta.model_name : basename(p.model);
    const graph = await attribute(
      model,
      dict,
      p.tokens ? { tokens: p.tokens } : { text: p.prompt as string },
      {
        targets: { kind: 'salient', maxNLogits: p.maxNLogits, desiredLogitProb: p.desiredLogitProb },
        maxFeatureNodes: p.maxFeatureNodes === 'all' ? undefined : p.maxFeatureNodes,
        batchSize: p.batchSize,
        modelName,
        signal: ctx.signal,
        onProgress: (e) =>
          ctx.progress(percent(e), e.phase === 'setup' ? 'setup' : `${e.phase} ${e.done}/${e.total}`),
      },
    );
    const decode = (id: number) => (ckpt.tokenizer ? ckpt.tokenizer.decode([id]) : String(id));
    const json = createGraphJson(graph, {
      slug: p.slug,
      scan: graph.model.scan ?? basename(p.transcoders),
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
    await dict.close();
    await runtime.release();
  }
}

export const attributeHandler = defineHandler({
  kind: 'attribute',
  paramsSchema: attributeParams,
  run: runAttribute,
});
