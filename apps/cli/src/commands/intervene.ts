/**
 * `loupe intervene`: set, patch or steer features and/or scale supernodes, in one mode (or all three with
 * --compare), optionally generating. Writes `logits` [T, V] (and `clean_logits`, per-mode `logits_<mode>`,
 * `generated_logits` [n, V], each --steer-diff direction as `steer_diff_L<layer>` [d_model]) as safetensors;
 * prints the top tokens before and after, and any generated text.
 */
import { readFile } from 'node:fs/promises';
import {
  bytesSource,
  decoderDirection,
  differenceOfMeans,
  type F32,
  type FeatureGroup,
  type FeatureIntervention,
  type GroupMember,
  type GroupScale,
  INTERVENTION_MODES,
  Intervener,
  type InterventionMode,
  type InterventionResult,
  parseFeatureGroup,
  parsePatchPositions,
  parseSetSpec,
  parseSteerDiffSpec,
  parseSteerSpec,
  parseSteerVectorSpec,
  patchInterventions,
  prepareTokens,
  residualSteering,
  residualSteeringHook,
  SafetensorsFile,
  type SteeringVector,
  type TopToken,
  f32,
  type VectorSteerSpec,
  writeSafetensors,
} from '@loupe/core';
import { z } from 'zod';
import { defineCommand, UsageError } from '../args.ts';
import {
  MODEL_AND_DICTIONARY_FLAGS,
  MODEL_AND_DICTIONARY_OPTIONS,
  openModelAndDictionaryFlags,
  positiveInt,
  tokenList,
  topKFlag,
} from '../model-option.ts';
import { defaultOut, outHelp, writeOutput } from '../output.ts';
import { createProgress } from '../progress.ts';
import { positionFromEnd, promptSet } from '../prompt-sets.ts';

/** Parses each value with a core parser, turning its error into a usage error. */
const parsedEach = <T>(parse: (s: string) => T) =>
  z.array(z.string()).transform((xs, ctx) => {
    const out: T[] = [];
    for (const x of xs) {
      try {
        out.push(parse(x));
      } catch (e) {
        ctx.addIssue({ code: 'custom', message: (e as Error).message });
        return z.NEVER;
      }
    }
    return out;
  });

