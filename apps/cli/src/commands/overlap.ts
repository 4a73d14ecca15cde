/**
 * `loupe overlap`: how much the active features of prompts sharing a concept overlap per layer (mean pairwise
 * Jaccard index at a position), beside their overlap with prompts about a different concept.
 */
import { featureOverlap } from '@loupe/core';
import { z } from 'zod';
import { defineCommand } from '../args.ts';
import { MODEL_AND_DICTIONARY_FLAGS, MODEL_AND_DICTIONARY_OPTIONS } from '../model-option.ts';
import { defaultOut, outHelp, writeOutput } from '../output.ts';
import { POS_FLAG, positionFromEnd, promptSet, withActivations } from '../prompt-sets.ts';

const schema = z
  .object({
    ...MODEL_AND_DICTIONARY_OPTIONS,
    prompt: promptSet('prompt'),
    baseline: promptSet('baseline'),
    pos: positionFromEnd,
    out: z
      .string()
      .regex(/\.json$/, 'must end in .json')
      .default(defaultOut('overlap.json')),
  })
  .refine((o) => o.prompt.length >= 2, { message: 'give at least two prompts to compare', path: ['prompt'] });

export const command = defineCommand({
  name: 'overlap',
  summary: 'Overlap of active features across prompts per layer, against a different-concept baseline.',
  usage:
    '--model DIR --transcoders DIR --prompt TEXT --prompt TEXT [...] --baseline TEXT [...] [--pos -N] [--out FILE.json]',
  flags: {
    ...MODEL_AND_DICTIONARY_FLAGS,
    prompt: {
      type: 'string',
      value: 'TEXT',
      repeatable: true,
      help: 'a prompt of the set (the same concept)',
    },
    baseline: {
      type: 'string',
      value: 'TEXT',
      repeatable: true,
      help: 'a prompt about a different concept, of the same form',
    },
    pos: POS_FLAG,
    out: { type: 'string', value: 'FILE.json', help: outHelp('output JSON', 'overlap.json') },
  },
  schema,
  async run(o, io) {
    const layers = await withActivations(o, async (activations) =>
      featureOverlap(await activations(o.prompt, o.pos), await activations(o.baseline, o.pos)),
    );
    const json = {
      model: o.model,
      transcoders: o.transcoders,
      pos: o.pos,
      prompts: o.prompt,
      baseline: o.baseline,
      layers,
    };
    await writeOutput(o.out, JSON.stringify(json, null, 2));
    io.out(`active-feature overlap (mean Jaccard) at position ${o.pos}: set vs different-concept baseline`);
    for (const l of layers) io.out(`  layer ${l.layer}: ${l.overlap.toFixed(3)} vs ${l.baseline.toFixed(3)}`);
    io.out(`${o.out}: ${layers.length} layers`);
  },
});
