import { z } from 'zod';

/**
 * Params of an `index-features` job: run a dictionary over a corpus and keep each feature's top activating
 * contexts. Not registered yet: waits for the core feature-indexing entry point (issue #9).
 */
export const indexFeaturesParams = z.strictObject({
  model: z.string().min(1),
  dictionary: z.string().min(1),
  /** A text file with one document per line, or a directory of them, on the worker's disk. */
  corpus: z.string().min(1),
  topK: z.number().int().min(1).max(1_000).default(20),
  contextTokens: z.number().int().min(1).max(512).default(32),
  maxDocuments: z.number().int().min(1).max(10_000_000).optional(),
});
export type IndexFeaturesParams = z.output<typeof indexFeaturesParams>;
