/**
 * The job contract: every job kind and the zod schema of its params, shared by the server (`jobs.enqueue`
 * validates against it and refuses unknown kinds) and the worker (each handler's params type comes from here).
 *
 * Params name catalogue records by id only (modelId, dictionaryId, a stored blob): the server checks them
 * against the job's team and resolves them to files when a worker claims the job (`JobPaths`), so no
 * user-supplied path ever reaches a worker.
 */
import {
  ATTRIBUTION_DEFAULTS,
  DICTIONARY_DEFAULTS,
  INTERVENTION_MODES,
  type InterventionMode,
} from '@loupe/core';
import { z } from 'zod';

const id = z.uuid();
const prompt = z.string().min(1).max(20_000);
const tokenIds = z.array(z.number().int().min(0)).min(1).max(8_192);
const targetToken = z.string().min(1).max(200);

function onePromptSource<T extends { prompt?: string; tokens?: number[] }>(p: T): boolean {
  return (p.prompt === undefined) !== (p.tokens === undefined);
}
const onePromptMessage = { message: 'give exactly one of prompt or tokens', path: ['prompt'] };

/**
 * Which logits the graph explains: the most probable ones up to a cumulative probability (circuit-tracer's
 * default), chosen tokens, or the difference logit(a) − logit(b) of two tokens.
 */
export const attributionTargets = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('salient') }),
  z.strictObject({ kind: z.literal('tokens'), tokens: z.array(targetToken).min(1).max(100) }),
  z.strictObject({ kind: z.literal('diff'), a: targetToken, b: targetToken }),
]);
export type AttributionTargets = z.output<typeof attributionTargets>;

/** The tracing options a user chooses (also `investigations.trace`'s `options`), with the CLI's defaults. */
export const attributionOptions = z.strictObject({
  /** Feature rows to compute in influence order; 'all' (the CLI default) computes every active feature. */
  maxFeatureNodes: z.union([z.literal('all'), z.number().int().min(1).max(100_000)]).default('all'),
  maxNLogits: z.number().int().min(1).max(1_000).default(ATTRIBUTION_DEFAULTS.maxNLogits),
  desiredLogitProb: z.number().min(0).max(1).default(ATTRIBUTION_DEFAULTS.desiredLogitProb),
  batchSize: z.number().int().min(1).max(4_096).default(ATTRIBUTION_DEFAULTS.batchSize),
  nodeThreshold: z.number().min(0).max(1).default(ATTRIBUTION_DEFAULTS.nodeThreshold),
  edgeThreshold: z.number().min(0).max(1).default(ATTRIBUTION_DEFAULTS.edgeThreshold),
  targets: attributionTargets.default({ kind: 'salient' }),
  /**
   * Inactive features with the most inhibition from the graph's nodes added per layer and position, as nodes
   * with activation 0 (the CLI's --include-inactive); 0 adds none.
   */
  includeInactive: z.number().int().min(0).max(64).default(0),
});

export const attributeParams = z
  .strictObject({
    modelId: id,
    dictionaryId: id,
    prompt: prompt.optional(),
    tokens: tokenIds.optional(),
    ...attributionOptions.shape,
    /** Graph slug; the CLI uses the output file's name. */
    slug: z.string().min(1).max(200).default('graph'),
  })
  .refine(onePromptSource, onePromptMessage);

export const interveneParams = z
  .strictObject({
    modelId: id,
    dictionaryId: id,
    prompt: prompt.optional(),
    tokens: tokenIds.optional(),
    /** The CLI's `L:P:F=V` strings. */
    set: z.array(z.string().min(1).max(200)).max(10_000).default([]),
    /** Each feature group inline (the JSON the CLI reads from GROUP_FILE). */
    scale: z
      .array(z.strictObject({ group: z.unknown(), factor: z.number().finite() }))
      .max(1_000)
      .default([]),
    mode: z.enum(INTERVENTION_MODES as [InterventionMode, ...InterventionMode[]]).default('constrained'),
    compare: z.boolean().default(false),
    generate: z.number().int().min(1).max(1_024).optional(),
    topK: z.number().int().min(1).max(100).default(5),
  })
  .refine(onePromptSource, onePromptMessage)
  .refine((p) => p.set.length + p.scale.length > 0, {
    message: 'nothing to do: give at least one set or scale',
    path: ['set'],
  });

/** Training text: the model organism's own curriculum, or a stored text blob of the team (one document per line). */
export const trainingCorpus = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('organism') }),
  z.strictObject({ kind: z.literal('blob'), blobId: id }),
]);

const hookName = z.string().min(1).max(200);

