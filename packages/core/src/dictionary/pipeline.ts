/**
 * The whole `train-dictionary` run shared by the CLI and the worker: train on a corpus, write the dictionary,
 * evaluate the files as written on held-out tokens, write `metrics.json`, and optionally the feature index.
 * Callers only build the corpus and report progress their own way, so both give the same files for the same
 * inputs and seed.
 */
import type { Checkpoint } from '../io/checkpoint.ts';
import type { FileAccess } from '../io/files.ts';
import { prepareTokens, type Tokenizer } from '../io/tokenizer.ts';
import type { Model } from '../model/model.ts';
import type { Runtime } from '../tensor/runtime.ts';
import { buildFeatureIndex, writeFeatureIndexDir } from './index-runner.ts';
import { loadDictionary, writeDictionary } from './load.ts';
import { type DictionaryEvaluation, evaluateDictionary } from './metrics.ts';
import {
  type DecoderBias,
  DICTIONARY_DEFAULTS,
  type DictionaryTrainingProgress,
  type DictionaryTrainingResult,
  type TokenBatches,
  trainDictionary,
} from './train.ts';
import type { DictionaryHooks, DictionaryKind } from './types.ts';

/** Token rows for training (endless or long) and a fresh held-out stream for each evaluation pass. */
export interface DictionaryCorpus {
  train: TokenBatches;
  heldOut: () => TokenBatches;
  /** Token ids never trained on or indexed (padding, BOS, other specials). */
  exclude: number[];
  tokenString: (id: number) => string;
  description: string;
}

