/**
 * `loupe train-dictionary`: trains a PLT, CLT or SAE on the model's activations over a corpus (the organism
 * curriculum by default, or a text file), evaluates it on held-out tokens and writes it in circuit-tracer
 * layout (SAEs: SAELens) with `metrics.json`, and with --index the feature index under `features/`.
 */
import { basename, join, resolve } from 'node:path';
import {
  DECODER_BIASES,
  type DecoderBias,
  DICTIONARY_DEFAULTS,
  type DictionaryEvaluation,
  type DictionaryPipelinePhase,
  type DictionaryTrainingResult,
  loadCheckpoint,
  Model,
  parseBlockHook,
  runDictionaryPipeline,
} from '@loupe/core';
import { nodeFiles, nodeRuntime } from '@loupe/core/node';
import { dictionaryCorpus } from '@loupe/organism';
import { SHIPPED_ORGANISMS, shippedModelDir } from '@loupe/organism/node';
import { z } from 'zod';
import { defineCommand } from '../args.ts';
import { createProgress } from '../progress.ts';
import { MODEL_FLAG, modelDirSchema, requireExisting } from '../model-option.ts';
import { outputDir } from '../output.ts';

const int = (what: string, min = 1) =>
  z
    .string()
    .regex(/^\d+$/, `${what} must be a whole number`)
    .transform(Number)
    .refine((n) => n >= min, `${what} must be at least ${min}`);

const hook = (what: string) =>
  z.string().transform((s, ctx) => {
    try {
      return parseBlockHook(s, what);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: (e as Error).message });
      return z.NEVER;
    }
  });

const schema = z.object({
  model: modelDirSchema,
  kind: z.enum(['plt', 'clt', 'sae'], { error: 'required: --kind plt, clt or sae' }),
  width: int('--width').refine((n) => n <= 1 << 20, '--width must be at most 1048576'),
  k: int('--k').default(DICTIONARY_DEFAULTS.k),
  steps: int('--steps').default(DICTIONARY_DEFAULTS.steps),
  'batch-rows': int('--batch-rows').default(DICTIONARY_DEFAULTS.batchRows),
  'batch-seqs': int('--batch-seqs').default(DICTIONARY_DEFAULTS.batchSeqs),
  lr: z
    .string()
    .transform(Number)
    .refine((v) => v > 0 && v < 1, '--lr must be a number in (0, 1)')
    .default(DICTIONARY_DEFAULTS.lr),
  layer: int('--layer', 0).optional(),
  'input-hook': hook('--input-hook').optional(),
  'output-hook': hook('--output-hook').optional(),
  text: z.string().min(1).optional(),
  seed: int('--seed', 0).default(0),
  out: z.string().min(1).optional(),
  dtype: z.enum(['float32', 'float16', 'bfloat16']).default('float32'),
  'decoder-bias': z
    .enum(DECODER_BIASES as [DecoderBias, ...DecoderBias[]], {
      error: `--decoder-bias must be one of ${DECODER_BIASES.join(', ')}`,
    })
    .optional(),
  'eval-batches': int('--eval-batches').default(DICTIONARY_DEFAULTS.evalBatches),
  index: z.boolean().default(false),
  'index-batches': int('--index-batches').default(DICTIONARY_DEFAULTS.indexBatches),
});

/**
 * MODEL/dictionaries/KIND-WIDTH beside a checkpoint, but never inside a shipped organism's folder (part of the
 * repository): its dictionaries go to loupe-out/dictionaries/ORGANISM-KIND-WIDTH instead.
 */
export function defaultDictionaryOut(modelDir: string, kind: string, width: number): string {
  const dir = resolve(modelDir);
  const shipped = SHIPPED_ORGANISMS.find((n) => resolve(shippedModelDir(n)) === dir);
  return shipped
    ? resolve(outputDir(), 'dictionaries', `${shipped}-${kind}-${width}`)
    : join(dir, 'dictionaries', `${kind}-${width}`);
}

function summary(res: DictionaryTrainingResult, ev: DictionaryEvaluation): string {
  const pct = (v: number) => `${(100 * v).toFixed(1)}%`;
  return [
    `trained ${res.steps} steps on ${res.rows} activation rows in ${res.seconds.toFixed(1)}s`,
    `held-out (${ev.tokens} tokens): FVU ${ev.fvu.toFixed(4)}, mean L0 ${ev.meanL0.toFixed(1)}, dead ${pct(ev.deadFraction)}`,
    `next-token loss: clean ${ev.loss.clean.toFixed(4)}, spliced ${ev.loss.spliced.toFixed(4)}, zero-ablated ${ev.loss.zeroAblated.toFixed(4)}, recovered ${pct(ev.loss.recovered)}`,
  ].join('\n');
}

