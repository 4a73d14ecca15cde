/**
 * Train a small per-layer transcoder set on organism-s from a text corpus (here: generated sums, one per
 * line), evaluate it on the held-out tenth and write it in circuit-tracer layout, ready for `attribute`.
 *
 *   pnpm --filter @loupe/examples train-dictionary out/plt-128
 */
import {
  loadCheckpoint,
  Model,
  runDictionaryPipeline,
  seededRandom,
  textDictionaryCorpus,
} from '@loupe/core';
import { nodeFiles, nodeRuntime } from '@loupe/core/node';
import { ORGANISM_S } from './organism.ts';

const [out = 'plt-128'] = process.argv.slice(2);

/** `36+59=95`, one random two-digit sum per line. */
function sums(n: number, seed: number): string {
  const rand = seededRandom(seed);
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const a = 10 + Math.floor(rand() * 90);
    const b = 10 + Math.floor(rand() * 90);
    lines.push(`${a}+${b}=${a + b}`);
  }
  return lines.join('\n');
}

const files = nodeFiles();
const ckpt = await loadCheckpoint(ORGANISM_S, files);
const corpus = textDictionaryCorpus(sums(2000, 1), 'generated sums', ckpt, 16, 32);
const runtime = nodeRuntime();
try {
  const model = await Model.create(ckpt.config, ckpt.weights, ckpt.tokenizer, runtime);
  const { training, evaluation: ev } = await runDictionaryPipeline(runtime, model, corpus, files, {
    kind: 'plt',
    width: 128,
    k: 8,
    steps: 150,
    batchRows: 256,
    lr: 3e-3,
    seed: 1,
    dtype: 'float32',
    evalBatches: 4,
    index: false,
    indexBatches: 0,
    out,
    modelName: 'organism-s',
    modelLabel: 'organism-s',
  });
  console.log(`${corpus.description}`);
  console.log(`trained ${training.steps} steps on ${training.rows} rows; wrote ${out}`);
  console.log(
    `held-out: FVU ${ev.fvu.toFixed(3)}, mean L0 ${ev.meanL0.toFixed(1)}, dead ${(100 * ev.deadFraction).toFixed(1)}%, loss recovered ${(100 * ev.loss.recovered).toFixed(1)}%`,
  );
} finally {
  await runtime.release();
}