/** The flags of `pnpm loupe train-dictionary`, camel-cased, with its defaults; the result becomes a team dictionary. */
export const trainDictionaryParams = z
  .strictObject({
    modelId: id,
    /** Name of the registered dictionary; default KIND-WIDTH-<job id prefix>. */
    name: z.string().trim().min(1).max(200).optional(),
    kind: z.enum(['plt', 'clt', 'sae']),
    width: z
      .number()
      .int()
      .min(1)
      .max(1 << 20),
    k: z.number().int().min(1).max(4_096).default(DICTIONARY_DEFAULTS.k),
    steps: z.number().int().min(1).max(10_000_000).default(DICTIONARY_DEFAULTS.steps),
    batchRows: z.number().int().min(1).max(65_536).default(DICTIONARY_DEFAULTS.batchRows),
    batchSeqs: z.number().int().min(1).max(4_096).default(DICTIONARY_DEFAULTS.batchSeqs),
    lr: z.number().gt(0).lt(1).default(DICTIONARY_DEFAULTS.lr),
    layer: z.number().int().min(0).optional(),
    inputHook: hookName.optional(),
    outputHook: hookName.optional(),
    corpus: trainingCorpus.default({ kind: 'organism' }),
    seed: z.number().int().min(0).default(0),
    dtype: z.enum(['float32', 'float16', 'bfloat16']).default('float32'),
    evalBatches: z.number().int().min(1).max(1_000_000).default(DICTIONARY_DEFAULTS.evalBatches),
    /** Also build the feature index (top activating contexts) beside the dictionary, as `--index` does. */
    index: z.boolean().default(false),
    indexBatches: z.number().int().min(1).max(1_000_000).default(DICTIONARY_DEFAULTS.indexBatches),
  })
  .refine((p) => p.k <= p.width, {
    message: 'k (active features per token) must not exceed width',
    path: ['k'],
  });

/** Builds a dictionary's feature index over held-out organism text and loads it into the database. */
export const indexFeaturesParams = z.strictObject({
  dictionaryId: id,
  /** Load only these layers (all when absent). */
  layers: z.array(z.number().int().min(0).max(10_000)).min(1).max(1_000).optional(),
  /** Examples in each feature's top-activations group. */
  topK: z.number().int().min(1).max(1_000).default(20),
  /** Tokens per context (capped at the model's context length). */
  contextTokens: z.number().int().min(1).max(512).default(64),
  batchSeqs: z.number().int().min(1).max(4_096).default(32),
  /** Stop after this many batches of batchSeqs contexts. */
  batches: z.number().int().min(1).max(1_000_000).default(64),
  /** Stream seed of the curriculum corpus. */
  seed: z.number().int().min(0).default(0),
});

/** Measures the worker's onnxruntime MatMul throughput. */
export const diagnosticsParams = z.strictObject({
  /** How long to keep multiplying; long values make a job that tests can watch and cancel. */
  durationMs: z.number().int().min(0).max(3_600_000).default(2_000),
  /** Square matrix side n of the n×n @ n×n MatMul being timed. */
  size: z.number().int().min(8).max(4096).default(512),
  intraOpNumThreads: z.number().int().min(1).max(256).default(1),
});

/** Every job kind and its params schema. */
export const jobContract = {
  attribute: attributeParams,
  intervene: interveneParams,
  'train-dictionary': trainDictionaryParams,
  'index-features': indexFeaturesParams,
  diagnostics: diagnosticsParams,
} as const;

export type JobKind = keyof typeof jobContract;
export const jobKinds = Object.keys(jobContract) as JobKind[];
/** Params as stored on the job (defaults filled in) and handed to the worker. */
export type JobParams<K extends JobKind> = z.output<(typeof jobContract)[K]>;
/** Params as a client may send them (defaults optional). */
export type JobParamsInput<K extends JobKind> = z.input<(typeof jobContract)[K]>;

export type AttributeParams = JobParams<'attribute'>;
export type InterveneParams = JobParams<'intervene'>;
export type TrainDictionaryParams = JobParams<'train-dictionary'>;
export type IndexFeaturesParams = JobParams<'index-features'>;
export type DiagnosticsParams = JobParams<'diagnostics'>;

export function isJobKind(kind: string): kind is JobKind {
  return Object.hasOwn(jobContract, kind);
}

/**
 * Files the server resolved for a claimed job, absolute, on the shared disk: the model directory, the
 * dictionary directory, a corpus text file, and the output directory the job writes. The worker reads and
 * writes only these, and only inside its data roots.
 */
export const jobPaths = z.strictObject({
  model: z.string().min(1).max(4096).optional(),
  dictionary: z.string().min(1).max(4096).optional(),
  corpus: z.string().min(1).max(4096).optional(),
  out: z.string().min(1).max(4096).optional(),
});
export type JobPaths = z.output<typeof jobPaths>;
