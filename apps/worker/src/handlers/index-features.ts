import type { IndexFeaturesParams } from '@loupe/api/jobs';
import {
  buildFeatureIndex,
  encodeFeatureLayer,
  type FeatureIndexResult,
  writeFeatureIndexDir,
} from '@loupe/core';
import { indexCorpus } from '@loupe/organism';
import type { FeatureIndexChunk } from '../api.ts';
import { contractHandler, type JobContext, permanent } from '../registry.ts';
import { requirePath } from '../roots.ts';
import { openForJob } from './open.ts';

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
  layers?: readonly number[],
): Generator<FeatureIndexChunk> {
  for (const [layer, features] of [...index.features.entries()].sort((a, b) => a[0] - b[0])) {
    if (layers && !layers.includes(layer)) continue;
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

export async function runIndexFeatures(p: IndexFeaturesParams, ctx: JobContext) {
  const modelDir = requirePath(ctx.paths, 'model');
  const dictDir = requirePath(ctx.paths, 'dictionary');
  const out = requirePath(ctx.paths, 'out');
  // Without an API (a handler run in-process) the index is only written to `out`.
  const put = ctx.putFeatureIndex;
  ctx.progress(0, 'loading model and dictionary');
  const opened = await openForJob(ctx, modelDir, dictDir);
  const { checkpoint: ckpt, dictionary: dict, model, files, runtime, close } = opened;
  try {
    const T = Math.min(ckpt.config.nCtx, p.contextTokens);
    const source = await permanent(() =>
      indexCorpus(modelDir, files, ckpt, { text: ctx.paths.corpus, seed: p.seed, batchSeqs: p.batchSeqs, T }),
    );
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
    if (put) {
      for (const chunk of featureIndexChunks(index, p.dictionaryId, apiChunkFeatures, chunkChars, p.layers)) {
        ctx.signal.throwIfAborted();
        await put(chunk);
        loaded += chunk.features.length;
        ctx.progress(95 + (5 * loaded) / features, `loaded ${loaded}/${features} features into the database`);
      }
    }
    ctx.progress(100, 'feature index written');
    return {
      contexts: index.contexts,
      tokens: index.tokens,
      features,
      dictionaryId: p.dictionaryId,
      loaded,
    };
  } finally {
    await close();
  }
}

export const indexFeaturesHandler = contractHandler('index-features', runIndexFeatures);
