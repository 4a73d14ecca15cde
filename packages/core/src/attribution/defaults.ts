/**
 * The tracing options' defaults, defined once: the CLI's flags and help text, the job contract and the
 * functions that take these options all read them from here.
 */
export const ATTRIBUTION_DEFAULTS = {
  /** Most salient logits explained. */
  maxNLogits: 10,
  /** Salient logits are added, most probable first, until their probabilities sum to this. */
  desiredLogitProb: 0.95,
  /** Rows per backward pass: large enough to amortise a run, small enough for the cache. */
  batchSize: 64,
  /** Cumulative node influence kept when pruning. */
  nodeThreshold: 0.8,
  /** Cumulative edge influence kept when pruning. */
  edgeThreshold: 0.98,
} as const;