const layerList = z
  .string()
  .regex(/^\s*\d+(\s*,\s*\d+)*\s*$/, 'expected comma-separated layers, e.g. 0,2')
  .transform((s) => s.split(',').map((t) => Number(t.trim())));

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
    ...MODEL_AND_DICTIONARY_OPTIONS,
    prompt: z.string().min(1, 'the prompt is empty').optional(),
    tokens: tokenList.optional(),
    set: parsedEach(parseSetSpec).default([]),
    steer: parsedEach(parseSteerSpec).default([]),
    'steer-diff': parsedEach(parseSteerDiffSpec).default([]),
    'steer-a': promptSet('steer-a').default([]),
    'steer-b': promptSet('steer-b').default([]),
    'steer-pos': positionFromEnd,
    'steer-vector': parsedEach(parseSteerVectorSpec).default([]),
    'patch-from': z.string().min(1, 'the prompt to patch from is empty').optional(),
    'patch-positions': parsedEach(parsePatchPositions).default([]),
    'patch-layers': layerList.optional(),
    'patch-feature': parsedEach(parseNodeSpec).default([]),
    'patch-group': z.string().min(1, 'the group file path is empty').optional(),
    scale: scaleSpecs.default([]),
    mode: z.enum(INTERVENTION_MODES as [InterventionMode, ...InterventionMode[]]).default('constrained'),
    compare: z.boolean().default(false),
    generate: positiveInt('--generate').optional(),
    'top-k': topKFlag,
    out: z
      .string()
      .regex(/\.safetensors$/, 'must end in .safetensors')
      .default(defaultOut('intervene.safetensors')),
  })
  .refine((o) => (o.prompt === undefined) !== (o.tokens === undefined), {
    message: 'give exactly one of --prompt TEXT or --tokens IDS',
    path: ['prompt'],
  })
  .refine(
    (o) =>
      o['patch-from'] !== undefined ||
      (o['patch-positions'].length === 0 &&
        o['patch-layers'] === undefined &&
        o['patch-feature'].length === 0 &&
        o['patch-group'] === undefined),
    {
      message: '--patch-positions, --patch-layers, --patch-feature and --patch-group need --patch-from TEXT',
      path: ['patch-from'],
    },
  )
  .refine(
    (o) =>
      o['patch-layers'] === undefined || (o['patch-feature'].length === 0 && o['patch-group'] === undefined),
    {
      message:
        '--patch-layers selects whole layers; --patch-feature and --patch-group select features (give one)',
      path: ['patch-layers'],
    },
  )
  .refine((o) => o['patch-group'] === undefined || o['patch-feature'].length === 0, {
    message: 'give --patch-feature L:P:F or --patch-group FILE, not both',
    path: ['patch-group'],
  })
  .refine((o) => o['steer-diff'].length === 0 || (o['steer-a'].length > 0 && o['steer-b'].length > 0), {
    message: '--steer-diff needs both prompt sets: at least one --steer-a TEXT and one --steer-b TEXT',
    path: ['steer-diff'],
  })
  .refine((o) => o['steer-diff'].length > 0 || o['steer-a'].length + o['steer-b'].length === 0, {
    message: '--steer-a and --steer-b are the prompt sets of --steer-diff L*S',
    path: ['steer-a'],
  })
  .refine(
    (o) =>
      o.set.length + o.scale.length + o.steer.length + o['steer-diff'].length + o['steer-vector'].length >
        0 || o['patch-from'] !== undefined,
    {
      message:
        'nothing to do: give at least one --set L:P:F=V, --scale GROUP_FILE=FACTOR, --steer L:F*S, --steer-diff L*S, --steer-vector L:FILE*S or --patch-from TEXT',
      path: ['set'],
    },
  );

/** `--patch-feature L:P:F`: a feature of the patched-from prompt, P its position there. */
function parseNodeSpec(s: string): GroupMember {
  const m = /^\s*(\d+)\s*:\s*(\d+)\s*:\s*(\d+)\s*$/.exec(s);
  if (!m) throw new Error(`--patch-feature '${s}': expected LAYER:POS:FEATURE, e.g. 3:4:1457`);
  return { layer: Number(m[1]), pos: Number(m[2]), feature: Number(m[3]) };
}

async function readGroupFile(flag: string, file: string): Promise<FeatureGroup> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new Error(`--${flag} ${file}: ${(e as Error).message}`);
  }
  return parseFeatureGroup(json, `--${flag} ${file}`);
}

async function readGroup(file: string, factor: number): Promise<GroupScale> {
  return { group: await readGroupFile('scale', file), factor };
}

/** A saved direction: the named tensor of the file, or its only one; [dModel] values. */
async function readDirection(spec: VectorSteerSpec, dModel: number): Promise<Float32Array> {
  const what = `--steer-vector ${spec.file}`;
  let file: SafetensorsFile;
  try {
    file = await SafetensorsFile.open(bytesSource(await readFile(spec.file)));
  } catch (e) {
    throw new Error(`${what}: ${(e as Error).message}`);
  }
  const names = file.names();
  const name = spec.tensor ?? (names.length === 1 ? names[0] : undefined);
  if (name === undefined || !file.has(name)) {
    throw new Error(
      `${what}: ${spec.tensor ? `no tensor '${spec.tensor}'` : `${names.length} tensors`} (it has ${names.join(', ') || 'none'}); name one as FILE#TENSOR`,
    );
  }
  const t = await file.readF32(name);
  if (t.data.length !== dModel)
    throw new Error(`${what}#${name}: [${t.shape.join(', ')}] is not a [${dModel}] direction`);
  return t.data;
}

const norm = (v: Float32Array) => Math.hypot(...v).toPrecision(4);

