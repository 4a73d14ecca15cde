/**
 * A model with the dictionary read on it: what every command and job that traces, intervenes or indexes starts
 * from. The loading, the fit check and the compile happen here once, in this order, for Node and the browser.
 */
import { type Checkpoint, loadCheckpoint } from '../io/checkpoint.ts';
import type { FileAccess } from '../io/files.ts';
import { Model } from '../model/model.ts';
import type { Runtime } from '../tensor/runtime.ts';
import { type LoadOptions, loadDictionary, validateAgainstModel } from './load.ts';
import type { Dictionary } from './types.ts';

export interface ModelAndDictionary {
  checkpoint: Checkpoint;
  dictionary: Dictionary;
  /** The checkpoint compiled on the runtime it was given. */
  model: Model;
}

/**
 * Reads the checkpoint in `modelDir` and the dictionary in `dictionaryDir`, checks that the dictionary fits the
 * model (validateAgainstModel) and compiles the model on `runtime`. A dictionary that was opened is closed again
 * when a later step fails; on success the caller closes it (and releases the runtime) when done.
 */
export async function loadModelAndDictionary(
  files: FileAccess,
  runtime: Runtime,
  modelDir: string,
  dictionaryDir: string,
  opts: LoadOptions = {},
): Promise<ModelAndDictionary> {
  const checkpoint = await loadCheckpoint(modelDir, files);
  const dictionary = await loadDictionary(dictionaryDir, files, opts);
  try {
    validateAgainstModel(dictionary, checkpoint.config);
    const model = await Model.create(checkpoint.config, checkpoint.weights, checkpoint.tokenizer, runtime);
    return { checkpoint, dictionary, model };
  } catch (e) {
    await dictionary.close();
    throw e;
  }
}
