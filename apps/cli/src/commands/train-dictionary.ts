/**
 * `loupe train-dictionary`: trains a PLT, CLT or SAE on the model's activations over a corpus (the organism
 * curriculum by default, or a text file), evaluates it on held-out tokens and writes it in circuit-tracer
 * layout (SAEs: SAELens) with `metrics.json`, and with --index the feature index under `features/`.
 */
import { basename, join, resolve } from 'node:path';
import { readFile, writeFile } from 'node:fs/promises';
import {
  buildFeatureIndex,
  type Checkpoint,
  type DictionaryEvaluation,
  type DictionaryTrainingResult,
  evaluateDictionary,
  loadCheckpoint,
  loadDictionary,
  Model,
  parseBlockHook,
  prepareTokens,
  type TokenBatches,
  trainDictionary,
  writeDictionary,
  writeFeatureIndexDir,
} from '@loupe/core';
import { nodeFiles, nodeRuntime } from '@loupe/core/node';
import { batches, loadTokenizer, type OrganismTokenizer } from '@loupe/organism';
import { z } from 'zod';
import { defineCommand } from '../args.ts';
import { createProgress } from '../progress.ts';
import { MODEL_FLAG, modelDirSchema } from '../model-option.ts';

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
  k: int('--k').default(16),
  steps: int('--steps').default(2000),
  'batch-rows': int('--batch-rows').default(1024),
  'batch-seqs': int('--batch-seqs').default(32),
  lr: z
    .string()
    .transform(Number)
    .refine((v) => v > 0 && v < 1, '--lr must be a number in (0, 1)')
    .default(3e-3),
  layer: int('--layer', 0).optional(),
  'input-hook': hook('--input-hook').optional(),
  'output-hook': hook('--output-hook').optional(),
  text: z.string().min(1).optional(),
  seed: int('--seed', 0).default(0),
  out: z.string().min(1).optional(),
  dtype: z.enum(['float32', 'float16', 'bfloat16']).default('float32'),
  'eval-batches': int('--eval-batches').default(16),
  index: z.boolean().default(false),
  'index-batches': int('--index-batches').default(64),
});

type Options = z.infer<typeof schema>;

interface Corpus {
  train: TokenBatches;
  heldOut: () => TokenBatches;
  exclude: number[];
  tokenString: (id: number) => string;
  description: string;
}

/** Rows of `rows[i]` sequences, each T tokens, from a flat organism batch. */
function* organismStream(tok: OrganismTokenizer, B: number, T: number, seed: number): Generator<Int32Array[]> {
  for (const b of batches(tok, { batchSize: B, nCtx: T, seed, splitSeed: seed })) {
    yield Array.from({ length: B }, (_, i) => b.tokens.slice(i * T, (i + 1) * T));
  }
}

async function organismCorpus(dir: string, o: Options, T: number): Promise<Corpus> {
  let tok: OrganismTokenizer;
  try {
    const read = async (f: string) => JSON.parse(await readFile(join(dir, f), 'utf8')) as Record<string, unknown>;
    tok = loadTokenizer({ tokenizer: await read('tokenizer.json'), config: await read('tokenizer_config.json') });
  } catch (e) {
    throw new Error(
      `the default corpus is the organism curriculum, which needs the organism's tokenizer in ${dir} (${(e as Error).message}); pass --text FILE for other models`,
    );
  }
  const B = o['batch-seqs'];
  return {
    train: organismStream(tok, B, T, o.seed),
    // Another stream seed: documents the dictionary never trained on.
    heldOut: () => organismStream(tok, B, T, o.seed + 1_000_003),
    exclude: [tok.padId, tok.bosId],
    tokenString: (id) => tok.vocab[id] ?? `<${id}>`,
    description: `organism curriculum (seed ${o.seed})`,
  };
}

/** The documents' tokens back to back, cut into rows of T; `loop` cycles forever (training). */
function* packed(docs: readonly Int32Array[], B: number, T: number, loop: boolean): Generator<Int32Array[]> {
  let row = new Int32Array(T);
  let at = 0;
  let rows: Int32Array[] = [];
  do {
    for (const doc of docs) {
      for (const t of doc) {
        row[at++] = t;
        if (at < T) continue;
        rows.push(row);
        row = new Int32Array(T);
        at = 0;
        if (rows.length === B) {
          yield rows;
          rows = [];
        }
      }
    }
  } while (loop);
}