/** Most applied interventions printed per run; the report in the output file holds them all. */
const MAX_APPLIED_LINES = 20;

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
  summary:
    'Set, patch or steer features, or scale supernodes (constrained, frozen-attention or free), and compare the logits.',
  usage:
    '--model DIR --transcoders DIR (--prompt TEXT | --tokens IDS) [--set L:P:F=V ...] [--scale GROUP_FILE=FACTOR] [--steer L:F*S[@P] ...] [--steer-diff L*S[@P] ... --steer-a TEXT ... --steer-b TEXT ... [--steer-pos -N]] [--steer-vector L:FILE[#TENSOR]*S[@P] ...] [--patch-from TEXT [--patch-positions FROM:TO ...] [--patch-layers L,L | --patch-feature L:P:F ... | --patch-group FILE]] --mode constrained|frozen-attention|free [--compare] [--generate N] [--out FILE.safetensors]',
  flags: {
    ...MODEL_AND_DICTIONARY_FLAGS,
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
    steer: {
      type: 'string',
      value: 'L:F*S[@P]',
      repeatable: true,
      help: 'add S × the decoder direction of layer L feature F at position P (as in --set; default every position, generated tokens too)',
    },
    'steer-diff': {
      type: 'string',
      value: 'L*S[@P]',
      repeatable: true,
      help: 'add S × (mean of blocks.L.hook_resid_post over --steer-a − mean over --steer-b) at position P (as in --steer); S < 0 steers toward B',
    },
    'steer-a': { type: 'string', value: 'TEXT', repeatable: true, help: 'a prompt of --steer-diff set A' },
    'steer-b': { type: 'string', value: 'TEXT', repeatable: true, help: 'a prompt of --steer-diff set B' },
    'steer-pos': {
      type: 'string',
      value: '-N',
      help: 'where the --steer-diff means are taken: position counted from each prompt’s end (default -1, the last token)',
    },
    'steer-vector': {
      type: 'string',
      value: 'L:FILE*S[@P]',
      repeatable: true,
      help: 'add S × a saved [d_model] direction at blocks.L.hook_resid_post (FILE#T: tensor T, default the file’s only one; e.g. out.safetensors#steer_diff_L2)',
    },
    'patch-from': {
      type: 'string',
      value: 'TEXT',
      help: "patch this prompt's active features into the prompt (default: every dictionary layer at the last position; A-only features there set to 0)",
    },
    'patch-positions': {
      type: 'string',
      value: 'FROM:TO',
      repeatable: true,
      help: 'patch from position FROM of --patch-from to position TO of the prompt (default -1:-1)',
    },
    'patch-layers': { type: 'string', value: 'L,L', help: 'patch only these layers (default every layer)' },
    'patch-feature': {
      type: 'string',
      value: 'L:P:F',
      repeatable: true,
      help: 'patch only this feature of --patch-from (P its position there, mapped by --patch-positions or kept)',
    },
    'patch-group': {
      type: 'string',
      value: 'FILE',
      help: "patch only a supernode of --patch-from's graph (JSON {label, nodeIds} or [label, ...nodeIds])",
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
    const progress = createProgress('intervene', 5, io.err);
    const opened = await openModelAndDictionaryFlags(o);
    const { checkpoint: ckpt, dictionary: dict, model, close } = opened;
    try {
      progress.step('model and dictionary loaded');
      const tokens = prepareTokens(
        o.tokens ? { tokens: o.tokens } : { text: o.prompt as string },
        ckpt.config.dVocab,
        ckpt.tokenizer,
      );
      const scales = await Promise.all(o.scale.map((s) => readGroup(s.file, s.factor)));
      const iv = Intervener.create(model, dict);
      progress.step(`${tokens.length} tokens`);
      const lines: string[] = [];
      const features: FeatureIntervention[] = [];
      if (o['patch-from'] !== undefined) {
        const source = prepareTokens({ text: o['patch-from'] }, ckpt.config.dVocab, ckpt.tokenizer);
        const group: FeatureGroup | undefined = o['patch-group']
          ? await readGroupFile('patch-group', o['patch-group'])
          : o['patch-feature'].length > 0
            ? { label: '--patch-feature', members: o['patch-feature'] }
            : undefined;
        const positions =
          o['patch-positions'].length > 0
            ? o['patch-positions']
            : group
              ? [...new Set(group.members.map((m) => m.pos))].map((from) => ({ from, to: from }))
              : [{ from: -1, to: -1 }];
        const patched = await patchInterventions(iv, source, tokens, {
          positions,
          ...(o['patch-layers'] ? { layers: o['patch-layers'] } : {}),
          ...(group ? { group } : {}),
        });
        features.push(...patched);
        const where = positions.map((p) => `${p.from}→${p.to}`).join(', ');
        lines.push(
          `patched from ${JSON.stringify(o['patch-from'])} at positions ${where}: ${patched.length} feature values (${patched.filter((f) => f.value === 0).length} set to 0)`,
        );
      }
      features.push(...o.set);
      const steer: SteeringVector[] = [];
      for (const s of o.steer) {
        const v = await decoderDirection(dict, s.layer, s.feature, { scale: s.scale });
        steer.push(s.pos === undefined ? v : { ...v, pos: s.pos });
        lines.push(`steering along L${s.layer} feature ${s.feature}'s decoder × ${s.scale} at ${v.hook}`);
      }
      const nLayers = ckpt.config.nLayers;
      const checkLayer = (flag: string, layer: number) => {
        if (layer >= nLayers)
          throw new UsageError(
            `--${flag}: layer ${layer} is out of range (the model has layers 0..${nLayers - 1})`,
          );
      };
      const directions = new Map<number, Float32Array>(); // layer → mean(A) − mean(B), [dModel]
      const sets = (texts: readonly string[]) =>
        texts.map((text) => prepareTokens({ text }, ckpt.config.dVocab, ckpt.tokenizer));
      for (const s of o['steer-diff']) {
        checkLayer('steer-diff', s.layer);
        let v = directions.get(s.layer);
        if (!v) {
          const hook = residualSteeringHook(s.layer);
          v = await differenceOfMeans(model, hook, sets(o['steer-a']), sets(o['steer-b']), o['steer-pos']);
          directions.set(s.layer, v);
        }
        steer.push(residualSteering(v, s));
        lines.push(
          `steering along mean(A) − mean(B) of ${residualSteeringHook(s.layer)} at position ${o['steer-pos']} (${o['steer-a'].length} vs ${o['steer-b'].length} prompts, norm ${norm(v)}) × ${s.scale}`,
        );
      }
      for (const s of o['steer-vector']) {
        checkLayer('steer-vector', s.layer);
        const v = await readDirection(s, ckpt.config.dModel);
        steer.push(residualSteering(v, s));
        lines.push(
          `steering along ${s.file}${s.tensor ? `#${s.tensor}` : ''} (norm ${norm(v)}) × ${s.scale} at ${residualSteeringHook(s.layer)}`,
        );
      }
      const spec = { features, scales, steer };
      const modes: InterventionMode[] = o.compare ? [...INTERVENTION_MODES] : [o.mode];
      const cmp = await iv.compareModes(tokens, spec, modes, { topK: o['top-k'] });
      progress.step('interventions done');
      const main = cmp.runs[modes.indexOf(o.mode)];
      const tensors: Record<string, F32> = { logits: main.logits, clean_logits: main.cleanLogits };
      if (o.compare) for (const r of cmp.runs) tensors[`logits_${r.report.mode}`] = r.logits;
      for (const [layer, v] of directions) tensors[`steer_diff_L${layer}`] = f32([v.length], v);
      for (const r of cmp.runs) {
        lines.push(...topLines(r, `[${r.report.mode}]`));
        for (const a of r.report.applied.slice(0, MAX_APPLIED_LINES)) {
          lines.push(
            `  L${a.layer} pos ${a.pos} feature ${a.feature}: ${a.current.toPrecision(4)} → ${a.value.toPrecision(4)}`,
          );
        }
        const more = r.report.applied.length - MAX_APPLIED_LINES;
        if (more > 0) lines.push(`  … and ${more} more (all in the report of ${o.out})`);
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
      await close();
    }
  },
});
