import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  removeFixtureDirs,
  writeRandomCheckpoint,
} from '../../../packages/core/test/fixtures/checkpoints.ts';
import { indexFeaturesParams, runIndexFeatures } from '../src/handlers/index-features.ts';
import { runTrainDictionary, trainDictionaryParams } from '../src/handlers/train-dictionary.ts';
import { PermanentJobError } from '../src/registry.ts';
import { jobContext, runLoupe, writeWordCorpus } from './helpers.ts';

let work: string;
let model: string;
let corpus: string;

/** A context that aborts `controller` at the first progress past 0 (the first step); abortedAt() tells when. */
function abortOnFirstStep(controller: AbortController) {
  let abortedAt = 0;
  const { ctx } = jobContext(controller.signal);
  const inner = ctx.progress;
  ctx.progress = (p, m) => {
    inner(p, m);
    if (p > 0 && !controller.signal.aborted) {
      abortedAt = performance.now();
      controller.abort(new Error('stop'));
    }
  };
  return { ctx, abortedAt: () => abortedAt };
}

const small = {
  kind: 'plt',
  width: 32,
  k: 4,
  steps: 30,
  batchRows: 64,
  batchSeqs: 4,
  evalBatches: 2,
  seed: 3,
};

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'loupe-worker-dict-'));
  model = (await writeRandomCheckpoint('llama', { seed: 7 })).dir;
  corpus = join(work, 'corpus.txt');
  await writeWordCorpus(corpus, 200);
});

afterAll(async () => {
  await removeFixtureDirs();
  await rm(work, { recursive: true, force: true });
});

async function filesOf(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true, withFileTypes: true }))
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();
}

/** metrics.json without the wall-clock parts. */
async function metricsOf(dir: string) {
  const m = JSON.parse(await readFile(join(dir, 'metrics.json'), 'utf8'));
  delete m.training.seconds;
  for (const p of m.curve) delete p.rowsPerSecond;
  return m;
}

describe('train-dictionary handler', () => {
  it('writes the same dictionary, metrics and feature index as `pnpm loupe train-dictionary`', async () => {
    const cliOut = join(work, 'cli');
    await runLoupe([
      'train-dictionary',
      ...['--model', model, '--kind', 'plt', '--width', '32', '--k', '4', '--steps', '30'],
      ...['--batch-rows', '64', '--batch-seqs', '4', '--eval-batches', '2', '--seed', '3'],
      ...['--text', corpus, '--index', '--index-batches', '2', '--out', cliOut],
    ]);
    const jobOut = join(work, 'job');
    const { ctx, percents } = jobContext();
    const params = trainDictionaryParams.parse({
      ...small,
      model,
      text: corpus,
      index: true,
      indexBatches: 2,
      out: jobOut,
    });
    const res = await runTrainDictionary(params, ctx);
    expect(res).toMatchObject({ out: jobOut, kind: 'plt', width: 32, steps: 30 });
    expect(res.index?.contexts).toBeGreaterThan(0);
    expect(res.evaluation.fvu).toBeGreaterThan(0);

    const names = await filesOf(cliOut);
    expect(await filesOf(jobOut)).toEqual(names);
    expect(names).toContain('features/labels.json');
    // A gzip header records the time it was written: compare what it holds.
    const content = async (path: string) =>
      path.endsWith('.gz') ? gunzipSync(await readFile(path)) : await readFile(path);
    for (const f of names.filter((n) => n !== 'metrics.json')) {
      expect(Buffer.compare(await content(join(jobOut, f)), await content(join(cliOut, f))), f).toBe(0);
    }
    expect(await metricsOf(jobOut)).toEqual(await metricsOf(cliOut));

    expect(percents.length).toBeGreaterThan(5);
    for (let i = 1; i < percents.length; i++) expect(percents[i]).toBeGreaterThanOrEqual(percents[i - 1]);
    expect(percents.at(-1)).toBe(100);
  }, 120_000);

  it('stops promptly when aborted mid-training', async () => {
    const controller = new AbortController();
    const { ctx, abortedAt } = abortOnFirstStep(controller);
    const params = trainDictionaryParams.parse({
      ...small,
      steps: 1_000_000,
      model,
      text: corpus,
      out: join(work, 'aborted'),
    });
    await expect(runTrainDictionary(params, ctx)).rejects.toThrow();
    expect(abortedAt()).toBeGreaterThan(0);
    expect(performance.now() - abortedAt()).toBeLessThan(2_000);
  }, 60_000);

  it('refuses bad params with a clear error, without retry', async () => {
    expect(trainDictionaryParams.safeParse({ model, kind: 'plt', width: 0 }).success).toBe(false);
    expect(trainDictionaryParams.safeParse({ model, kind: 'pca', width: 8 }).success).toBe(false);
    expect(
      trainDictionaryParams.safeParse({ model, kind: 'plt', width: 8, k: 9 }).error?.issues[0].path,
    ).toEqual(['k']);
    expect(trainDictionaryParams.safeParse({ model, kind: 'plt', width: 8, batchRows: 1e9 }).success).toBe(
      false,
    );
    const base = { ...small, model, text: corpus, out: join(work, 'bad') };
    const { ctx } = jobContext();
    await expect(
      runTrainDictionary(trainDictionaryParams.parse({ ...base, inputHook: 'hook_nope' }), ctx),
    ).rejects.toThrow(PermanentJobError);
    await expect(
      runTrainDictionary(trainDictionaryParams.parse({ ...base, model: join(work, 'no-model') }), ctx),
    ).rejects.toThrow(PermanentJobError);
    await expect(
      runTrainDictionary(trainDictionaryParams.parse({ ...base, text: join(work, 'no-corpus.txt') }), ctx),
    ).rejects.toThrow(/no-corpus\.txt/);
    // The fixture's tokenizer is not the organism's: the curriculum corpus cannot be built.
    const { text: _, ...noText } = base;
    await expect(runTrainDictionary(trainDictionaryParams.parse(noText), ctx)).rejects.toThrow(
      /organism curriculum/,
    );
  });
});

