import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  buildFeatureIndex,
  encodeFeatureLayer,
  type FeatureIndexResult,
  loadCheckpoint,
  loadDictionary,
  Model,
  packedBatches,
  type TokenBatches,
  textDocuments,
  validateAgainstModel,
  writeFeatureIndexDir,
} from '@loupe/core';
import { nodeFiles, nodeRuntime } from '@loupe/core/node';
import { organismDictionaryCorpus } from '@loupe/organism';
import { z } from 'zod';
import type { FeatureIndexChunk } from '../api.ts';
import { defineHandler, type JobContext, PermanentJobError } from '../registry.ts';

/**
 * Params of an `index-features` job: run a dictionary over a corpus and keep each feature's top activating
 * contexts, activation histogram and logit effects (the `features/` directory `train-dictionary --index` writes).
 */
export const indexFeaturesParams = z.strictObject({
  model: z.string().min(1),
  dictionary: z.string().min(1),
  /** A text file on the worker's disk, one document per line; default: held-out organism curriculum text. */
  corpus: z.string().min(1).optional(),
  /** Output directory; default DICTIONARY/features. */
  out: z.string().min(1).optional(),
  /** Examples in each feature's top-activations group. */
  topK: z.number().int().min(1).max(1_000).default(20),
  /** Tokens per context (capped at the model's context length). */
  contextTokens: z.number().int().min(1).max(512).default(64),
  batchSeqs: z.number().int().min(1).max(4_096).default(32),
  /** Stop after this many batches of batchSeqs contexts; a shorter corpus ends earlier. */
  batches: z.number().int().min(1).max(1_000_000).default(64),
  /** Stream seed of the curriculum corpus. */
  seed: z.number().int().min(0).default(0),
  /** Also load the index into this dictionary of the job's team (searchable in the workspace). */
  dictionaryId: z.uuid().optional(),
});
export type IndexFeaturesParams = z.output<typeof indexFeaturesParams>;

/** dictionaries.putFeatureIndex's bounds: features per call, base64 characters per record. */
const apiChunkFeatures = 256;
const apiRecordChars = 2 * 1024 * 1024;
/** Base64 characters per upload, so one request stays a few MiB however large the records are. */
const chunkChars = 4 * 1024 * 1024;

/**
 * Splits an index into putFeatureIndex uploads: each layer's layer_{l}.bin records (position = feature
 * index), base64, with their auto labels, at most `maxFeatures` features and (beyond one record) `maxChars`
 * characters per chunk.
 */
export function* featureIndexChunks(
  index: Pick<FeatureIndexResult, 'features' | 'labels'>,
  dictionaryId: string,
  maxFeatures = apiChunkFeatures,
  maxChars = chunkChars,
): Generator<FeatureIndexChunk> {
  for (const [layer, features] of [...index.features.entries()].sort((a, b) => a[0] - b[0])) {
    const { bytes, offsets } = encodeFeatureLayer(features);
    const labels = index.labels.get(layer) ?? [];
    let chunk: FeatureIndexChunk['features'] = [];
    let chars = 0;
    for (let f = 0; f < features.length; f++) {
      const record = Buffer.from(bytes.subarray(offsets[f], offsets[f + 1])).toString('base64');
      if (record.length > apiRecordChars) {
        throw new Error(
          `feature ${f} of layer ${layer}: its record is ${record.length} base64 characters, over the API's ${apiRecordChars}`,
        );
      }
      if (chunk.length === maxFeatures || (chunk.length > 0 && chars + record.length > maxChars)) {
        yield { dictionaryId, layer, features: chunk };
        chunk = [];
        chars = 0;
      }
      chunk.push({ featureIndex: f, autoLabel: (labels[f] ?? '').slice(0, 500), record });
      chars += record.length;
    }
    if (chunk.length > 0) yield { dictionaryId, layer, features: chunk };
  }
}

async function permanent<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw new PermanentJobError(e instanceof Error ? e.message : String(e));
  }
}

export async function runIndexFeatures(p: IndexFeaturesParams, ctx: JobContext) {
  const files = nodeFiles();
  const modelDir = resolve(p.model);
  const dictDir = resolve(p.dictionary);
  const out = resolve(p.out ?? join(dictDir, 'features'));
  const put = ctx.putFeatureIndex;
  if (p.dictionaryId && !put)
    throw new PermanentJobError('dictionaryId is set, but this worker has no API to load the index into');
  ctx.progress(0, 'loading model and dictionary');
  const ckpt = await permanent(() => loadCheckpoint(modelDir, files));
  const dict = await permanent(() => loadDictionary(dictDir, files));
  const runtime = nodeRuntime();
  try {
    await permanent(async () => validateAgainstModel(dict, ckpt.config));
    const T = Math.min(ckpt.config.nCtx, p.contextTokens);
    const corpusFile = p.corpus;
    const source: { batches: TokenBatches; exclude: number[]; tokenString: (id: number) => string } =
      await permanent(async () => {
        if (!corpusFile) {
          const c = await organismDictionaryCorpus(modelDir, files, p.seed, p.batchSeqs, T);
          return { batches: c.heldOut(), exclude: c.exclude, tokenString: c.tokenString };
        }
        const { docs, tokenizer } = textDocuments(await readFile(corpusFile, 'utf8'), corpusFile, ckpt);
        const tokens = docs.reduce((n, d) => n + d.length, 0);
        if (tokens < p.batchSeqs * T) {
          throw new Error(`${corpusFile}: ${tokens} tokens do not fill one batch of ${p.batchSeqs} × ${T}`);
        }
        return {
          batches: packedBatches(docs, p.batchSeqs, T, false),
          exclude: [...tokenizer.specialIds],
          tokenString: (id: number) => tokenizer.idToToken(id) ?? `<${id}>`,
        };
      });
    const model = await Model.create(ckpt.config, ckpt.weights, ckpt.tokenizer, runtime);
    const index = await buildFeatureIndex(runtime, model, dict, source.batches, {
      tokenString: source.tokenString,
      excludeTokens: source.exclude,
      maxBatches: p.batches,
      stats: { topK: p.topK },
      signal: ctx.signal,
      onProgress: (done, total) => ctx.progress((95 * done) / total, `batch ${done}/${total}`),
    });
    await writeFeatureIndexDir(files, out, index);
    const features = [...index.features.values()].reduce((n, fs) => n + fs.length, 0);
    let loaded = 0;
    if (p.dictionaryId && put) {
      for (const chunk of featureIndexChunks(index, p.dictionaryId)) {
        ctx.signal.throwIfAborted();
        await put(chunk);
        loaded += chunk.features.length;
        ctx.progress(95 + (5 * loaded) / features, `loaded ${loaded}/${features} features into the database`);
      }
    }
    ctx.progress(100, 'feature index written');
    return {
      out,
      contexts: index.contexts,
      tokens: index.tokens,
      features,
      ...(p.dictionaryId ? { dictionaryId: p.dictionaryId, loaded } : {}),
    };
  } finally {
    await dict.close();
    await runtime.release();
  }
}

export const indexFeaturesHandler = defineHandler({
  kind: 'index-features',
  paramsSchema: indexFeaturesParams,
  run: runIndexFeatures,
});
