/**
 * `loupe intervene`: set features to values and/or scale supernodes, in one mode (or all three with --compare),
 * optionally generating. Writes `logits` [T, V] (and `clean_logits`, per-mode `logits_<mode>`, and
 * `generated_logits` [n, V]) as safetensors; prints the top tokens before and after, and any generated text.
 */
import { readFile } from 'node:fs/promises';
import {
  type F32,
  type FeatureIntervention,
  type GroupScale,
  INTERVENTION_MODES,
  Intervener,
  type InterventionMode,
  type InterventionResult,
  loadCheckpoint,
  loadDictionary,
  Model,
  parseFeatureGroup,
  parseSetSpec,
  prepareTokens,
  type TopToken,
  validateAgainstModel,
  writeSafetensors,
} from '@loupe/core';
import { nodeFiles, nodeRuntime } from '@loupe/core/node';
import { z } from 'zod';
import { defineCommand } from '../args.ts';
import {
  dictionaryDirSchema,
  MODEL_FLAG,
  modelDirSchema,
  requireExisting,
  TRANSCODERS_FLAG,
  tokenList,
} from '../model-option.ts';
import { defaultOut, outHelp, writeOutput } from '../output.ts';
import { createProgress } from '../progress.ts';

const setSpecs = z.array(z.string()).transform((xs, ctx) => {
  const out: FeatureIntervention[] = [];
  for (const x of xs) {
    try {
      out.push(parseSetSpec(x));
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: (e as Error).message });
      return z.NEVER;
    }
  }
  return out;
});

const scaleSpecs = z.array(
  z
    .string()
    .regex(/^.+=-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/, 'expected GROUP_FILE=FACTOR, e.g. say-austin.json=-2')
    .transform((s) => {
      const i = s.lastIndexOf('=');
      return { file: s.slice(0, i), factor: Number(s.slice(i + 1)) };
    }),
);

const schema = z
  .object({
    model: modelDirSchema,
    transcoders: dictionaryDirSchema,
    prompt: z.string().min(1, 'the prompt is empty').optional(),
    tokens: tokenList.optional(),
    set: setSpecs.default([]),
    scale: scaleSpecs.default([]),
    mode: z.enum(INTERVENTION_MODES as [InterventionMode, ...InterventionMode[]]).default('constrained'),
    compare: z.boolean().default(false),
    generate: z
      .string()
      .regex(/^\d+$/, 'must be a positive integer')
      .transform(Number)
      .refine((n) => n >= 1, 'must be a positive integer')
      .optional(),
    'top-k': z
      .string()
      .regex(/^\d+$/, 'must be a positive integer')
      .transform(Number)
      .refine((n) => n >= 1 && n <= 100, 'must be between 1 and 100')
      .default(5),
    out: z
      .string()
      .regex(/\.safetensors$/, 'must end in .safetensors')
      .default(defaultOut('intervene.safetensors')),
  })
  .refine((o) => (o.prompt === undefined) !== (o.tokens === undefined), {
    message: 'give exactly one of --prompt TEXT or --tokens IDS',
    path: ['prompt'],
  })
  .refine((o) => o.set.length + o.scale.length > 0, {
    message: 'nothing to do: give at least one --set L:P:F=V or --scale GROUP_FILE=FACTOR',
    path: ['set'],
  });

async function readGroup(file: string, factor: number): Promise<GroupScale> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new Error(`--scale ${file}: ${(e as Error).message}`);
  }
  return { group: parseFeatureGroup(json, `--scale ${file}`), factor };
}

const fmt = (t: TopToken) => `${JSON.stringify(t.token ?? String(t.id))} ${(100 * t.prob).toFixed(1)}%`;

function topLines(r: InterventionResult, label: string): string[] {
  const last = r.report.positions[r.report.positions.length - 1];
  return [
    `${label} before: ${last.clean.map(fmt).join(', ')}`,
    `${label} after:  ${last.intervened.map(fmt).join(', ')}`,
  ];
}

