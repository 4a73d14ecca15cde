/**
 * `attribute`: prompt → attribution graph, the whole pipeline. The CLI and the worker both
 * call this one function, so equal inputs give identical graphs.
 *
 *   tokens (leading special token) → phase 0 (clean run, active features, errors) → logit targets →
 *   influence-ordered exploration with rows from the linearised backward → assembled graph, with the bias
 *   sites' contributions and each target's linearised value beside it.
 */
import type { Dictionary } from '../dictionary/types.ts';
import { checkTokenIds } from '../io/tokenizer.ts';
import type { Model } from '../model/model.ts';
import { assembleGraph, type ExploreProgress, exploreFeatures, type RowTarget } from './explore.ts';
import type { AttributionGraph } from './graph.ts';
import { findInhibitedFeatures } from './inactive.ts';
import { checkQkRequest, type QkRequest, resolveQkInto, traceQk } from './qk-graph.ts';
import { ensureLeadingSpecialToken, type SpecialTokenIds, zeroPositionCount } from './prompt.ts';
import { resolveTargets, type TargetSpec, type TargetTokenizer } from './targets.ts';
import { biasSiteCount, createTracer, linearisedValues, prepareTrace } from './trace.ts';

/** One pass's dense rows [batch, nActive + (L+1)·T] must stay well below the memory a long prompt needs anyway. */
const MAX_BATCH_BYTES = 2 ** 30;

export type AttributePrompt = { text: string } | { tokens: ArrayLike<number> };

export interface AttributeProgress {
  phase: 'setup' | ExploreProgress['phase'];
  done: number;
  total: number;
}

export interface AttributeOptions {
  /** Default: salient logits (maxNLogits 10, desiredLogitProb 0.95). */
  targets?: TargetSpec;
  /** Feature rows to compute; undefined or 0 = every active feature. */
  maxFeatureNodes?: number;
  /** Rows per backward pass (default 64: large enough to amortise a run, small enough for the cache). */
  batchSize?: number;
  updateInterval?: number;
  storage?: 'csr' | 'dense';
  /** Hugging Face name: decides the zero positions (Gemma-3 -it) and is recorded in the graph. */
  modelName?: string;
  /** Attention edges to decompose (QK attribution), written with the graph. */
  qk?: QkRequest;
  /** Inactive features inhibited by the nodes to add per (layer, position) (inactive.ts); default none. */
  inactivePerSite?: number;
  onProgress?: (p: AttributeProgress) => void;
  signal?: AbortSignal;
}

function specialIds(model: Model): SpecialTokenIds {
  const tok = model.tokenizer;
  const c = model.config;
  if (tok) return { bosTokenId: tok.bosId, allSpecialIds: [...tok.specialIds].sort((a, b) => a - b) };
  const ids = [c.bosTokenId, c.padTokenId, c.eosTokenId].filter((t): t is number => t !== undefined);
  return { bosTokenId: c.bosTokenId, padTokenId: c.padTokenId, eosTokenId: c.eosTokenId, allSpecialIds: ids };
}

/** Prompt tokens as attribution uses them: a special token first (prepended unless one is there already). */
export function attributionTokens(model: Model, prompt: AttributePrompt, modelName = ''): Int32Array {
  let ids: ArrayLike<number>;
  if ('text' in prompt) {
    if (!model.tokenizer) throw new Error('a text prompt needs the model tokenizer; pass token ids instead');
    ids = model.tokenizer.encode(prompt.text);
  } else ids = prompt.tokens;
  checkTokenIds(ids, model.config.dVocab);
  return ensureLeadingSpecialToken(ids, specialIds(model), modelName).tokens;
}

function targetTokenizer(model: Model): TargetTokenizer {
  const tok = model.tokenizer;
  if (tok) return { encode: (s) => tok.encode(s), decode: (ids) => tok.decode(ids) };
  return {
    encode: () => {
      throw new Error('string targets need the model tokenizer');
    },
    decode: (ids) => ids.join(' '),
  };
}

