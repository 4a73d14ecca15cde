/**
 * What `contrast` and `overlap` share: a model and a dictionary opened together, and prompt sets read from
 * repeated flags, each prompt's dictionary activations taken at a position counted from its end.
 */
import {
  Intervener,
  type PositionActivations,
  prepareTokens,
  promptActivations,
  promptPeakActivations,
} from '@loupe/core';
import { z } from 'zod';
import type { FlagSpec } from './args.ts';
import { openModelAndDictionaryFlags } from './model-option.ts';

export const promptSet = (flag: string) =>
  z.array(z.string().min(1, `a --${flag} prompt is empty`), {
    error: `required: --${flag} TEXT (repeatable)`,
  });

/** `--pos -1`: a position counted from the end, so prompts of different lengths line up at their last token. */
export const positionFromEnd = z
  .string()
  .regex(/^-\d+$/, 'a position counted from the end: -1 is the last token, -2 the one before')
  .transform(Number)
  .refine((n) => n <= -1, 'a position counted from the end: -1 is the last token')
  .default(-1);

export const POS_FLAG: FlagSpec = {
  type: 'string',
  value: '-N',
  help: 'position counted from each prompt’s end (default -1, the last token)',
};

/**
 * Opens the model and dictionary, runs `use` with an activations reader, and releases both. Position 'any'
 * reads each feature's peak over a prompt's positions, its special tokens (BOS) left out.
 */
export async function withActivations<T>(
  opts: { model: string; transcoders: string; threads?: number },
  use: (
    activations: (prompts: readonly string[], pos: number | 'any') => Promise<PositionActivations>,
    decode: (text: string) => string[],
  ) => Promise<T>,
): Promise<T> {
  const opened = await openModelAndDictionaryFlags(opts);
  const { checkpoint: ckpt, dictionary: dict, model } = opened;
  try {
    const iv = Intervener.create(model, dict);
    const tokens = (text: string) => prepareTokens({ text }, ckpt.config.dVocab, ckpt.tokenizer);
    return await use(
      (prompts, pos) =>
        pos === 'any'
          ? promptPeakActivations(iv, prompts.map(tokens), ckpt.tokenizer?.specialIds)
          : promptActivations(iv, prompts.map(tokens), pos),
      (text) => Array.from(tokens(text), (id) => (ckpt.tokenizer ? ckpt.tokenizer.decode([id]) : String(id))),
    );
  } finally {
    await opened.close();
  }
}
