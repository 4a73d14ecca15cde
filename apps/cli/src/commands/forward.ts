/**
 * `loupe forward`: one forward pass, written as safetensors (`logits` [T, V] float32 and, with --cache,
 * every hook under its TransformerLens name), readable from Python with safetensors.numpy.load_file.
 */
import {
  type F32,
  type HookName,
  loadCheckpoint,
  modelHooks,
  prepareTokens,
  writeSafetensors,
} from '@loupe/core';
import { nodeFiles, nodeRuntime } from '@loupe/core/node';
import { z } from 'zod';
import { defineCommand } from '../args.ts';
import { MODEL_FLAG, modelDirSchema, requireExisting, tokenList, topKFlag } from '../model-option.ts';
import { defaultOut, outHelp, writeOutput } from '../output.ts';
import { createProgress } from '../progress.ts';
import { formatTopTokens, nextTokens } from '../report.ts';
import { compiledRunner, type ForwardRunner, referenceRunner } from '../runner.ts';

const schema = z
  .object({
    model: modelDirSchema,
    prompt: z.string().min(1, 'the prompt is empty').optional(),
    tokens: tokenList.optional(),
    out: z
      .string()
      .regex(/\.safetensors$/, 'must end in .safetensors')
      .default(defaultOut('forward.safetensors')),
    'top-k': topKFlag,
    cache: z.boolean().default(false),
    reference: z.boolean().default(false),
  })
  .refine((o) => (o.prompt === undefined) !== (o.tokens === undefined), {
    message: 'give exactly one of --prompt TEXT or --tokens IDS',
    path: ['prompt'],
  });

export const command = defineCommand({
  name: 'forward',
  summary: 'Run the model on a prompt and save the logits (and, with --cache, every hook activation).',
  usage: '--model DIR (--prompt TEXT | --tokens 0,5,7) [--out FILE.safetensors] [--cache] [--top-k K]',
  flags: {
    model: MODEL_FLAG,
    prompt: {
      type: 'string',
      value: 'TEXT',
      help: 'text, tokenized with BOS prepended as circuit-tracer does',
    },
    tokens: { type: 'string', value: 'IDS', help: 'comma-separated token ids, used exactly as given' },
    out: { type: 'string', value: 'FILE', help: outHelp('output .safetensors file', 'forward.safetensors') },
    'top-k': { type: 'string', value: 'K', help: 'most likely next tokens printed (default 5)' },
    cache: { type: 'boolean', help: 'also save every hook (patterns [H,T,T], scales [T,1], the rest [T,d])' },
    reference: {
      type: 'boolean',
      help: 'use the plain-TypeScript reference forward instead of the compiled model',
    },
  },
  schema,
  async run(o, io) {
    await requireExisting('model', o.model);
    const progress = createProgress('forward', 5, io.err);
    const ckpt = await loadCheckpoint(o.model, nodeFiles());
    progress.step('checkpoint loaded');
    const tokens = prepareTokens(
      o.tokens ? { tokens: o.tokens } : { text: o.prompt as string },
      ckpt.config.dVocab,
      ckpt.tokenizer,
    );
    progress.step(`${tokens.length} tokens`);
    const runner: ForwardRunner = o.reference
      ? referenceRunner(ckpt.config, ckpt.weights)
      : await compiledRunner(ckpt, nodeRuntime());
    try {
      progress.step(o.reference ? 'reference model ready' : 'model compiled');
      const hooks: HookName[] = o.cache ? modelHooks(ckpt.config) : [];
      const { logits, cache } = await runner.run(tokens, hooks);
      progress.step('forward done');
      const tensors: Record<string, F32> = { logits };
      for (const h of hooks) tensors[h] = cache.get(h) as F32;
      const meta = {
        tokens: JSON.stringify([...tokens]),
        model: o.model,
        engine: o.reference ? 'reference' : 'onnxruntime',
      };
      await writeOutput(o.out, writeSafetensors(tensors, meta));
      progress.finish(`wrote ${o.out}`);
      io.out(`next token: ${formatTopTokens(nextTokens(logits, o['top-k'], ckpt.tokenizer))}`);
      io.out(`${o.out}: logits [${logits.shape.join(', ')}]${o.cache ? ` + ${hooks.length} hooks` : ''}`);
    } finally {
      await runner.close();
    }
  },
});
