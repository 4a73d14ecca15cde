import { basename } from 'node:path';
import type { TrainDictionaryParams } from '@loupe/api/jobs';
import { type BlockHook, loadCheckpoint, Model, parseBlockHook, runDictionaryPipeline } from '@loupe/core';
import { nodeFiles, nodeRuntime } from '@loupe/core/node';
import { dictionaryCorpus } from '@loupe/organism';
import { contractHandler, type JobContext, permanent } from '../registry.ts';
import { requirePath } from '../roots.ts';

/** Training takes most of the time: it fills 0–90%, evaluation 90–95%, the optional index 95–100%. */
const phaseSpan = { train: [0, 90], evaluate: [90, 95], index: [95, 100] } as const;

export async function runTrainDictionary(p: TrainDictionaryParams, ctx: JobContext) {
  const hooks: { input?: BlockHook; output?: BlockHook } = await permanent(() => ({
    ...(p.inputHook ? { input: parseBlockHook(p.inputHook, 'inputHook') } : {}),
    ...(p.outputHook ? { output: parseBlockHook(p.outputHook, 'outputHook') } : {}),
  }));
  // The server picks the output folder (registered as a team dictionary when the job succeeds) and, for a
  // stored corpus, the text file; the organism curriculum is generated from the model folder itself.
  const dir = requirePath(ctx.paths, 'model');
  const out = requirePath(ctx.paths, 'out');
  const files = nodeFiles();
  ctx.progress(0, 'loading model and corpus');
  const ckpt = await permanent(() => loadCheckpoint(dir, files));
  const corpus = await permanent(() =>
    dictionaryCorpus(dir, files, ckpt, { text: ctx.paths.corpus, seed: p.seed, batchSeqs: p.batchSeqs }),
  );
  ctx.log(`training a ${p.kind} of width ${p.width} on ${corpus.description}`);
  const runtime = nodeRuntime(ctx.runtimeOptions);
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
      modelLabel: dir,
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
    // No paths in the result: users read it; the server registers the dictionary by its own record of `out`.
    return {
      kind: p.kind,
      width: p.width,
      steps: res.training.steps,
      rows: res.training.rows,
      seconds: res.training.seconds,
      evaluation: res.evaluation,
      ...(res.index ? { index: { contexts: res.index.contexts, tokens: res.index.tokens } } : {}),
    };
  } finally {
    await runtime.release();
  }
}

export const trainDictionaryHandler = contractHandler('train-dictionary', runTrainDictionary);
