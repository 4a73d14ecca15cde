/**
 * `loupe contrast`: the dictionary features that separate one prompt set from another at a position, ranked
 * by effect size (AUC, then Cohen's d), as JSON and as `LAYER:FEATURE` lines.
 */
import { contrastFeatures } from '@loupe/core';
import { z } from 'zod';
import { defineCommand } from '../args.ts';
import { MODEL_AND_DICTIONARY_FLAGS, MODEL_AND_DICTIONARY_OPTIONS, positiveInt } from '../model-option.ts';
import { defaultOut, outHelp, writeOutput } from '../output.ts';
import { POS_FLAG, positionFromEnd, promptSet, withActivations } from '../prompt-sets.ts';

const schema = z
  .object({
    ...MODEL_AND_DICTIONARY_OPTIONS,
    a: promptSet('a'),
    b: promptSet('b'),
    pos: positionFromEnd,
    top: positiveInt('--top').default(20),
    out: z
      .string()
      .regex(/\.json$/, 'must end in .json')
      .default(defaultOut('contrast.json')),
  })
  .refine((o) => o.a.length + o.b.length >= 3, {
    message: 'give three prompts together (two in one set) so that a spread exists',
    path: ['a'],
  });

export const command = defineCommand({
  name: 'contrast',
  summary:
    'Features that separate prompt set A from set B at a position, with effect sizes (AUC, Cohen’s d).',
  usage:
    '--model DIR --transcoders DIR --a TEXT [--a ...] --b TEXT [--b ...] [--pos -N] [--top N] [--out FILE.json]',
  flags: {
    ...MODEL_AND_DICTIONARY_FLAGS,
    a: { type: 'string', value: 'TEXT', repeatable: true, help: 'a prompt of set A' },
    b: { type: 'string', value: 'TEXT', repeatable: true, help: 'a prompt of set B' },
    pos: POS_FLAG,
    top: { type: 'string', value: 'N', help: 'features listed (default 20)' },
    out: { type: 'string', value: 'FILE.json', help: outHelp('output JSON', 'contrast.json') },
  },
  schema,
  async run(o, io) {
    const features = await withActivations(o, async (activations) =>
      contrastFeatures(await activations(o.a, o.pos), await activations(o.b, o.pos), { top: o.top }),
    );
    const json = { model: o.model, transcoders: o.transcoders, pos: o.pos, a: o.a, b: o.b, features };
    await writeOutput(
      o.out,
      JSON.stringify(json, (_, v) => (v === Infinity ? 'Infinity' : v === -Infinity ? '-Infinity' : v), 2),
    );
    io.out(
      `features separating A (${o.a.length} prompts) from B (${o.b.length}) at position ${o.pos} (LAYER:FEATURE):`,
    );
    for (const f of features) {
      io.out(
        `  ${`${f.layer}:${f.feature}`.padEnd(10)} AUC ${f.auc.toFixed(2)}  d ${Number.isFinite(f.d) ? f.d.toFixed(2) : f.d > 0 ? '+inf' : '-inf'}  mean ${f.meanA.toPrecision(3)} vs ${f.meanB.toPrecision(3)}  active ${(100 * f.activeA).toFixed(0)}% vs ${(100 * f.activeB).toFixed(0)}%`,
      );
    }
    io.out(`${o.out}: ${features.length} features`);
  },
});
