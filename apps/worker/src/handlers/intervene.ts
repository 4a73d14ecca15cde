import { z } from 'zod';

/** One `--set L:P:F=V` of `pnpm loupe intervene`: feature F of layer L at position P set to value V. */
export const featureIntervention = z.strictObject({
  layer: z.number().int().min(0),
  position: z.number().int().min(0),
  feature: z.number().int().min(0),
  value: z.number().finite(),
});

/**
 * Params of an `intervene` job (`pnpm loupe intervene`), optionally followed by greedy generation.
 * Not registered yet: waits for the core intervention entry point (issue #9).
 */
export const interveneParams = z.strictObject({
  model: z.string().min(1),
  transcoders: z.string().min(1),
  prompt: z.string().min(1).max(20_000),
  set: z.array(featureIntervention).min(1).max(10_000),
  mode: z.enum(['constrained', 'open']).default('constrained'),
  generateTokens: z.number().int().min(0).max(1_024).default(0),
});
export type InterveneParams = z.output<typeof interveneParams>;
