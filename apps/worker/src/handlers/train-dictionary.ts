import { z } from 'zod';

/** Checked against the model by core's parseBlockHook when the job runs, as the CLI does. */
const hookName = z.string().min(1).max(200);

/**
 * Params of a `train-dictionary` job: the flags of `pnpm loupe train-dictionary`, camel-cased, with its defaults.
 * Not registered yet (issue #9): the CLI builds its corpus and training loop inline, and the handler should call
 * that same code once it moves into a shared function rather than copy it.
 */
export const trainDictionaryParams = z.strictObject({
  model: z.string().min(1),
  kind: z.enum(['plt', 'clt', 'sae']),
  width: z
    .number()
    .int()
    .min(1)
    .max(1 << 20),
  k: z.number().int().min(1).default(16),
  steps: z.number().int().min(1).max(10_000_000).default(2000),
  batchRows: z.number().int().min(1).default(1024),
  batchSeqs: z.number().int().min(1).default(32),
  lr: z.number().gt(0).lt(1).default(1e-3),
  layer: z.number().int().min(0).optional(),
  inputHook: hookName.optional(),
  outputHook: hookName.optional(),
  /** A text corpus on the worker's disk; the default is the organism curriculum. */
  text: z.string().min(1).optional(),
  seed: z.number().int().min(0).default(0),
  /** Output directory on the worker's disk. */
  out: z.string().min(1).optional(),
  dtype: z.enum(['float32', 'float16', 'bfloat16']).default('float32'),
  evalBatches: z.number().int().min(1).default(16),
  /** Also build the feature index (top activating contexts), as `--index` does. */
  index: z.boolean().default(false),
  indexBatches: z.number().int().min(1).default(64),
});
export type TrainDictionaryParams = z.output<typeof trainDictionaryParams>;
