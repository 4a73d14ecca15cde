/**
 * `loupe attribute`: an attribution graph for one prompt, through the same `attribute()` the worker runs, written
 * as circuit-tracer / Neuronpedia graph JSON (pruned) and optionally as the raw, unpruned graph in safetensors.
 */
import { basename } from 'node:path';
import {
  ATTRIBUTION_DEFAULTS as D,
  type AttributeProgress,
  AttributionRequestError,
  attribute,
  type GraphJson,
  type GraphJsonQkSource,
  type TargetSpec,
  createGraphJsonWithPruning,
  RAW_LAYOUTS,
  rawGraphChunks,
} from '@loupe/core';
import { z } from 'zod';
import { defineCommand, UsageError } from '../args.ts';
import { findFeatureLabels } from '../feature-labels.ts';
import {
  MODEL_AND_DICTIONARY_OPTIONS,
  MODEL_FLAG,
  openModelAndDictionaryFlags,
  positiveInt,
  THREADS_FLAG,
  TRANSCODERS_FLAG,
  tokenList,
} from '../model-option.ts';
import { defaultOut, outHelp, writeOutput } from '../output.ts';
import { createProgress } from '../progress.ts';
import { phaseClock } from '../timings.ts';
import { formatFeatures, formatGraphSummary, formatTopTokens, nextTokens, topFeatures } from '../report.ts';

const fraction = (what: string) =>
  z
    .string()
    .regex(/^(0|1|0?\.\d+|1\.0*)$/, `${what} must be a number between 0 and 1`)
    .transform(Number);

/** `#123` is token id 123; anything else is a token's text, which must encode to exactly one token. */
const targetToken = z
  .string()
  .min(1, 'a target token is empty')
  .transform((t, ctx) => {
    if (!t.startsWith('#') || t.length === 1) return t;
    if (!/^#\d+$/.test(t)) {
      ctx.addIssue({ code: 'custom', message: `'${t}': a token id is written #N, e.g. #95` });
      return z.NEVER;
    }
    return Number(t.slice(1));
  });

/** `LAYER:HEAD:QUERY:KEY`: the query position attends to the key position (positions count the leading special token). */
const qkEdge = z
  .string()
  .regex(/^\d+:\d+:\d+:\d+$/, 'an attention edge is written LAYER:HEAD:QUERY:KEY, e.g. 2:1:5:3')
  .transform((s) => {
    const [layer, head, queryPos, keyPos] = s.split(':').map(Number);
    return { layer, head, queryPos, keyPos };
  })
  .refine(
    (e) => e.keyPos <= e.queryPos,
    'the key position must not come after the query position (causal mask)',
  );

const schema = z
  .object({
    ...MODEL_AND_DICTIONARY_OPTIONS,
    prompt: z.string().min(1, 'the prompt is empty').optional(),
    tokens: tokenList.optional(),
    'max-feature-nodes': z.union([z.literal('all'), positiveInt('max-feature-nodes')]).default('all'),
    'max-n-logits': positiveInt('max-n-logits').default(D.maxNLogits),
    'desired-logit-prob': fraction('desired-logit-prob').default(D.desiredLogitProb),
    'batch-size': positiveInt('batch-size').default(D.batchSize),
    'node-threshold': fraction('node-threshold').default(D.nodeThreshold),
    'edge-threshold': fraction('edge-threshold').default(D.edgeThreshold),
    out: z
      .string()
      .regex(/\.json$/, 'must end in .json')
      .default(defaultOut('graph.json')),
    'top-features': z.string().regex(/^\d+$/, 'must be a whole number').transform(Number).default(10),
    raw: z
      .string()
      .regex(/\.safetensors$/, 'must end in .safetensors')
      .optional(),
    'raw-layout': z.enum(RAW_LAYOUTS, { error: `must be one of ${RAW_LAYOUTS.join(', ')}` }).optional(),
    target: z.array(targetToken).optional(),
    'target-diff': z.tuple([targetToken, targetToken]).optional(),
    index: z.string().min(1, 'the index directory is empty').optional(),
    'id-format': z
      .enum(['loupe', 'circuit-tracer'], { error: "must be 'loupe' or 'circuit-tracer'" })
      .default('loupe'),
    qk: z.array(qkEdge).optional(),
    'qk-into': z
      .array(z.string().regex(/^\d+_\d+_\d+$/, 'must be a feature or logit node id, e.g. 3_17_5'))
      .optional(),
    'qk-top': positiveInt('qk-top').optional(),
    'include-inactive': positiveInt('include-inactive').optional(),
    timings: z.boolean().default(false),
  })
  .refine((o) => (o.prompt === undefined) !== (o.tokens === undefined), {
    message: 'give exactly one of --prompt TEXT or --tokens IDS',
    path: ['prompt'],
  })
  .refine((o) => o['raw-layout'] === undefined || o.raw !== undefined, {
    message: '--raw-layout needs --raw RAW.safetensors',
    path: ['raw-layout'],
  })
  .refine((o) => o.target === undefined || o['target-diff'] === undefined, {
    message: 'give --target TOKEN (one or more) or --target-diff A B, not both',
    path: ['target'],
  })
  .refine((o) => o['qk-top'] === undefined || o['qk-into'] !== undefined, {
    message: '--qk-top needs --qk-into NODE_ID',
    path: ['qk-top'],
  });