export const command = defineCommand({
  name: 'intervene',
  summary: 'Set features or scale supernodes (constrained, frozen-attention or free) and compare the logits.',
  usage:
    '--model DIR --transcoders DIR (--prompt TEXT | --tokens IDS) --set L:P:F=V [--set ...] [--scale GROUP_FILE=FACTOR] --mode constrained|frozen-attention|free [--compare] [--generate N] [--out FILE.safetensors]',
  flags: {
    model: MODEL_FLAG,
    transcoders: TRANSCODERS_FLAG,
    prompt: {
      type: 'string',
      value: 'TEXT',
      help: 'text, tokenized with BOS prepended as circuit-tracer does',
    },
    tokens: { type: 'string', value: 'IDS', help: 'comma-separated token ids, used exactly as given' },
    set: {
      type: 'string',
      value: 'L:P:F=V',
      repeatable: true,
      help: 'set feature F of layer L at position P (−1: last; a..b slice; a.. also generated tokens) to V',
    },
    scale: {
      type: 'string',
      value: 'FILE=X',
      repeatable: true,
      help: 'scale a supernode (JSON {label, nodeIds} or [label, ...nodeIds]) to X × its activation',
    },
    mode: { type: 'string', value: 'MODE', help: 'constrained (default), frozen-attention or free' },
    compare: { type: 'boolean', help: 'run all three modes side by side (logits_<mode> in the output)' },
    generate: { type: 'string', value: 'N', help: 'also generate N tokens greedily with the interventions' },
    'top-k': { type: 'string', value: 'K', help: 'tokens shown per distribution (default 5)' },
    out: {
      type: 'string',
      value: 'FILE',
      help: outHelp('output .safetensors file', 'intervene.safetensors'),
    },
  },
  schema,
  async run(o, io) {
    await requireExisting('model', o.model);
    await requireExisting('transcoders', o.transcoders);
    const progress = createProgress('intervene', 5, io.err);
    const files = nodeFiles();
    const ckpt = await loadCheckpoint(o.model, files);
    const dict = await loadDictionary(o.transcoders, files);
    const runtime = nodeRuntime();
    try {
      validateAgainstModel(dict, ckpt.config);
      progress.step('model and dictionary loaded');
      const tokens = prepareTokens(
        o.tokens ? { tokens: o.tokens } : { text: o.prompt as string },
        ckpt.config.dVocab,
        ckpt.tokenizer,
      );
      const scales = await Promise.all(o.scale.map((s) => readGroup(s.file, s.factor)));
      const spec = { features: o.set, scales };
      const model = await Model.create(ckpt.config, ckpt.weights, ckpt.tokenizer, runtime);
      const iv = Intervener.create(model, dict);
      progress.step(`${tokens.length} tokens`);
      const modes: InterventionMode[] = o.compare ? [...INTERVENTION_MODES] : [o.mode];
      const cmp = await iv.compareModes(tokens, spec, modes, { topK: o['top-k'] });
      progress.step('interventions done');
      const main = cmp.runs[modes.indexOf(o.mode)];
      const tensors: Record<string, F32> = { logits: main.logits, clean_logits: main.cleanLogits };
      if (o.compare) for (const r of cmp.runs) tensors[`logits_${r.report.mode}`] = r.logits;
      const lines: string[] = [];
      for (const r of cmp.runs) {
        lines.push(...topLines(r, `[${r.report.mode}]`));
        for (const a of r.report.applied) {
          lines.push(
            `  L${a.layer} pos ${a.pos} feature ${a.feature}: ${a.current.toPrecision(4)} → ${a.value.toPrecision(4)}`,
          );
        }
      }
      for (const p of cmp.pairs) {
        const last = p.positions[p.positions.length - 1];
        lines.push(
          `${p.a} vs ${p.b} at the last position: KL ${last.kl.toExponential(2)}, ${last.sameTop ? 'same' : 'different'} top token`,
        );
      }
      const report: Record<string, unknown> = { runs: cmp.runs.map((r) => r.report), pairs: cmp.pairs };
      if (o.generate !== undefined) {
        const gen = await iv.generate(tokens, spec, {
          mode: o.mode,
          maxNewTokens: o.generate,
          topK: o['top-k'],
        });
        tensors.generated_logits = gen.logits;
        const text = (g: { tokens: number[]; text?: string }) => JSON.stringify(g.text ?? g.tokens.join(' '));
        lines.push(
          `generated (clean):  ${text(gen.report.clean)}`,
          `generated (${o.mode}): ${text(gen.report.intervened)}`,
        );
        report.generation = gen.report;
      }
      progress.step(o.generate === undefined ? 'report ready' : 'generation done');
      const meta = {
        tokens: JSON.stringify([...tokens]),
        model: o.model,
        transcoders: o.transcoders,
        mode: o.mode,
        report: JSON.stringify(report),
      };
      await writeOutput(o.out, writeSafetensors(tensors, meta));
      progress.finish(`wrote ${o.out}`);
      for (const l of lines) io.out(l);
      io.out(`${o.out}: logits [${main.logits.shape.join(', ')}]`);
    } finally {
      await dict.close();
      await runtime.release();
    }
  },
});
