/**
 * `--model`, shared by every command: a checkpoint directory, or the name of a shipped organism so that the
 * embedded model works from anywhere with no download (a local folder of that name is `./organism-s`).
 * A directory stays as given and a name becomes a path relative to the working directory, so what commands
 * record about the model (metadata, metrics.json) names no machine-specific absolute path.
 */
import { readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { isPositiveInt } from '@loupe/core';
import { type OpenModelAndDictionary, openModelAndDictionary } from '@loupe/core/node';
import { isShippedOrganism, SHIPPED_ORGANISMS, shippedModelDir } from '@loupe/organism/node';
import { z } from 'zod';
import type { FlagSpec } from './args.ts';

export const modelDirSchema = z
  .string({
    error: `required: the checkpoint directory or a shipped model (${SHIPPED_ORGANISMS.join(', ')})`,
  })
  .min(1, 'the model directory is empty')
  .transform((v) => (isShippedOrganism(v) ? path.relative(process.cwd(), shippedModelDir(v)) || '.' : v));

export const MODEL_FLAG: FlagSpec = {
  type: 'string',
  value: 'DIR',
  help: `Hugging Face checkpoint directory (config.json + safetensors), or a shipped organism: ${SHIPPED_ORGANISMS.join(' or ')}`,
};

/** A flag whose value is a whole number ≥ 1; the message names the flag. */
export const positiveInt = (what: string) =>
  z
    .string()
    .regex(/^\d+$/, `${what} must be a positive integer`)
    .transform(Number)
    .refine(isPositiveInt, `${what} must be a positive integer`);

/** `--top-k K`: how many of the most likely tokens a distribution shows. */
export const topKFlag = z
  .string()
  .regex(/^\d+$/, 'must be a whole number between 1 and 100')
  .transform(Number)
  .refine((n) => n >= 1 && n <= 100, 'must be a whole number between 1 and 100')
  .default(5);

/** `--tokens 0,5,7`: token ids used exactly as given. */
export const tokenList = z
  .string()
  .regex(/^\s*\d+(\s*,\s*\d+)*\s*$/, 'expected comma-separated token ids, e.g. 0,5,7')
  .transform((s) => s.split(',').map((t) => Number(t.trim())));

/** The dictionary kinds each shipped organism carries, under `dictionaries/<kind>-<width>/`. */
export const SHIPPED_DICTIONARY_KINDS = ['plt', 'clt'] as const;

const SHIPPED_DICTIONARY = new RegExp(
  `^(${SHIPPED_ORGANISMS.join('|')})/(${SHIPPED_DICTIONARY_KINDS.join('|')})$`,
);

/**
 * `organism-m/plt` → the one `plt-*` folder under organism-m's `dictionaries/`; anything else is returned
 * unchanged (a directory). Relative to the working directory, as --model is.
 */
export function resolveDictionaryDir(value: string): string {
  const m = SHIPPED_DICTIONARY.exec(value);
  if (!m) return value;
  const dir = path.join(shippedModelDir(m[1] as (typeof SHIPPED_ORGANISMS)[number]), 'dictionaries');
  const found = readdirSync(dir).filter((f) => f.startsWith(`${m[2]}-`));
  if (found.length !== 1) {
    throw new Error(`${value}: expected one ${m[2]}-* dictionary in ${dir}, found ${found.length}`);
  }
  return path.relative(process.cwd(), path.join(dir, found[0])) || '.';
}

const SHIPPED_DICTIONARY_NAMES = SHIPPED_ORGANISMS.flatMap((o) =>
  SHIPPED_DICTIONARY_KINDS.map((k) => `${o}/${k}`),
);

export const dictionaryDirSchema = z
  .string({
    error: `required: the dictionary directory or a shipped one (${SHIPPED_DICTIONARY_NAMES.join(', ')})`,
  })
  .min(1, 'the dictionary directory is empty')
  .transform((v, ctx) => {
    try {
      return resolveDictionaryDir(v);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: (e as Error).message });
      return z.NEVER;
    }
  });

export const TRANSCODERS_FLAG: FlagSpec = {
  type: 'string',
  value: 'DIR',
  help: `dictionary directory (circuit-tracer, SAELens or GemmaScope layout), or a shipped one: ${SHIPPED_DICTIONARY_NAMES.join(', ')}`,
};

/**
 * Fails with "… does not exist" when nothing is at `p`, so that a mistyped path reads differently from a
 * directory that exists but holds no model or dictionary (which the loaders report).
 */
export async function requireExisting(flag: string, p: string): Promise<void> {
  try {
    await stat(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`--${flag} ${p}: does not exist`);
    throw e;
  }
}

/**
 * Intra-op threads for onnxruntime. A command line runs alone, so it uses every core as PyTorch does (the
 * library's own default, one thread, suits the worker and tests, which share the machine).
 */
export const threadsSchema = positiveInt('threads')
  .refine((n) => n <= 256, 'threads must be at most 256')
  .default(availableParallelism());

export const THREADS_FLAG: FlagSpec = {
  type: 'string',
  value: 'N',
  help: 'onnxruntime intra-op threads (default: every logical core of this machine)',
};

/**
 * `--model DIR --transcoders DIR --threads N` as a command's schema fields, for commands that run a model with
 * a dictionary.
 */
export const MODEL_AND_DICTIONARY_OPTIONS = {
  model: modelDirSchema,
  transcoders: dictionaryDirSchema,
  threads: threadsSchema,
};

/** The flags of MODEL_AND_DICTIONARY_OPTIONS, with their help. */
export const MODEL_AND_DICTIONARY_FLAGS = {
  model: MODEL_FLAG,
  transcoders: TRANSCODERS_FLAG,
  threads: THREADS_FLAG,
};

/**
 * Opens the checkpoint and dictionary that --model and --transcoders name, after checking that both paths
 * exist so that a mistyped one is reported by its flag.
 */
export async function openModelAndDictionaryFlags(o: {
  model: string;
  transcoders: string;
  threads?: number;
}): Promise<OpenModelAndDictionary> {
  await requireExisting('model', o.model);
  await requireExisting('transcoders', o.transcoders);
  return openModelAndDictionary(
    o.model,
    o.transcoders,
    o.threads ? { runtimeOptions: { intraOpNumThreads: o.threads } } : {},
  );
}