async function textCorpus(file: string, ckpt: Checkpoint, o: Options, T: number): Promise<Corpus> {
  const tokenizer = ckpt.tokenizer;
  if (!tokenizer) throw new Error('--text needs a tokenizer (tokenizer.json next to the model)');
  const lines = (await readFile(file, 'utf8')).split('\n').filter((l) => l.trim() !== '');
  if (lines.length < 10) throw new Error(`${file}: need at least 10 non-empty lines (documents), found ${lines.length}`);
  const docs = lines.map((l) => prepareTokens({ text: l }, ckpt.config.dVocab, tokenizer));
  // The last tenth of the documents is held out for evaluation and the feature index.
  const cut = Math.floor(docs.length * 0.9);
  const B = o['batch-seqs'];
  const trainTokens = docs.slice(0, cut).reduce((n, d) => n + d.length, 0);
  if (trainTokens < B * T) throw new Error(`${file}: ${trainTokens} training tokens do not fill one batch of ${B} × ${T}`);
  return {
    train: packed(docs.slice(0, cut), B, T, true),
    heldOut: () => packed(docs.slice(cut), B, T, false),
    exclude: [...tokenizer.specialIds],
    tokenString: (id) => tokenizer.idToToken(id) ?? `<${id}>`,
    description: `${file} (${cut} training documents, ${docs.length - cut} held out)`,
  };
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
  usage: '--model DIR --kind plt|clt|sae --width N [--k 16] [--steps 2000] [--text FILE] [--out DIR] [--index]',
  flags: {
    model: MODEL_FLAG,
    kind: { type: 'string', value: 'KIND', help: 'plt (per-layer transcoders), clt (cross-layer) or sae' },
    width: { type: 'string', value: 'N', help: 'features per layer' },
    k: { type: 'string', value: 'N', help: 'mean active features per token and layer (BatchTopK), default 16' },
    steps: { type: 'string', value: 'N', help: 'optimiser steps, default 2000' },
    'batch-rows': { type: 'string', value: 'N', help: 'activation rows (tokens) per step, default 1024' },
    'batch-seqs': { type: 'string', value: 'N', help: 'sequences per model batch when streaming activations, default 32' },
    lr: { type: 'string', value: 'X', help: 'peak AdamW learning rate, default 3e-3' },
    layer: { type: 'string', value: 'L', help: 'SAE only: the layer (default: the middle one)' },
    'input-hook': { type: 'string', value: 'HOOK', help: 'hook the encoders read (default ln2.hook_normalized; SAE hook_resid_post)' },
    'output-hook': { type: 'string', value: 'HOOK', help: 'hook the decoders write (default hook_mlp_out)' },
    text: { type: 'string', value: 'FILE', help: 'corpus: one document per line (default: the organism curriculum)' },
    seed: { type: 'string', value: 'N', help: 'seed of the initialisation, shuffling and curriculum stream, default 0' },
    out: { type: 'string', value: 'DIR', help: 'output directory, default MODEL/dictionaries/KIND-WIDTH' },
    dtype: { type: 'string', value: 'T', help: 'storage dtype: float32 (default), float16 or bfloat16' },
    'eval-batches': { type: 'string', value: 'N', help: 'held-out batches for the metrics, default 16' },
    index: { type: 'boolean', help: 'also build the feature index (OUT/features) over held-out text' },
    'index-batches': { type: 'string', value: 'N', help: 'held-out batches for the feature index, default 64' },
  },
  schema,
  async run(o, io) {
    const dir = resolve(o.model);
    const out = resolve(o.out ?? join(dir, 'dictionaries', `${o.kind}-${o.width}`));
    const ckpt = await loadCheckpoint(dir, nodeFiles());
    const T = Math.min(ckpt.config.nCtx, 64);
    const corpus = o.text ? await textCorpus(o.text, ckpt, o, T) : await organismCorpus(dir, o, T);
    const runtime = nodeRuntime();
    try {
      const model = await Model.create(ckpt.config, ckpt.weights, ckpt.tokenizer, runtime);
      io.err.write(`training a ${o.kind} of width ${o.width} on ${corpus.description}\n`);
      const bar = createProgress('train-dictionary', o.steps, io.err);
      // Without a TTY the bar prints a line for every note: give one per tenth of the run.
      const tenth = Math.max(1, Math.floor(o.steps / 10));
      const hooks = {
        ...(o['input-hook'] ? { input: o['input-hook'] } : {}),
        ...(o['output-hook'] ? { output: o['output-hook'] } : {}),
      };
      const res = await trainDictionary(runtime, model, corpus.train, {
        kind: o.kind,
        width: o.width,
        k: o.k,
        steps: o.steps,
        batchRows: o['batch-rows'],
        lr: o.lr,
        seed: o.seed,
        hooks,
        excludeTokens: corpus.exclude,
        ...(o.layer !== undefined ? { layer: o.layer } : {}),
        onProgress: (p) => {
          const noted = io.err.isTTY || p.step % tenth === 0;
          const note = `fvu ${p.fvu.toFixed(3)} l0 ${p.l0.toFixed(1)} dead ${(100 * p.dead).toFixed(1)}% ${Math.round(p.rowsPerSecond)} tok/s`;
          bar.update(p.step, noted ? note : '');
        },
      });
      bar.finish();
      res.dictionary.meta.model_name = basename(dir);
      await writeDictionary(out, nodeFiles(), res.dictionary, undefined, { dtype: o.dtype });
      // The metrics describe the files as written (after any float16/bfloat16 rounding).
      const dict = await loadDictionary(out, nodeFiles());
      const evalBar = createProgress('evaluate', o['eval-batches'], io.err);
      const ev = await evaluateDictionary(runtime, model, dict, corpus.heldOut(), {
        excludeTokens: corpus.exclude,
        maxBatches: o['eval-batches'],
        onProgress: (d) => evalBar.update(d),
      });
      evalBar.finish();
      const metrics = {
        model: o.model,
        corpus: corpus.description,
        kind: o.kind,
        width: o.width,
        k: o.k,
        hooks: dict.hooks,
        dtype: o.dtype,
        training: { steps: res.steps, rows: res.rows, seconds: res.seconds, lr: o.lr, batchRows: o['batch-rows'], seed: o.seed },
        evaluation: ev,
        curve: res.curve,
      };
      await writeFile(join(out, 'metrics.json'), `${JSON.stringify(metrics, null, 1)}\n`);
      if (o.index) {
        const indexBar = createProgress('feature index', o['index-batches'], io.err);
        const index = await buildFeatureIndex(runtime, model, dict, corpus.heldOut(), {
          tokenString: corpus.tokenString,
          excludeTokens: corpus.exclude,
          maxBatches: o['index-batches'],
          onProgress: (d) => indexBar.update(d),
        });
        await writeFeatureIndexDir(nodeFiles(), join(out, 'features'), index);
        indexBar.finish(`${index.contexts} contexts`);
      }
      io.out(`${out}\n${summary(res, ev)}`);
    } finally {
      await runtime.release();
    }
  },
});