/** A query- or key-side source as the file names it. */
function sourceName(s: GraphJsonQkSource): string {
  if (s.kind === 'constant') return 'constants';
  return `${s.node_id}${s.in_graph ? '' : ' (pruned)'}`;
}

const signed = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(3)}`;

/** The decomposed attention edges and the inactive features of the file, for a person to read. */
function extensionSummary(json: GraphJson): string[] {
  const lines: string[] = [];
  for (const e of json.loupe?.qk ?? []) {
    const into = e.into ? `, carries ${signed(e.into.carried)} into ${e.into.node_id}` : '';
    lines.push(
      `attention layer ${e.layer} head ${e.head}, query ${e.query} → key ${e.key}: score ${signed(e.score)}, pattern ${e.pattern.toFixed(3)}${into}`,
    );
    for (const p of e.pairs.slice(0, 3))
      lines.push(`  ${signed(p.value)}  query ${sourceName(p.q)} × key ${sourceName(p.k)}`);
  }
  const inactive = json.loupe?.inactive;
  if (inactive) {
    const ranked = [...inactive.targets].sort((a, b) => a.inputs - b.inputs);
    lines.push(
      `inactive features: ${ranked.length} added (up to ${inactive.per_site} per layer and position), most inhibited:`,
    );
    for (const t of ranked.slice(0, 5))
      lines.push(
        `  ${t.node_id}: input from nodes ${signed(t.inputs)}, pre-activation ${signed(t.pre_activation)}`,
      );
  }
  return lines;
}

/** The logits a graph explains: the salient ones unless --target or --target-diff names them. */
function targetSpec(o: z.infer<typeof schema>): TargetSpec {
  if (o['target-diff']) return { kind: 'diff', a: o['target-diff'][0], b: o['target-diff'][1] };
  if (o.target) return { kind: 'tokens', tokens: o.target };
  return { kind: 'salient', maxNLogits: o['max-n-logits'], desiredLogitProb: o['desired-logit-prob'] };
}

/** The phase a progress event closes: setup 0 ends the load, 1 the forward pass, 2 the tracer's compilation. */
function progressPhase(p: AttributeProgress): string {
  if (p.phase === 'setup') return ['load', 'forward', 'compile'][p.done] ?? 'compile';
  return p.phase === 'logits' ? 'logitRows' : 'featureRows';
}

/** The bar's units: setup 5%, logit rows 5%, feature rows the rest. */
function progressUnits(p: AttributeProgress): number {
  const frac = p.total > 0 ? p.done / p.total : 1;
  if (p.phase === 'setup') return Math.round(50 * frac);
  if (p.phase === 'logits') return 50 + Math.round(50 * frac);
  return 100 + Math.round(900 * frac);
}

export const command = defineCommand({
  name: 'attribute',
  summary: 'Trace an attribution graph through the linearised replacement model and save it as graph JSON.',
  usage:
    '--model DIR --transcoders DIR (--prompt TEXT | --tokens IDS) [--target TOKEN ... | --target-diff A B] [--out GRAPH.json] [--raw RAW.safetensors [--raw-layout dense|dense-f16|csr]] [--max-feature-nodes N|all] [--top-features N] [--index DIR] [--id-format loupe|circuit-tracer] [--qk LAYER:HEAD:QUERY:KEY ...] [--qk-into NODE_ID ... [--qk-top N]] [--include-inactive N] [--threads N] [--timings]',
  flags: {
    model: MODEL_FLAG,
    transcoders: { ...TRANSCODERS_FLAG, help: `PLT or CLT: ${TRANSCODERS_FLAG.help} (SAEs are refused)` },
    threads: THREADS_FLAG,
    prompt: { type: 'string', value: 'TEXT', help: 'text, tokenized with a special token prepended' },
    tokens: {
      type: 'string',
      value: 'IDS',
      help: 'comma-separated token ids; a BOS is prepended only when the first id is not special',
    },
    'max-feature-nodes': {
      type: 'string',
      value: 'N|all',
      help: 'feature rows to compute, in influence order (default all)',
    },
    'max-n-logits': { type: 'string', value: 'N', help: `most logit targets (default ${D.maxNLogits})` },
    'desired-logit-prob': {
      type: 'string',
      value: 'P',
      help: `stop adding logit targets at this cumulative probability (default ${D.desiredLogitProb})`,
    },
    'batch-size': { type: 'string', value: 'N', help: `rows per backward pass (default ${D.batchSize})` },
    'node-threshold': {
      type: 'string',
      value: 'F',
      help: `cumulative node influence kept in the JSON (default ${D.nodeThreshold})`,
    },
    'edge-threshold': {
      type: 'string',
      value: 'F',
      help: `cumulative edge influence kept in the JSON (default ${D.edgeThreshold})`,
    },
    out: {
      type: 'string',
      value: 'GRAPH.json',
      help: outHelp('output graph JSON (pruned, Neuronpedia format)', 'graph.json'),
    },
    'top-features': {
      type: 'string',
      value: 'N',
      help: 'features printed by influence, as LAYER:POS:FEATURE ids for intervene --set (default 10; 0: none)',
    },
    raw: { type: 'string', value: 'RAW.safetensors', help: 'also write the unpruned graph as safetensors' },
    'raw-layout': {
      type: 'string',
      value: 'LAYOUT',
      help: "the raw file's adjacency: 'dense' (default; [N, N] float32, circuit-tracer's adjacency_matrix), 'dense-f16' (float16, half the bytes) or 'csr' (its non-zero entries only, exact)",
    },
    target: {
      type: 'string',
      value: 'TOKEN',
      repeatable: true,
      help: 'explain this logit instead of the salient ones: a single-token text, or #ID for a token id',
    },
    'target-diff': {
      type: 'string',
      value: 'A B',
      arity: 2,
      help: 'explain the logit difference logit(A) − logit(B) (tokens as for --target)',
    },
    index: {
      type: 'string',
      value: 'DIR',
      help: 'feature index whose labels fill the clerps (default: the one index-features writes for this dictionary, when built)',
    },
    'id-format': {
      type: 'string',
      value: 'FORMAT',
      help: "node ids: 'loupe' (default; errors err_L_P, never colliding) or 'circuit-tracer' (0_L_P, collisions renamed and listed)",
    },
    qk: {
      type: 'string',
      value: 'LAYER:HEAD:QUERY:KEY',
      repeatable: true,
      help: 'decompose this attention edge (query position attends to key position; position 0 is the special token) into query-side × key-side source pairs, written to loupe.qk',
    },
    'qk-into': {
      type: 'string',
      value: 'NODE_ID',
      repeatable: true,
      help: "decompose the attention edges that carry the most into this feature or logit node's input",
    },
    'qk-top': { type: 'string', value: 'N', help: 'attention edges per --qk-into node (default 5)' },
    'include-inactive': {
      type: 'string',
      value: 'N',
      help: 'add per layer and position the N inactive features with the most negative input from the nodes (inhibition), as nodes with activation 0 (loupe.inactive)',
    },
    timings: {
      type: 'boolean',
      help: 'print to stderr where the time went, in ms since process start: startup (Node and the imports), load, forward, compile, logitRows, featureRows, assemble, graphJson, jsonWrite, raw, report',
    },
  },
  schema,
  async run(o, io) {
    const clock = phaseClock();
    clock.lap('startup');
    const progress = createProgress('attribute', 1000, io.err);
    const opened = await openModelAndDictionaryFlags(o);
    clock.lap('load');
    const { checkpoint: ckpt, dictionary: dict, model, files, close } = opened;
    try {
      const modelName = typeof dict.meta.model_name === 'string' ? dict.meta.model_name : basename(o.model);
      const qk = o.qk || o['qk-into'] ? { edges: o.qk, into: o['qk-into'], top: o['qk-top'] } : undefined;
      const graph = await attribute(
        model,
        dict,
        o.tokens ? { tokens: o.tokens } : { text: o.prompt as string },
        {
          qk,
          inactivePerSite: o['include-inactive'],
          targets: targetSpec(o),
          maxFeatureNodes: o['max-feature-nodes'] === 'all' ? undefined : o['max-feature-nodes'],
          batchSize: o['batch-size'],
          modelName,
          onProgress: (p) => {
            clock.lap(progressPhase(p));
            progress.update(
              progressUnits(p),
              p.phase === 'setup' ? 'setup' : `${p.phase} ${p.done}/${p.total}`,
            );
          },
        },
      ).catch((e: unknown) => {
        // An edge or node the prompt does not have is a mistake on the command line.
        throw e instanceof AttributionRequestError ? new UsageError(e.message) : e;
      });
      clock.lap('assemble');
      const decode = (id: number) => (ckpt.tokenizer ? ckpt.tokenizer.decode([id]) : String(id));
      const found = await findFeatureLabels(files, o.transcoders, o.index);
      const { json, pruning } = createGraphJsonWithPruning(graph, {
        slug: basename(o.out, '.json'),
        scan: graph.model.scan ?? basename(o.transcoders),
        decodeToken: decode,
        nodeThreshold: o['node-threshold'],
        edgeThreshold: o['edge-threshold'],
        idFormat: o['id-format'],
        featureLabel: found ? (layer, feature) => found.labels.get(layer)?.[feature] : undefined,
      });
      clock.lap('graphJson');
      await writeOutput(o.out, JSON.stringify(json));
      clock.lap('jsonWrite');
      if (o.raw) {
        await writeOutput(o.raw, rawGraphChunks(graph, { layout: o['raw-layout'] }));
        clock.lap('raw');
      }
      progress.finish(`wrote ${o.out}${o.raw ? ` and ${o.raw}` : ''}`);
      const nActive = graph.activeFeatures.length / 3;
      if (o.target || o['target-diff']) {
        const { logits } = await model.run(graph.inputTokens);
        io.out(`next token: ${formatTopTokens(nextTokens(logits, 5, ckpt.tokenizer))}`);
        const dVocab = ckpt.config.dVocab;
        const names = graph.logitTargets.map((t) =>
          t.vocabIdx < dVocab ? JSON.stringify(t.tokenStr) : t.tokenStr,
        );
        io.out(`targets: ${names.join(', ')}`);
      } else {
        const predictions = graph.logitTargets.map((t, i) => ({
          id: t.vocabIdx,
          token: t.tokenStr,
          prob: graph.logitProbabilities[i],
        }));
        io.out(`next token: ${formatTopTokens(predictions)}`);
      }
      if (o['top-features'] > 0) {
        const top = topFeatures(graph, o['top-features'], pruning.nodeInfluence);
        io.out(`top features by influence on these logits (LAYER:POS:FEATURE, for intervene --set):`);
        for (const line of formatFeatures(top, (pos) => decode(graph.inputTokens[pos]))) io.out(line);
      }
      io.out(
        `${o.out}: ${json.nodes.length} nodes, ${json.links.length} links (of ${graph.selectedFeatures.length}/${nActive} features, ${graph.logitTargets.length} logits, ${graph.inputTokens.length} tokens)`,
      );
      for (const line of formatGraphSummary(json)) io.out(line);
      for (const line of extensionSummary(json)) io.out(line);
      io.out(
        found
          ? `clerps: feature labels from ${found.dir}`
          : `clerps: empty (no feature index; build one with loupe index-features)`,
      );
    } finally {
      await close();
    }
    clock.lap('report');
    if (o.timings) io.err.write(`${clock.line()}\n`);
  },
});
