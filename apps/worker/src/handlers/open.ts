import { type OpenModelAndDictionary, openModelAndDictionary } from '@loupe/core/node';
import { type JobContext, permanent } from '../registry.ts';

/**
 * The job's model and dictionary, opened on the worker's execution providers. Files that cannot be read, or a
 * dictionary that does not fit the model, fail the job without retry: running it again reads the same files.
 */
export function openForJob(
  ctx: JobContext,
  modelDir: string,
  dictionaryDir: string,
): Promise<OpenModelAndDictionary> {
  return permanent(() =>
    openModelAndDictionary(
      modelDir,
      dictionaryDir,
      ctx.runtimeOptions ? { runtimeOptions: ctx.runtimeOptions } : {},
    ),
  );
}
