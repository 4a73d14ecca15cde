/**
 * `loupe search`: find dictionary features by a token (features that fire on it and/or promote it), by a
 * context substring (features whose example contexts contain it, by their activation there), both from the
 * feature index that index-features builds, or by activation on a prompt set (run through the model and the
 * dictionary). JSON out, and a table on stdout.
 */
import { readFile } from 'node:fs/promises';
import {
  type ContextHit,
  type FileAccess,
  FeatureIndexReader,
  labelFeature,
  loadCheckpoint,
  readFeatureLabels,
  resolveToken,
  type PromptFeatureHit,
  searchActivations,
  searchIndexByContext,
  searchIndexByToken,
  type TokenHit,
} from '@loupe/core';
import { nodeFiles } from '@loupe/core/node';
import { z } from 'zod';
import { defineCommand, UsageError } from '../args.ts';
import { defaultIndexDir, findFeatureLabels } from '../feature-labels.ts';
import {
  dictionaryDirSchema,
  MODEL_FLAG,
  modelDirSchema,
  positiveInt,
  requireExisting,
  TRANSCODERS_FLAG,
} from '../model-option.ts';
import { defaultOut, outHelp, writeOutput } from '../output.ts';
import { createProgress, type ProgressStream } from '../progress.ts';
import { withActivations } from '../prompt-sets.ts';

const BUILD_HINT = 'build it with pnpm loupe index-features --model DIR --transcoders DIR';

const schema = z
  .object({
    model: modelDirSchema.optional(),
    transcoders: dictionaryDirSchema.optional(),
    index: z.string().min(1, 'the index directory is empty').optional(),
    token: z.string().min(1, 'the token is empty').optional(),
    by: z.enum(['promotes', 'fires', 'both'], { error: 'must be promotes, fires or both' }).optional(),
    context: z.string().min(1, 'the context substring is empty').optional(),
    prompt: z.array(z.string().min(1, 'a --prompt is empty')).optional(),
    prompts: z.string().min(1, 'the prompt file path is empty').optional(),
    pos: z
      .string()
      .regex(/^(-[1-9]\d*|any)$/, 'a position counted from the end (-1 is the last token), or any')
      .transform((s) => (s === 'any' ? ('any' as const) : Number(s)))
      .optional(),
    'min-frac': z
      .string()
      .regex(/^(0|1|0?\.\d+|1\.0+)$/, 'must be a fraction between 0 and 1')
      .transform(Number)
      .refine((x) => x <= 1, 'must be a fraction between 0 and 1')
      .optional(),
    layer: z.string().regex(/^\d+$/, 'must be a model layer number').transform(Number).optional(),
    top: positiveInt('--top').default(20),
    out: z
      .string()
      .regex(/\.json$/, 'must end in .json')
      .default(defaultOut('search.json')),
  })
  .superRefine((o, ctx) => {
    const fail = (path: string[], message: string) => ctx.addIssue({ code: 'custom', path, message });
    const onPrompts = o.prompt !== undefined || o.prompts !== undefined;
    const modes = [o.token !== undefined, o.context !== undefined, onPrompts].filter(Boolean).length;
    if (modes === 0)
      return fail([], 'give a search: --token TEXT|#ID, --context TEXT, or --prompt TEXT / --prompts FILE');
    if (modes > 1)
      return fail([], 'one search at a time: --token, --context and --prompt/--prompts exclude each other');
    if (o.token === undefined && o.by !== undefined) fail(['by'], 'only with --token');
    if (!onPrompts && o.pos !== undefined) fail(['pos'], 'only with --prompt or --prompts');
    if (!onPrompts && o['min-frac'] !== undefined) fail(['min-frac'], 'only with --prompt or --prompts');
    if (o.token !== undefined && !o.model)
      fail(['model'], 'required with --token (its tokenizer reads the token)');
    if (onPrompts && !o.model)
      fail(['model'], 'required with --prompt/--prompts (the prompts run through it)');
    if (onPrompts && !o.transcoders) fail(['transcoders'], 'required with --prompt/--prompts');
    if (!onPrompts && !o.index && !o.transcoders)
      fail(['index'], 'give --index DIR, or --transcoders DIR to use the index built for that dictionary');
  });

type Options = z.infer<typeof schema>;

