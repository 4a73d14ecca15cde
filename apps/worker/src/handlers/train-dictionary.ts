import { readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import {
  type BlockHook,
  type DictionaryCorpus,
  loadCheckpoint,
  Model,
  parseBlockHook,
  runDictionaryPipeline,
  textDictionaryCorpus,
} from '@loupe/core';
import { nodeFiles, nodeRuntime } from '@loupe/core/node';
import { organismDictionaryCorpus } from '@loupe/organism';
import { z } from 'zod';
import { defineHandler, type JobContext, PermanentJobError } from '../registry.ts';

/** Checked against the model by core's parseBlockHook when the job runs, as the CLI does. */
const hookName = z.string().min(1).max(200);

/** Params of a `train-dictionary` job: the flags of `pnpm loupe train-dictionary`, camel-cased, with its defaults. */
export const trainDictionaryParams = z
  .strictObject({
    model: z.string().min(1),
    kind: z.enum(['plt', 'clt', 'sae']),
    width: z
      .number()
      .int()
      .min(1)
      .max(1 << 20),
    k: z.number().int().min(1).max(4_096).default(16),
    steps: z.number().int().min(1).max(10_000_000).default(2000),
    batchRows: z.number().int().min(1).max(65_536).default(1024),
    batchSeqs: z.number().int().min(1).max(4_096).default(32),
    lr: z.number().gt(0).lt(1).default(3e-3),
    layer: z.number().int().min(0).optional(),
    inputHook: hookName.optional(),
    outputHook: hookName.optional(),
    /** A text corpus on the worker's disk (one document per line); the default is the organism curriculum. */
    text: z.string().min(1).optional(),
    seed: z.number().int().min(0).default(0),
    /** Output directory on the worker's disk; default MODEL/dictionaries/KIND-WIDTH, as the CLI. */
    out: z.string().min(1).optional(),
    dtype: z.enum(['float32', 'float16', 'bfloat16']).default('float32'),
    evalBatches: z.number().int().min(1).max(1_000_000).default(16),
    /** Also build the feature index (top activating contexts) under OUT/features, as `--index` does. */
    index: z.boolean().default(false),
    indexBatches: z.number().int().min(1).max(1_000_000).default(64),
  })
  .refine((p) => p.k <= p.width, {
    message: 'k (active features per token) must not exceed width',
    path: ['k'],
  });
export type TrainDictionaryParams = z.output<typeof trainDictionaryParams>;

/** Errors in what the job asked for (not transient ones) fail it without retry. */
async function permanent<T>(f: () => Promise<T> | T): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw new PermanentJobError(e instanceof Error ? e.message : String(e));
  }
}

/** Training takes most of the time: it fills 0–90%, evaluation 90–95%, the optional index 95–100%. */
const phaseSpan = { train: [0, 90], evaluate: [90, 95], index: [95, 100] } as const;

export async function runTrainDictionary(p: TrainDictionaryParams, ctx: JobContext) {
  const hooks: { input?: BlockHook; output?: BlockHook } = await permanent(() => ({
    ...(p.inputHook ? { input: parseBlockHook(p.inputHook, 'inputHook') } : {}),
    ...(p.outputHook ? { output: parseBlockHook(p.outputHook, 'outputHook') } : {}),
  }));
  const dir = resolve(p.model);
  const out = resolve(p.out ?? join(dir, 'dictionaries', `${p.kind}-${p.width}`));
  const files = nodeFiles();
  ctx.progress(0, 'loading model and corpus');
  const ckpt = await permanent(() => loadCheckpoint(dir, files));
  const T = Math.min(ckpt.config.nCtx, 64);
  const text = p.text;
  const corpus: DictionaryCorpus = await permanent(async () =>
    text
      ? textDictionaryCorpus(await readFile(text, 'utf8'), text, ckpt, p.batchSeqs, T)
      : organismDictionaryCorpus(dir, files, p.seed, p.batchSeqs, T),
  );
  ctx.log(`training a ${p.kind} of width ${p.width} on ${corpus.description}`);
  const runtime = nodeRuntime();
  try {
    const model = await Model.create(ckpt.config, ckpt.weights, ckpt.tokenizer, runtime);
    const res = await runDictionaryPipeline(runtime, model, corpus, files, {
      kind: p.kind,
      width: p.width,
      k: p.k,
      steps: p.steps,
      batchRows: p.batchRows,
      lr: p.lr,
      seed: p.seed,
      hooks,
      ...(p.layer !== undefined ? { layer: p.layer } : {}),
      dtype: p.dtype,
      evalBatches: p.evalBatches,
      index: p.index,
      indexBatches: p.indexBatches,
      out,
      modelName: basename(dir),
      modelLabel: p.model,
      signal: ctx.signal,
      onProgress: (phase, done, total, t) => {
        const [from, to] = phaseSpan[phase];
        const note = t
          ? `step ${done}/${total}, fvu ${t.fvu.toFixed(3)}, l0 ${t.l0.toFixed(1)}`
          : `${phase} ${done}/${total}`;
        ctx.progress(from + ((to - from) * done) / Math.max(1, total), note);
      },
    });
    ctx.progress(100, 'dictionary written');
    return {
      out: res.out,
      kind: p.kind,
      width: p.width,
      steps: res.training.steps,
      rows: res.training.rows,
      seconds: res.training.seconds,
      evaluation: res.evaluation,
      ...(res.index ? { index: res.index } : {}),
    };
  } finally {
    await runtime.release();
  }
}

export const trainDictionaryHandler = defineHandler({
  kind: 'train-dictionary',
  paramsSchema: trainDictionaryParams,
  run: runTrainDictionary,
});