export const command = defineCommand({
  name: 'train-dictionary',
  summary: 'Train a transcoder set (PLT), cross-layer transcoder (CLT) or SAE on the model, with metrics.',
  usage:
    '--model DIR --kind plt|clt|sae --width N [--k 16] [--steps 2000] [--text FILE] [--out DIR] [--index]',
  flags: {
    model: MODEL_FLAG,
    kind: { type: 'string', value: 'KIND', help: 'plt (per-layer transcoders), clt (cross-layer) or sae' },
    width: { type: 'string', value: 'N', help: 'features per layer' },
    k: {
      type: 'string',
      value: 'N',
      help: `mean active features per token and layer (BatchTopK), default ${DICTIONARY_DEFAULTS.k}`,
    },
    steps: { type: 'string', value: 'N', help: `optimiser steps, default ${DICTIONARY_DEFAULTS.steps}` },
    'batch-rows': {
      type: 'string',
      value: 'N',
      help: `activation rows (tokens) per step, default ${DICTIONARY_DEFAULTS.batchRows}`,
    },
    'batch-seqs': {
      type: 'string',
      value: 'N',
      help: `sequences per model batch when streaming activations, default ${DICTIONARY_DEFAULTS.batchSeqs}`,
    },
    lr: {
      type: 'string',
      value: 'X',
      help: `peak AdamW learning rate, default ${DICTIONARY_DEFAULTS.lr.toExponential()}`,
    },
    layer: { type: 'string', value: 'L', help: 'SAE only: the layer (default: the middle one)' },
    'input-hook': {
      type: 'string',
      value: 'HOOK',
      help: 'hook the encoders read (default ln2.hook_normalized; SAE hook_resid_post)',
    },
    'output-hook': { type: 'string', value: 'HOOK', help: 'hook the decoders write (default hook_mlp_out)' },
    text: {
      type: 'string',
      value: 'FILE',
      help: 'corpus: one document per line (default: the organism curriculum)',
    },
    seed: {
      type: 'string',
      value: 'N',
      help: 'seed of the initialisation, shuffling and curriculum stream, default 0',
    },
    out: {
      type: 'string',
      value: 'DIR',
      help: 'output directory, default MODEL/dictionaries/KIND-WIDTH (shipped organisms: loupe-out/dictionaries/ORGANISM-KIND-WIDTH)',
    },
    dtype: { type: 'string', value: 'T', help: 'storage dtype: float32 (default), float16 or bfloat16' },
    'decoder-bias': {
      type: 'string',
      value: 'B',
      help: `b_dec: fixed-median (stays at the per-coordinate median of the outputs, so massive outputs are carried by features), median (starts there and trains) or mean (starts at the mean and trains); default ${DICTIONARY_DEFAULTS.decoderBias}`,
    },
    'eval-batches': {
      type: 'string',
      value: 'N',
      help: `held-out batches for the metrics, default ${DICTIONARY_DEFAULTS.evalBatches}`,
    },
    index: { type: 'boolean', help: 'also build the feature index (OUT/features) over held-out text' },
    'index-batches': {
      type: 'string',
      value: 'N',
      help: `held-out batches for the feature index, default ${DICTIONARY_DEFAULTS.indexBatches}`,
    },
  },
  schema,
  async run(o, io) {
    await requireExisting('model', o.model);
    const dir = resolve(o.model);
    const out = resolve(o.out ?? defaultDictionaryOut(dir, o.kind, o.width));
    const files = nodeFiles();
    const ckpt = await loadCheckpoint(dir, files);
    const corpus = await dictionaryCorpus(dir, files, ckpt, {
      text: o.text,
      seed: o.seed,
      batchSeqs: o['batch-seqs'],
    });
    const runtime = nodeRuntime();
    try {
      const model = await Model.create(ckpt.config, ckpt.weights, ckpt.tokenizer, runtime);
      io.err.write(`training a ${o.kind} of width ${o.width} on ${corpus.description}\n`);
      // Without a TTY the bar prints a line for every note: give one per tenth of the run.
      const tenth = Math.max(1, Math.floor(o.steps / 10));
      const labels: Record<DictionaryPipelinePhase, string> = {
        train: 'train-dictionary',
        evaluate: 'evaluate',
        index: 'feature index',
      };
      let bar: { phase: DictionaryPipelinePhase; progress: ReturnType<typeof createProgress> } | undefined;
      const res = await runDictionaryPipeline(runtime, model, corpus, files, {
        kind: o.kind,
        width: o.width,
        k: o.k,
        steps: o.steps,
        batchRows: o['batch-rows'],
        lr: o.lr,
        seed: o.seed,
        ...(o['decoder-bias'] ? { decoderBias: o['decoder-bias'] } : {}),
        hooks: {
          ...(o['input-hook'] ? { input: o['input-hook'] } : {}),
          ...(o['output-hook'] ? { output: o['output-hook'] } : {}),
        },
        ...(o.layer !== undefined ? { layer: o.layer } : {}),
        dtype: o.dtype,
        evalBatches: o['eval-batches'],
        index: o.index,
        indexBatches: o['index-batches'],
        out,
        modelName: basename(dir),
        modelLabel: o.model,
        onProgress: (phase, done, total, p) => {
          if (bar?.phase !== phase) {
            bar?.progress.finish();
            bar = { phase, progress: createProgress(labels[phase], total, io.err) };
          }
          const noted = p && (io.err.isTTY || p.step % tenth === 0);
          const note = p
            ? `fvu ${p.fvu.toFixed(3)} l0 ${p.l0.toFixed(1)} dead ${(100 * p.dead).toFixed(1)}% ${Math.round(p.rowsPerSecond)} tok/s`
            : '';
          bar.progress.update(done, noted ? note : '');
        },
      });
      bar?.progress.finish(res.index ? `${res.index.contexts} contexts` : undefined);
      io.out(`${out}\n${summary(res.training, res.evaluation)}`);
    } finally {
      await runtime.release();
    }
  },
});