export const command = defineCommand({
  name: 'search',
  summary: 'Find features by a token they fire on or promote, by a context, or by activation on prompts.',
  usage:
    '(--token TEXT|#ID [--by promotes|fires|both] | --context TEXT | --prompt TEXT [...] | --prompts FILE [--pos -N|any] [--min-frac F]) [--model DIR] [--transcoders DIR] [--index DIR] [--layer L] [--top N] [--out FILE.json]',
  flags: {
    model: { ...MODEL_FLAG, help: `${MODEL_FLAG.help} (for --token and the prompt search)` },
    transcoders: TRANSCODERS_FLAG,
    index: {
      type: 'string',
      value: 'DIR',
      help: 'feature index to search (default: the one index-features builds for --transcoders)',
    },
    token: {
      type: 'string',
      value: 'TEXT|#ID',
      help: 'features that fire on this token and/or promote it (a vocabulary token, one-token text, or #ID)',
    },
    by: {
      type: 'string',
      value: 'promotes|fires|both',
      help: 'with --token: features that promote it (top logits), whose example peaks fall on it, or both (default both)',
    },
    context: {
      type: 'string',
      value: 'TEXT',
      help: 'features whose index example contexts contain TEXT, by their activation on the match',
    },
    prompt: {
      type: 'string',
      value: 'TEXT',
      repeatable: true,
      help: 'a prompt of the set: features active on the prompts',
    },
    prompts: { type: 'string', value: 'FILE', help: 'a file of prompts, one per line (blank lines skipped)' },
    pos: {
      type: 'string',
      value: '-N|any',
      help: 'position counted from each prompt’s end (default -1, the last token), or any position (its peak)',
    },
    'min-frac': {
      type: 'string',
      value: 'F',
      help: 'list features active on at least this fraction of the prompts (default 0: on one prompt)',
    },
    layer: { type: 'string', value: 'L', help: 'search this model layer only (default every layer)' },
    top: { type: 'string', value: 'N', help: 'features listed (default 20)' },
    out: { type: 'string', value: 'FILE.json', help: outHelp('output JSON', 'search.json') },
  },
  schema,
  async run(o: Options, io) {
    const files = nodeFiles();
    let result: SearchResult;
    if (o.prompt !== undefined || o.prompts !== undefined) result = await searchPrompts(o, files);
    else result = await searchIndexed(o, files, io.err);
    const json = {
      model: o.model,
      transcoders: o.transcoders,
      ...result.query,
      layer: o.layer,
      top: o.top,
      features: result.features,
    };
    await writeOutput(o.out, JSON.stringify(json, null, 2));
    io.out(`${result.title} (LAYER:FEATURE):`);
    for (const f of result.features)
      io.out(`  ${`${f.layer}:${f.feature}`.padEnd(10)} ${describeHit(f)}${f.label ? `  ${f.label}` : ''}`);
    io.out(`${o.out}: ${result.features.length} features`);
  },
});

/** A result of any of the three searches, with the feature's label when an index has one. */
type Hit = (TokenHit | ContextHit | PromptFeatureHit) & { label?: string };

/** What a search found: its query for the JSON, a heading for the table, and the features. */
interface SearchResult {
  query: Record<string, unknown>;
  title: string;
  features: Hit[];
}

/** The token or context search over the feature index of --index or the one built beside the dictionary. */
async function searchIndexed(o: Options, files: FileAccess, err: ProgressStream): Promise<SearchResult> {
  const dir = o.index ?? defaultIndexDir(o.transcoders as string);
  if (!(await files.exists(files.join(dir, 'index.json.gz'))))
    throw new UsageError(`no feature index in ${dir} (no index.json.gz); ${BUILD_HINT}`);
  let token: { query: string; id: number; token: string } | undefined;
  if (o.token !== undefined) {
    const model = o.model as string;
    await requireExisting('model', model);
    const ckpt = await loadCheckpoint(model, files);
    if (!ckpt.tokenizer)
      throw new UsageError(`--token: ${model} has no tokenizer.json to read the token with`);
    try {
      token = { query: o.token, ...resolveToken(ckpt.tokenizer, o.token, ckpt.config.dVocab) };
    } catch (e) {
      throw new UsageError(`--token: ${(e as Error).message}`);
    }
  }
  const reader = await FeatureIndexReader.open(files, dir);
  try {
    if (o.layer !== undefined && reader.featureCount(o.layer) === 0)
      throw new UsageError(
        `--layer: the index has no layer ${o.layer} (layers: ${reader.layers().join(', ')})`,
      );
    const layers = o.layer === undefined ? reader.layers() : [o.layer];
    const total = layers.reduce((n, l) => n + reader.featureCount(l), 0);
    const progress = createProgress('search', total, err);
    const options = { layers, top: o.top, onProgress: (done: number) => progress.update(done) };
    const by = o.by ?? 'both';
    const hits: Hit[] = token
      ? await searchIndexByToken(reader, token.token, by, options)
      : await searchIndexByContext(reader, o.context as string, options);
    progress.finish(`read ${total} features of ${dir}`);
    await labelHits(files, dir, reader, hits);
    const query = token
      ? { mode: 'token', index: dir, token, by }
      : { mode: 'context', index: dir, context: o.context };
    const title = token
      ? `features that ${by === 'both' ? 'fire on or promote' : by === 'fires' ? 'fire on' : 'promote'} ${quote(token.token)} (#${token.id})`
      : `features whose example contexts contain ${quote(o.context as string)}`;
    return { query, title, features: hits };
  } finally {
    await reader.close();
  }
}

