import { z } from 'zod';

/**
 * Params of a `train-dictionary` job, mirroring `pnpm loupe train-dictionary --model DIR --kind plt|clt|sae --width N`.
 * Not registered yet: waits for the core dictionary trainer (issue #9).
 */
export const trainDictionaryParams = z.strictObject({
  model: z.string().min(1),
  kind: z.enum(['plt', 'clt', 'sae']),
  width: z.number().int().min(1).max(1_048_576),
  /** Where the trained dictionary is written, on the worker's disk. */
  out: z.string().min(1),
  steps: z.number().int().min(1).max(10_000_000).optional(),
  seed: z
    .number()
    .int()
    .min(0)
    .max(2 ** 31 - 1)
    .default(0),
});
export type TrainDictionaryParams = z.output<typeof trainDictionaryParams>;