export async function attribute(
  model: Model,
  dict: Dictionary,
  prompt: AttributePrompt,
  options: AttributeOptions = {},
): Promise<AttributionGraph> {
  const { onProgress, signal } = options;
  const modelName = options.modelName ?? '';
  const tokens = attributionTokens(model, prompt, modelName);
  onProgress?.({ phase: 'setup', done: 0, total: 2 });
  const zeroCount = zeroPositionCount(modelName);
  const ctx = await prepareTrace(model, dict, tokens, { zeroPositions: zeroCount });
  checkQkRequest(model, ctx.nPos, options.qk ?? {});
  onProgress?.({ phase: 'setup', done: 1, total: 2 });
  signal?.throwIfAborted();
  const batchSize = options.batchSize ?? 64;
  const nBias = biasSiteCount(ctx.nLayers, ctx.nPos);
  const batchBytes = batchSize * (ctx.nActive + (ctx.nLayers + 1) * ctx.nPos + nBias) * 4;
  if (batchBytes > MAX_BATCH_BYTES) {
    throw new Error(
      `batch size ${batchSize} needs ${(batchBytes / 2 ** 20).toFixed(0)} MiB of rows per pass for ${ctx.nActive} active features and ${ctx.nPos} tokens (limit ${MAX_BATCH_BYTES / 2 ** 20} MiB); use a smaller batch size`,
    );
  }
  const tokenizer = targetTokenizer(model);
  const targets = resolveTargets(options.targets ?? { kind: 'salient' }, {
    logits: ctx.logits,
    unembed: model.weights.unembed,
    tokenizer,
  });
  const act = ctx.components.activations;
  const activeFeatures = new Int32Array(ctx.nActive * 3);
  for (let i = 0; i < ctx.nActive; i++) {
    activeFeatures[3 * i] = act.layer[i];
    activeFeatures[3 * i + 1] = act.pos[i];
    activeFeatures[3 * i + 2] = act.feature[i];
  }
  const qkInto = resolveQkInto(options.qk?.into ?? [], {
    nLayers: ctx.nLayers,
    nPos: ctx.nPos,
    dModel: ctx.dModel,
    activeFeatures,
    encoderVecs: ctx.components.encoderVecs.data,
    logitVocab: targets.logitTargets.map((t) => t.vocabIdx),
    logitVectors: targets.logitVectors,
  });
  const tracer = await createTracer(model, dict, ctx, targets.logitVectors);
  onProgress?.({ phase: 'setup', done: 2, total: 2 });
  try {
    const explored = await exploreFeatures({
      nActive: ctx.nActive,
      nLayers: ctx.nLayers,
      nPos: ctx.nPos,
      logitProbabilities: targets.logitProbabilities,
      computeRows: tracer.computeRowsWithBias,
      extraColumns: nBias,
      batchSize,
      maxFeatureNodes: options.maxFeatureNodes,
      updateInterval: options.updateInterval,
      storage: options.storage,
      onProgress,
      signal,
    });
    const scan = dict.meta.scan;
    const graphRows: RowTarget[] = [
      ...Array.from(explored.selectedFeatures, (activeIndex) => ({ kind: 'feature' as const, activeIndex })),
      ...targets.logitTargets.map((_, index) => ({ kind: 'logit' as const, index })),
    ];
    const qk = options.qk ? await traceQk(model, tracer, options.qk, qkInto) : undefined;
    const inactive = options.inactivePerSite
      ? await findInhibitedFeatures(model, dict, tracer, options.inactivePerSite, zeroCount)
      : undefined;
    const graph = assembleGraph(
      {
        inputString: model.tokenizer ? model.tokenizer.decode(tokens) : Array.from(tokens).join(' '),
        inputTokens: tokens,
        logitTargets: targets.logitTargets,
        logitProbabilities: targets.logitProbabilities,
        vocabSize: model.tokenizer?.vocabSize ?? model.config.dVocab,
        activeFeatures,
        activationValues: act.value,
        model: {
          nLayers: model.config.nLayers,
          dVocab: model.config.dVocab,
          ...(modelName ? { modelName } : {}),
          scan: typeof scan === 'string' || Array.isArray(scan) ? (scan as string | string[]) : null,
          dictionaryKind: dict.kind,
        },
        bias: {
          rows: explored.extra,
          values: linearisedValues(dict, ctx, targets.logitVectors, graphRows),
        },
      },
      explored,
    );
    return { ...graph, ...(qk ? { qk } : {}), ...(inactive ? { inactive } : {}) };
  } finally {
    await tracer.close();
  }
}
