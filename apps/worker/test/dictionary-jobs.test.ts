import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeFixtureDirs, writeRandomCheckpoint } from '@loupe/core/testing';
import { type JobPaths, indexFeaturesParams, trainDictionaryParams } from '@loupe/api/jobs';
import { runIndexFeatures } from '../src/handlers/index-features.ts';
import { runTrainDictionary } from '../src/handlers/train-dictionary.ts';
import { PermanentJobError } from '../src/registry.ts';
import { jobContext, runLoupe, someIds, writeWordCorpus } from './helpers.ts';

let work: string;
let model: string;
let corpus: string;

/** A context that aborts `controller` at the first progress past 0 (the first step); abortedAt() tells when. */
function abortOnFirstStep(controller: AbortController, paths: JobPaths) {
  let abortedAt = 0;
  const { ctx } = jobContext(controller.signal, paths);
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
  modelId: someIds.modelId,
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
    const { ctx, percents } = jobContext(undefined, { model, corpus, out: jobOut });
    const params = trainDictionaryParams.parse({ ...small, index: true, indexBatches: 2 });
    const res = await runTrainDictionary(params, ctx);
    expect(res).toMatchObject({ kind: 'plt', width: 32, steps: 30 });
    expect(JSON.stringify(res)).not.toContain(work);
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
    const { ctx, abortedAt } = abortOnFirstStep(controller, { model, corpus, out: join(work, 'aborted') });
    const params = trainDictionaryParams.parse({ ...small, steps: 1_000_000 });
    await expect(runTrainDictionary(params, ctx)).rejects.toThrow();
    expect(abortedAt()).toBeGreaterThan(0);
    expect(performance.now() - abortedAt()).toBeLessThan(2_000);
  }, 60_000);

  it('refuses bad params and missing files with a clear error, without retry', async () => {
    const id = someIds.modelId;
    expect(trainDictionaryParams.safeParse({ modelId: id, kind: 'plt', width: 0 }).success).toBe(false);
    expect(trainDictionaryParams.safeParse({ modelId: id, kind: 'pca', width: 8 }).success).toBe(false);
    expect(
      trainDictionaryParams.safeParse({ modelId: id, kind: 'plt', width: 8, k: 9 }).error?.issues[0].path,
    ).toEqual(['k']);
    expect(
      trainDictionaryParams.safeParse({ modelId: id, kind: 'plt', width: 8, batchRows: 1e9 }).success,
    ).toBe(false);
    // Paths are not params: the server resolves them.
    expect(trainDictionaryParams.safeParse({ ...small, model, out: '/tmp/x' }).success).toBe(false);
    const params = trainDictionaryParams.parse(small);
    const paths = { model, corpus, out: join(work, 'bad') };
    const run = (p: typeof params, at: JobPaths) => runTrainDictionary(p, jobContext(undefined, at).ctx);
    await expect(
      run(trainDictionaryParams.parse({ ...small, inputHook: 'hook_nope' }), paths),
    ).rejects.toThrow(PermanentJobError);
    await expect(run(params, { ...paths, model: join(work, 'no-model') })).rejects.toThrow(PermanentJobError);
    await expect(run(params, { ...paths, corpus: join(work, 'no-corpus.txt') })).rejects.toThrow(
      /no-corpus\.txt/,
    );
    await expect(run(params, { model, corpus })).rejects.toThrow(/no out path/);
    // The fixture's tokenizer is not the organism's: the curriculum corpus cannot be built.
    await expect(run(params, { model, out: paths.out })).rejects.toThrow(/organism curriculum/);
  });
});

describe('index-features handler', () => {
  let dictionary: string;
  beforeAll(async () => {
    dictionary = join(work, 'for-index');
    const params = trainDictionaryParams.parse({ ...small, steps: 5 });
    await runTrainDictionary(params, jobContext(undefined, { model, corpus, out: dictionary }).ctx);
  }, 60_000);

  it('indexes a text corpus, reporting rising progress', async () => {
    const out = join(work, 'index');
    const { ctx, percents } = jobContext(undefined, { model, dictionary, corpus, out });
    const params = indexFeaturesParams.parse({
      dictionaryId: someIds.dictionaryId,
      batchSeqs: 4,
      batches: 3,
      topK: 5,
    });
    const res = await runIndexFeatures(params, ctx);
    expect(JSON.stringify(res)).not.toContain(work);
    expect(res.features).toBe(2 * 32);
    expect(res.contexts).toBe(12);
    const labels = JSON.parse(await readFile(join(out, 'labels.json'), 'utf8'));
    expect(Object.keys(labels).sort()).toEqual(['0', '1']);
    expect(labels['0']).toHaveLength(32);
    for (let i = 1; i < percents.length; i++) expect(percents[i]).toBeGreaterThanOrEqual(percents[i - 1]);
    expect(percents.at(-1)).toBe(100);
  }, 60_000);

  it('stops promptly when aborted', async () => {
    const controller = new AbortController();
    const { ctx, abortedAt } = abortOnFirstStep(controller, {
      model,
      dictionary,
      corpus,
      out: join(work, 'idx-aborted'),
    });
    const params = indexFeaturesParams.parse({
      dictionaryId: someIds.dictionaryId,
      batchSeqs: 1,
      batches: 1_000_000,
    });
    await expect(runIndexFeatures(params, ctx)).rejects.toThrow();
    expect(abortedAt()).toBeGreaterThan(0);
    expect(performance.now() - abortedAt()).toBeLessThan(2_000);
  }, 60_000);

  it('refuses bad params and missing files with a clear error, without retry', async () => {
    const base = { dictionaryId: someIds.dictionaryId };
    expect(indexFeaturesParams.safeParse({ ...base, topK: 0 }).success).toBe(false);
    expect(indexFeaturesParams.safeParse({ ...base, model, dictionary }).success).toBe(false);
    const params = indexFeaturesParams.parse(base);
    const out = join(work, 'idx-bad');
    const run = (at: JobPaths) => runIndexFeatures(params, jobContext(undefined, at).ctx);
    await expect(run({ model, dictionary: join(work, 'nothing'), out })).rejects.toThrow(PermanentJobError);
    await expect(run({ model, dictionary, corpus: join(work, 'none.txt'), out })).rejects.toThrow(
      /none\.txt/,
    );
    const tiny = join(work, 'tiny.txt');
    await writeFile(tiny, 'w4 w5\n');
    await expect(run({ model, dictionary, corpus: tiny, out })).rejects.toThrow(/do not fill one batch/);
  });
});