/** The documents' tokens back to back, cut into batches of B rows of T tokens; `loop` cycles forever (training). */
export function* packedBatches(
  docs: readonly Int32Array[],
  B: number,
  T: number,
  loop: boolean,
): Generator<Int32Array[]> {
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

/** One document per non-empty line of `text`, tokenized; `source` names the text in errors. */
export function textDocuments(
  text: string,
  source: string,
  ckpt: Pick<Checkpoint, 'config' | 'tokenizer'>,
): { docs: Int32Array[]; tokenizer: Tokenizer } {
  const tokenizer = ckpt.tokenizer;
  if (!tokenizer)
    throw new Error(`${source}: a text corpus needs a tokenizer (tokenizer.json next to the model)`);
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  return { docs: lines.map((l) => prepareTokens({ text: l }, ckpt.config.dVocab, tokenizer)), tokenizer };
}

/**
 * A training corpus of one document per non-empty line of `text`; the last tenth of the documents is held
 * out for evaluation and the feature index.
 */
export function textDictionaryCorpus(
  text: string,
  source: string,
  ckpt: Pick<Checkpoint, 'config' | 'tokenizer'>,
  B: number,
  T: number,
): DictionaryCorpus {
  const { docs, tokenizer } = textDocuments(text, source, ckpt);
  if (docs.length < 10)
    throw new Error(`${source}: need at least 10 non-empty lines (documents), found ${docs.length}`);
  const cut = Math.floor(docs.length * 0.9);
  const trainTokens = docs.slice(0, cut).reduce((n, d) => n + d.length, 0);
  if (trainTokens < B * T)
    throw new Error(`${source}: ${trainTokens} training tokens do not fill one batch of ${B} × ${T}`);
  return {
    train: packedBatches(docs.slice(0, cut), B, T, true),
    heldOut: () => packedBatches(docs.slice(cut), B, T, false),
    exclude: [...tokenizer.specialIds],
    tokenString: (id) => tokenizer.idToToken(id) ?? `<${id}>`,
    description: `${source} (${cut} training documents, ${docs.length - cut} held out)`,
  };
}

export type DictionaryPipelinePhase = 'train' | 'evaluate' | 'index';

export interface DictionaryPipelineOptions {
  kind: DictionaryKind;
  width: number;
  k: number;
  steps: number;
  batchRows: number;
  lr: number;
  seed: number;
  /** Default in DICTIONARY_DEFAULTS (train.ts). */
  decoderBias?: DecoderBias;
  layer?: number;
  hooks?: Partial<DictionaryHooks>;
  dtype: 'float32' | 'float16' | 'bfloat16';
  evalBatches: number;
  /** Also build the feature index under `out/features` from held-out text. */
  index: boolean;
  indexBatches: number;
  /** Output directory. */
  out: string;
  /** Written into the dictionary's metadata (`model_name`). */
  modelName: string;
  /** The model as the caller named it, recorded in metrics.json. */
  modelLabel: string;
  /** `detail` is given during training only. */
  onProgress?: (
    phase: DictionaryPipelinePhase,
    done: number,
    total: number,
    detail?: DictionaryTrainingProgress,
  ) => void;
  signal?: AbortSignal;
}

export interface DictionaryPipelineResult {
  out: string;
  training: DictionaryTrainingResult;
  evaluation: DictionaryEvaluation;
  /** What metrics.json holds. */
  metrics: Record<string, unknown>;
  index?: { dir: string; contexts: number; tokens: number };
}

export async function runDictionaryPipeline(
  runtime: Runtime,
  model: Model,
  corpus: DictionaryCorpus,
  files: FileAccess,
  o: DictionaryPipelineOptions,
): Promise<DictionaryPipelineResult> {
  const decoderBias = o.decoderBias ?? DICTIONARY_DEFAULTS.decoderBias;
  const training = await trainDictionary(runtime, model, corpus.train, {
    kind: o.kind,
    width: o.width,
    k: o.k,
    steps: o.steps,
    batchRows: o.batchRows,
    lr: o.lr,
    seed: o.seed,
    decoderBias,
    hooks: o.hooks ?? {},
    excludeTokens: corpus.exclude,
    ...(o.layer !== undefined ? { layer: o.layer } : {}),
    onProgress: (p) => o.onProgress?.('train', p.step, p.steps, p),
    ...(o.signal ? { signal: o.signal } : {}),
  });
  training.dictionary.meta.model_name = o.modelName;
  await writeDictionary(o.out, files, training.dictionary, undefined, { dtype: o.dtype });
  // The metrics describe the files as written (after any float16/bfloat16 rounding).
  const dict = await loadDictionary(o.out, files);
  try {
    const evaluation = await evaluateDictionary(runtime, model, dict, corpus.heldOut(), {
      excludeTokens: corpus.exclude,
      maxBatches: o.evalBatches,
      onProgress: (d, t) => o.onProgress?.('evaluate', d, t),
      ...(o.signal ? { signal: o.signal } : {}),
    });
    const metrics = {
      model: o.modelLabel,
      corpus: corpus.description,
      kind: o.kind,
      width: o.width,
      k: o.k,
      hooks: dict.hooks,
      dtype: o.dtype,
      training: {
        steps: training.steps,
        rows: training.rows,
        seconds: training.seconds,
        lr: o.lr,
        batchRows: o.batchRows,
        seed: o.seed,
        decoderBias,
      },
      evaluation,
      curve: training.curve,
    };
    await files.writeFile(files.join(o.out, 'metrics.json'), `${JSON.stringify(metrics, null, 1)}\n`);
    const result: DictionaryPipelineResult = { out: o.out, training, evaluation, metrics };
    if (o.index) {
      const built = await buildFeatureIndex(runtime, model, dict, corpus.heldOut(), {
        tokenString: corpus.tokenString,
        excludeTokens: corpus.exclude,
        maxBatches: o.indexBatches,
        onProgress: (d, t) => o.onProgress?.('index', d, t),
        ...(o.signal ? { signal: o.signal } : {}),
      });
      const dir = files.join(o.out, 'features');
      await writeFeatureIndexDir(files, dir, built);
      result.index = { dir, contexts: built.contexts, tokens: built.tokens };
    }
    return result;
  } finally {
    await dict.close();
  }
}