describe('index-features handler', () => {
  let dictionary: string;
  beforeAll(async () => {
    dictionary = join(work, 'for-index');
    const params = trainDictionaryParams.parse({ ...small, steps: 5, model, text: corpus, out: dictionary });
    await runTrainDictionary(params, jobContext().ctx);
  }, 60_000);

  it('indexes a text corpus, reporting rising progress', async () => {
    const { ctx, percents } = jobContext();
    const params = indexFeaturesParams.parse({
      model,
      dictionary,
      corpus,
      batchSeqs: 4,
      batches: 3,
      topK: 5,
    });
    const res = await runIndexFeatures(params, ctx);
    expect(res.out).toBe(join(dictionary, 'features'));
    expect(res.features).toBe(2 * 32);
    expect(res.contexts).toBe(12);
    const labels = JSON.parse(await readFile(join(res.out, 'labels.json'), 'utf8'));
    expect(Object.keys(labels).sort()).toEqual(['0', '1']);
    expect(labels['0']).toHaveLength(32);
    for (let i = 1; i < percents.length; i++) expect(percents[i]).toBeGreaterThanOrEqual(percents[i - 1]);
    expect(percents.at(-1)).toBe(100);
  }, 60_000);

  it('stops promptly when aborted', async () => {
    const controller = new AbortController();
    const { ctx, abortedAt } = abortOnFirstStep(controller);
    const params = indexFeaturesParams.parse({
      model,
      dictionary,
      corpus,
      batchSeqs: 1,
      batches: 1_000_000,
      out: join(work, 'idx-aborted'),
    });
    await expect(runIndexFeatures(params, ctx)).rejects.toThrow();
    expect(abortedAt()).toBeGreaterThan(0);
    expect(performance.now() - abortedAt()).toBeLessThan(2_000);
  }, 60_000);

  it('refuses bad params with a clear error, without retry', async () => {
    expect(indexFeaturesParams.safeParse({ model, dictionary, topK: 0 }).success).toBe(false);
    const { ctx } = jobContext();
    await expect(
      runIndexFeatures(indexFeaturesParams.parse({ model, dictionary: join(work, 'nothing') }), ctx),
    ).rejects.toThrow(PermanentJobError);
    await expect(
      runIndexFeatures(indexFeaturesParams.parse({ model, dictionary, corpus: join(work, 'none.txt') }), ctx),
    ).rejects.toThrow(/none\.txt/);
    const tiny = join(work, 'tiny.txt');
    await writeFile(tiny, 'w4 w5\n');
    await expect(
      runIndexFeatures(indexFeaturesParams.parse({ model, dictionary, corpus: tiny }), ctx),
    ).rejects.toThrow(/do not fill one batch/);
  });
});
