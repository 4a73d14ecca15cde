/**
 * `loupe index-features`: every feature of a dictionary over held-out text — top activating contexts,
 * density, histogram, bias-corrected logit effects and an automatic label — written as circuit-tracer's
 * feature index (index.json.gz, layer_{l}.bin) with labels.json, where `attribute` finds it for clerps.
 */
import { buildFeatureIndex, writeFeatureIndexDir } from '@loupe/core';
import { indexCorpus } from '@loupe/organism';
import { z } from 'zod';
import { defineCommand } from '../args.ts';
import { defaultIndexDir } from '../feature-labels.ts';
import {
  MODEL_AND_DICTIONARY_FLAGS,
  MODEL_AND_DICTIONARY_OPTIONS,
  openModelAndDictionaryFlags,
  positiveInt,
  requireExisting,
} from '../model-option.ts';
import { createProgress } from '../progress.ts';

const schema = z.object({
  ...MODEL_AND_DICTIONARY_OPTIONS,
  out: z.string().min(1, 'the output directory is empty').optional(),
  batches: positiveInt('--batches').default(16),
  'batch-seqs': positiveInt('--batch-seqs').default(16),
  text: z.string().min(1, 'the corpus path is empty').optional(),
  seed: z.string().regex(/^\d+$/, 'must be a whole number').transform(Number).default(0),
});

export const command = defineCommand({
  name: 'index-features',
  summary: 'Build a dictionary’s feature index (top contexts, logit effects, labels) for attribute’s clerps.',
  usage: '--model DIR --transcoders DIR [--out DIR] [--batches N] [--batch-seqs N] [--text FILE] [--seed N]',
  flags: {
    ...MODEL_AND_DICTIONARY_FLAGS,
    out: {
      type: 'string',
      value: 'DIR',
      help: 'index directory (default DICTIONARY/features; shipped dictionaries: loupe-out/features/ORGANISM-DICTIONARY), where attribute looks for labels',
    },
    batches: { type: 'string', value: 'N', help: 'held-out batches to index (default 16)' },
    'batch-seqs': { type: 'string', value: 'N', help: 'sequences per batch (default 16)' },
    text: {
      type: 'string',
      value: 'FILE',
      help: 'corpus: one document per line (default: held-out organism curriculum)',
    },
    seed: { type: 'string', value: 'N', help: 'seed of the curriculum stream (default 0)' },
  },
  schema,
  async run(o, io) {
    if (o.text) await requireExisting('text', o.text);
    const out = o.out ?? defaultIndexDir(o.transcoders);
    const opened = await openModelAndDictionaryFlags(o);
    const { checkpoint: ckpt, dictionary: dict, model, files, runtime, close } = opened;
    try {
      const source = await indexCorpus(o.model, files, ckpt, {
        text: o.text,
        seed: o.seed,
        batchSeqs: o['batch-seqs'],
        T: Math.min(ckpt.config.nCtx, 64),
      });
      const progress = createProgress('index-features', o.batches, io.err);
      const index = await buildFeatureIndex(runtime, model, dict, source.batches, {
        tokenString: source.tokenString,
        excludeTokens: source.exclude,
        maxBatches: o.batches,
        onProgress: (done) => progress.update(done, `batch ${done}/${o.batches}`),
      });
      await writeFeatureIndexDir(files, out, index);
      progress.finish(`wrote ${out}`);
      let features = 0;
      let dead = 0;
      for (const recs of index.features.values()) {
        features += recs.length;
        dead += recs.filter((r) => r.activation_frequency === 0).length;
      }
      io.out(
        `${out}: ${features} features of ${index.features.size} layers over ${index.contexts} contexts (${index.tokens} tokens); ${dead} never fired`,
      );
    } finally {
      await close();
    }
  },
});