/** Labels from labels.json when the index has one (as attribute's clerps), else each record's automatic label. */
async function labelHits(
  files: FileAccess,
  dir: string,
  reader: FeatureIndexReader,
  hits: Hit[],
): Promise<void> {
  const labels = (await files.exists(files.join(dir, 'labels.json')))
    ? await readFeatureLabels(files, dir)
    : undefined;
  for (const h of hits)
    h.label = labels?.get(h.layer)?.[h.feature] ?? labelFeature(await reader.read(h.layer, h.feature));
}

/** The prompts of --prompt and of --prompts FILE (one per line, blank lines skipped), in that order. */
async function readPrompts(o: Options): Promise<string[]> {
  const prompts = [...(o.prompt ?? [])];
  if (o.prompts === undefined) return prompts;
  let bytes: Uint8Array;
  try {
    bytes = await readFile(o.prompts);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(
      `--prompts ${o.prompts}: ${code === 'ENOENT' ? 'does not exist' : (e as Error).message}`,
    );
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new UsageError(`--prompts ${o.prompts}: not UTF-8 text`);
  }
  if (text.includes('\0'))
    throw new UsageError(`--prompts ${o.prompts}: not a text file (it holds NUL bytes)`);
  const lines = text.split(/\r?\n/).filter((l) => l.trim().length > 0);
  if (lines.length === 0) throw new UsageError(`--prompts ${o.prompts}: no prompts (one per line)`);
  return [...prompts, ...lines];
}

/** Features active on the prompts, at --pos or at any position, with labels when an index is found. */
async function searchPrompts(o: Options, files: FileAccess): Promise<SearchResult> {
  const prompts = await readPrompts(o);
  const pos = o.pos ?? -1;
  const dictionary = o.transcoders as string;
  let found: Awaited<ReturnType<typeof findFeatureLabels>>;
  try {
    found = await findFeatureLabels(files, dictionary, o.index);
  } catch (e) {
    throw new UsageError(`${(e as Error).message}; ${BUILD_HINT}`);
  }
  const hits: Hit[] = await withActivations(
    { model: o.model as string, transcoders: dictionary },
    async (activations) => {
      const acts = await activations(prompts, pos);
      if (o.layer !== undefined && !acts.layers.includes(o.layer))
        throw new UsageError(
          `--layer: the dictionary has no layer ${o.layer} (layers: ${acts.layers.join(', ')})`,
        );
      return searchActivations(acts, {
        layers: o.layer === undefined ? acts.layers : [o.layer],
        minFraction: o['min-frac'] ?? 0,
        top: o.top,
      });
    },
  );
  for (const h of hits) {
    const label = found?.labels.get(h.layer)?.[h.feature];
    if (label !== undefined) h.label = label;
  }
  const query = { mode: 'prompts', index: found?.dir, prompts, pos, minFraction: o['min-frac'] ?? 0 };
  const at = pos === 'any' ? 'at any position' : `at position ${pos}`;
  return { query, title: `features active on the ${prompts.length} prompts ${at}`, features: hits };
}

/** One table cell per hit kind: what matched and how strongly. */
function describeHit(h: Hit): string {
  const n = (x: number) => x.toPrecision(3);
  if ('fraction' in h) {
    const of = Math.round(h.active / h.fraction);
    return `active on ${h.active}/${of} (${(100 * h.fraction).toFixed(0)}%)  mean ${n(h.mean)}  max ${n(h.max)}`;
  }
  if ('snippet' in h) {
    const examples = `${h.examples} example${h.examples === 1 ? '' : 's'}`;
    return `${n(h.activation)} on ${quote(h.token)} in ${quote(h.snippet)} (${examples})`;
  }
  const parts = [`score ${h.score.toFixed(2)}`];
  if (h.fires) {
    const { share, examples, activation } = h.fires;
    parts.push(`fires: ${(100 * share).toFixed(0)}% of peaks (${examples} examples, max ${n(activation)})`);
  }
  if (h.promotes) {
    const { rank, effect } = h.promotes;
    parts.push(`promotes: #${rank + 1}${effect === undefined ? '' : ` (effect ${n(effect)})`}`);
  }
  return parts.join('  ');
}

/** A token or text in quotes on one line, its line breaks and tabs escaped. */
function quote(s: string): string {
  return `'${s.replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t')}'`;
}
