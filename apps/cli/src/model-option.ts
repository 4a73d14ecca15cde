/**
 * `--model`, shared by every command: a checkpoint directory, or the name of a shipped organism so that the
 * embedded model works from anywhere with no download (a local folder of that name is `./organism-s`).
 * A directory stays as given and a name becomes a path relative to the working directory, so what commands
 * record about the model (metadata, metrics.json) names no machine-specific absolute path.
 */
import path from 'node:path';
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

/** `--tokens 0,5,7`: token ids used exactly as given. */
export const tokenList = z
  .string()
  .regex(/^\s*\d+(\s*,\s*\d+)*\s*$/, 'expected comma-separated token ids, e.g. 0,5,7')
  .transform((s) => s.split(',').map((t) => Number(t.trim())));
