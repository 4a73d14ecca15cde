import { z } from 'zod';

/**
 * Params of an `attribute` job, mirroring `pnpm loupe attribute` flag for flag so that the worker and the CLI
 * produce the same graph from the same inputs (issue #9, point 4). Paths are on the worker's disk: the web app
 * resolves a registered model/dictionary to its path when it enqueues the job.
 *
 * Not registered yet: the handler will call the core attribution entry point once it exists (issue #9);
 * until then the queue rejects `attribute` for lack of a worker instead of returning a made-up graph.
 */
export const attributeParams = z.strictObject({
  model: z.string().min(1),
  transcoders: z.string().min(1),
  prompt: z.string().min(1).max(20_000),
  maxFeatureNodes: z.number().int().min(1).max(100_000).default(7_500),
  maxNLogits: z.number().int().min(1).max(1_000).default(10),
  desiredLogitProb: z.number().gt(0).max(1).default(0.95),
  batchSize: z.number().int().min(1).max(4_096).default(256),
  nodeThreshold: z.number().min(0).max(1).default(0.8),
  edgeThreshold: z.number().min(0).max(1).default(0.98),
  slug: z.string().min(1).max(200).optional(),
});
export type AttributeParams = z.output<typeof attributeParams>;
