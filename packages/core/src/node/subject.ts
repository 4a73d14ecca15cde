import { type LoadOptions, type ModelAndDictionary, loadModelAndDictionary } from '../dictionary/index.ts';
import type { FileAccess } from '../io/files.ts';
import type { Runtime, RuntimeOptions } from '../tensor/runtime.ts';
import { nodeFiles } from './files.ts';
import { nodeRuntime } from './runtime.ts';

/** A model and its dictionary loaded from disk, on a runtime of their own; `close()` frees both. */
export interface OpenModelAndDictionary extends ModelAndDictionary {
  files: FileAccess;
  runtime: Runtime;
  close(): Promise<void>;
}

/**
 * Loads the checkpoint in `modelDir` and the dictionary in `dictionaryDir` from disk, checks that the dictionary
 * fits the model and creates the model on a fresh onnxruntime-node runtime (`runtimeOptions`: the worker's
 * execution providers), which compiles each graph when first run. Anything that fails on the way is released
 * before the error reaches the caller.
 */
export async function openModelAndDictionary(
  modelDir: string,
  dictionaryDir: string,
  opts: LoadOptions & { runtimeOptions?: RuntimeOptions } = {},
): Promise<OpenModelAndDictionary> {
  const { runtimeOptions, ...load } = opts;
  const files = nodeFiles();
  const runtime = nodeRuntime(runtimeOptions);
  try {
    const loaded = await loadModelAndDictionary(files, runtime, modelDir, dictionaryDir, load);
    return {
      ...loaded,
      files,
      runtime,
      close: async () => {
        await loaded.dictionary.close();
        await runtime.release();
      },
    };
  } catch (e) {
    await runtime.release();
    throw e;
  }
}

/** Runs `use` on the opened model and dictionary, and closes them however it ends. */
export async function withModelAndDictionary<T>(
  modelDir: string,
  dictionaryDir: string,
  opts: LoadOptions & { runtimeOptions?: RuntimeOptions },
  use: (m: OpenModelAndDictionary) => Promise<T>,
): Promise<T> {
  const opened = await openModelAndDictionary(modelDir, dictionaryDir, opts);
  try {
    return await use(opened);
  } finally {
    await opened.close();
  }
}
