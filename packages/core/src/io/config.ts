/**
 * Hugging Face config.json <-> ModelConfig. Defaults follow the transformers config classes, so a field a
 * real checkpoint omits gets the value the Python model would use.
 */
import { z } from 'zod';
import type { Activation, Architecture, ModelConfig, RopeScaling } from '../model/config.ts';

export const SUPPORTED_HF_ARCHITECTURES: Record<string, Architecture> = {
  GPT2LMHeadModel: 'gpt2',
  LlamaForCausalLM: 'llama',
  Gemma2ForCausalLM: 'gemma2',
  Qwen2ForCausalLM: 'qwen2',
  Qwen3ForCausalLM: 'qwen3',
};

/**
 * Upper bounds of every dimension, far above any released checkpoint (vocabularies of 262k, widths of 16k,
 * 126 layers, contexts of 1M): a config.json naming more is not a model this code can hold, and refusing it here
 * keeps the numbers that size allocations from ever being absurd.
 */
export const CONFIG_LIMITS = {
  vocab: 4_194_304,
  width: 65_536,
  mlpWidth: 1_048_576,
  layers: 1_024,
  heads: 1_024,
  headDim: 4_096,
  positions: 16_777_216,
} as const;

const posInt = z.number().int().positive();
const dim = (max: number) => posInt.max(max);
// Epsilons, thetas, scalars and caps: finite and positive (zod refuses Infinity and NaN), bounded so that
// products with activations stay finite in float32.
const posNum = z.number().positive().max(1e12);
const tokenId = z
  .union([
    z.number().int().nonnegative().max(CONFIG_LIMITS.vocab),
    z.array(z.number().int().nonnegative().max(CONFIG_LIMITS.vocab)).max(1_024),
  ])
  .nullish();

const ACTIVATIONS: Record<string, Activation> = {
  gelu_new: 'gelu_new',
  gelu: 'gelu',
  gelu_pytorch_tanh: 'gelu_pytorch_tanh',
  silu: 'silu',
  swish: 'silu',
  relu: 'relu',
};
const activation = z.string().transform((s, ctx) => {
  const a = ACTIVATIONS[s];
  if (!a) {
    ctx.addIssue({
      code: 'custom',
      message: `unsupported activation '${s}' (supported: ${Object.keys(ACTIVATIONS).join(', ')})`,
    });
    return z.NEVER;
  }
  return a;
});

const common = {
  architectures: z.array(z.string().max(200)).min(1).max(16),
  vocab_size: dim(CONFIG_LIMITS.vocab),
  bos_token_id: tokenId,
  eos_token_id: tokenId,
  pad_token_id: tokenId,
};

const gpt2Schema = z.object({
  ...common,
  n_embd: dim(CONFIG_LIMITS.width),
  n_head: dim(CONFIG_LIMITS.heads),
  n_layer: dim(CONFIG_LIMITS.layers),
  n_positions: dim(CONFIG_LIMITS.positions),
  n_inner: dim(CONFIG_LIMITS.mlpWidth).nullish(),
  layer_norm_epsilon: posNum.default(1e-5),
  activation_function: activation.default('gelu_new'),
  scale_attn_weights: z.literal(true).default(true),
  scale_attn_by_inverse_layer_idx: z.literal(false).default(false),
  reorder_and_upcast_attn: z.boolean().default(false),
  tie_word_embeddings: z.literal(true).default(true),
});

const ropeScalingSchema = z
  .object({
    rope_type: z.string().optional(),
    type: z.string().optional(),
    factor: posNum.optional(),
    low_freq_factor: posNum.optional(),
    high_freq_factor: posNum.optional(),
    original_max_position_embeddings: dim(CONFIG_LIMITS.positions).optional(),
  })
  .nullish();

const layerTypes = z
  .array(z.enum(['sliding_attention', 'full_attention']))
  .max(CONFIG_LIMITS.layers)
  .nullish();

const llamaLikeShape = {
  ...common,
  hidden_size: dim(CONFIG_LIMITS.width),
  intermediate_size: dim(CONFIG_LIMITS.mlpWidth),
  num_hidden_layers: dim(CONFIG_LIMITS.layers),
  num_attention_heads: dim(CONFIG_LIMITS.heads),
  num_key_value_heads: dim(CONFIG_LIMITS.heads).nullish(),
  head_dim: dim(CONFIG_LIMITS.headDim).nullish(),
  max_position_embeddings: dim(CONFIG_LIMITS.positions),
  rms_norm_eps: posNum.default(1e-6),
  rope_theta: posNum.default(10000),
  rope_scaling: ropeScalingSchema,
  partial_rotary_factor: z.number().gt(0).lte(1).nullish(),
  hidden_act: activation.default('silu'),
  tie_word_embeddings: z.boolean().default(false),
  attention_bias: z.boolean().default(false),
  // HF puts a bias on gate, up and down alike; MlpWeights has no gate bias, so only `false` is accepted.
  mlp_bias: z
    .literal(false, { error: 'mlp_bias: true is not supported (no gate-projection bias)' })
    .default(false),
  sliding_window: dim(CONFIG_LIMITS.positions).nullish(),
  use_sliding_window: z.boolean().default(false),
  max_window_layers: z.number().int().nonnegative().max(CONFIG_LIMITS.layers).nullish(),
  layer_types: layerTypes,
};
const llamaSchema = z.object(llamaLikeShape);

const gemma2Schema = z.object({
  ...llamaLikeShape,
  head_dim: dim(CONFIG_LIMITS.headDim).default(256),
  hidden_activation: activation.nullish(),
  hidden_act: activation.default('gelu_pytorch_tanh'),
  query_pre_attn_scalar: posNum.default(256),
  attn_logit_softcapping: posNum.nullish(),
  final_logit_softcapping: posNum.nullish(),
  sliding_window: dim(CONFIG_LIMITS.positions).default(4096),
  tie_word_embeddings: z.boolean().default(true),
});

function zodError(arch: string, error: z.ZodError): Error {
  const issue = error.issues[0];
  const field = issue.path.join('.') || '(root)';
  return new Error(`config.json (${arch}): field '${field}' is missing or invalid: ${issue.message}`);
}

function firstId(v: number | number[] | null | undefined): number | undefined {
  if (v === null || v === undefined) return undefined;
  return Array.isArray(v) ? v[0] : v;
}

function parseRopeScaling(raw: z.infer<typeof ropeScalingSchema>, arch: string): RopeScaling | undefined {
  if (!raw) return undefined;
  const kind = raw.rope_type ?? raw.type;
  const need = <T>(v: T | undefined, field: string): T => {
    if (v === undefined)
      throw new Error(`config.json (${arch}): field 'rope_scaling.${field}' is required for ${kind} scaling`);
    return v;
  };
  if (kind === 'default') return undefined;
  if (kind === 'linear') return { type: 'linear', factor: need(raw.factor, 'factor') };
  if (kind === 'llama3') {
    return {
      type: 'llama3',
      factor: need(raw.factor, 'factor'),
      lowFreqFactor: need(raw.low_freq_factor, 'low_freq_factor'),
      highFreqFactor: need(raw.high_freq_factor, 'high_freq_factor'),
      originalMaxPositionEmbeddings: need(
        raw.original_max_position_embeddings,
        'original_max_position_embeddings',
      ),
    };
  }
  throw new Error(
    `config.json (${arch}): unsupported rope_scaling type '${kind}' (supported: linear, llama3)`,
  );
}

function slidingLayers(
  nLayers: number,
  types: z.infer<typeof layerTypes>,
  fallback: (layer: number) => boolean,
  arch: string,
): number[] {
  if (types) {
    if (types.length !== nLayers) {
      throw new Error(
        `config.json (${arch}): field 'layer_types' has ${types.length} entries for ${nLayers} layers`,
      );
    }
    return types.flatMap((t, i) => (t === 'sliding_attention' ? [i] : []));
  }
  return Array.from({ length: nLayers }, (_, i) => i).filter(fallback);
}

export function parseHfConfig(json: unknown): ModelConfig {
  const head = z.object({ architectures: z.array(z.string()).min(1) }).safeParse(json);
  if (!head.success)
    throw new Error("config.json: field 'architectures' is missing or not a non-empty list of strings");
  const hfArchitecture = head.data.architectures[0];
  const architecture = SUPPORTED_HF_ARCHITECTURES[hfArchitecture];
  if (!architecture) {
    throw new Error(
      `config.json: unsupported architecture '${hfArchitecture}' (supported: ${Object.keys(SUPPORTED_HF_ARCHITECTURES).join(', ')})`,
    );
  }
  if (architecture === 'gpt2') {
    const r = gpt2Schema.safeParse(json);
    if (!r.success) throw zodError(hfArchitecture, r.error);
    const c = r.data;
    if (c.n_embd % c.n_head !== 0)
      throw new Error(
        `config.json (${hfArchitecture}): n_embd ${c.n_embd} is not divisible by n_head ${c.n_head}`,
      );
    const dHead = c.n_embd / c.n_head;
    return withIds(c, {
      architecture,
      hfArchitecture,
      nLayers: c.n_layer,
      dModel: c.n_embd,
      nHeads: c.n_head,
      nKvHeads: c.n_head,
      dHead,
      dMlp: c.n_inner ?? 4 * c.n_embd,
      dVocab: c.vocab_size,
      nCtx: c.n_positions,
      norm: 'layernorm',
      normEps: c.layer_norm_epsilon,
      act: c.activation_function,
      gatedMlp: false,
      positional: 'learned',
      attnScale: 1 / Math.sqrt(dHead),
      postNorms: false,
      qkNorm: false,
      attnBias: true,
      mlpBias: true,
      tiedEmbeddings: true,
    });
  }
  const isGemma = architecture === 'gemma2';
  const r = (isGemma ? gemma2Schema : llamaSchema).safeParse(json);
  if (!r.success) throw zodError(hfArchitecture, r.error);
  const c = r.data as z.infer<typeof llamaSchema> & Partial<z.infer<typeof gemma2Schema>>;
  const nKvHeads = c.num_key_value_heads ?? c.num_attention_heads;
  if (c.num_attention_heads % nKvHeads !== 0) {
    throw new Error(
      `config.json (${hfArchitecture}): num_attention_heads ${c.num_attention_heads} is not a multiple of num_key_value_heads ${nKvHeads}`,
    );
  }
  if (!c.head_dim && c.hidden_size % c.num_attention_heads !== 0) {
    throw new Error(
      `config.json (${hfArchitecture}): hidden_size is not divisible by num_attention_heads and head_dim is absent`,
    );
  }
  const dHead = c.head_dim ?? c.hidden_size / c.num_attention_heads;
  const scaling = parseRopeScaling(c.rope_scaling, hfArchitecture);
  const ropeDim = c.partial_rotary_factor ? Math.floor(dHead * c.partial_rotary_factor) : undefined;
  const rope: ModelConfig['rope'] = { theta: c.rope_theta };
  if (scaling) rope.scaling = scaling;
  if (ropeDim !== undefined && ropeDim !== dHead) rope.dim = ropeDim;
  const config: ModelConfig = {
    architecture,
    hfArchitecture,
    nLayers: c.num_hidden_layers,
    dModel: c.hidden_size,
    nHeads: c.num_attention_heads,
    nKvHeads,
    dHead,
    dMlp: c.intermediate_size,
    dVocab: c.vocab_size,
    nCtx: c.max_position_embeddings,
    norm: 'rmsnorm',
    normEps: c.rms_norm_eps,
    act: isGemma ? (c.hidden_activation ?? c.hidden_act) : c.hidden_act,
    gatedMlp: true,
    positional: 'rope',
    rope,
    attnScale: isGemma ? 1 / Math.sqrt(c.query_pre_attn_scalar as number) : 1 / Math.sqrt(dHead),
    postNorms: isGemma,
    qkNorm: architecture === 'qwen3',
    // Qwen2 hard-codes bias on q/k/v (not o) regardless of any config field.
    attnBias: architecture === 'qwen2' ? true : c.attention_bias,
    mlpBias: false,
    tiedEmbeddings: c.tie_word_embeddings,
  };
  if (isGemma) {
    if (c.attn_logit_softcapping) config.attnSoftcap = c.attn_logit_softcapping;
    if (c.final_logit_softcapping) config.finalSoftcap = c.final_logit_softcapping;
    config.embedScale = Math.sqrt(c.hidden_size);
    // HF Gemma2DecoderLayer: is_sliding = not bool(layer_idx % 2), i.e. even layers are local.
    config.slidingWindow = c.sliding_window as number;
    config.slidingWindowLayers = slidingLayers(
      config.nLayers,
      c.layer_types,
      (i) => i % 2 === 0,
      hfArchitecture,
    );
  } else if (c.sliding_window && (c.layer_types || c.use_sliding_window)) {
    // Qwen2/3: layers at index >= max_window_layers use the window when use_sliding_window is set.
    const from = c.max_window_layers ?? 0;
    const layers = slidingLayers(config.nLayers, c.layer_types, (i) => i >= from, hfArchitecture);
    if (layers.length > 0) {
      config.slidingWindow = c.sliding_window;
      config.slidingWindowLayers = layers;
    }
  }
  return withIds(c, config);
}

function withIds(
  c: {
    bos_token_id?: number | number[] | null;
    eos_token_id?: number | number[] | null;
    pad_token_id?: number | number[] | null;
  },
  config: ModelConfig,
): ModelConfig {
  const bos = firstId(c.bos_token_id);
  const eos = firstId(c.eos_token_id);
  const pad = firstId(c.pad_token_id);
  if (bos !== undefined) config.bosTokenId = bos;
  if (eos !== undefined) config.eosTokenId = eos;
  if (pad !== undefined) config.padTokenId = pad;
  return config;
}

/** The inverse of parseHfConfig: a config.json that parses back to exactly `config`. */
export function toHfConfig(config: ModelConfig): Record<string, unknown> {
  const fail = (why: string) => new Error(`toHfConfig (${config.hfArchitecture}): ${why}`);
  if (SUPPORTED_HF_ARCHITECTURES[config.hfArchitecture] !== config.architecture) {
    throw fail(`hfArchitecture does not match architecture '${config.architecture}'`);
  }
  const ids: Record<string, number> = {};
  if (config.bosTokenId !== undefined) ids.bos_token_id = config.bosTokenId;
  if (config.eosTokenId !== undefined) ids.eos_token_id = config.eosTokenId;
  if (config.padTokenId !== undefined) ids.pad_token_id = config.padTokenId;
  if (config.architecture === 'gpt2') {
    if (Math.abs(config.attnScale * Math.sqrt(config.dHead) - 1) > 1e-12)
      throw fail('GPT-2 requires attnScale = 1/sqrt(dHead)');
    return {
      architectures: [config.hfArchitecture],
      model_type: 'gpt2',
      vocab_size: config.dVocab,
      n_embd: config.dModel,
      n_head: config.nHeads,
      n_layer: config.nLayers,
      n_positions: config.nCtx,
      n_inner: config.dMlp,
      layer_norm_epsilon: config.normEps,
      activation_function: config.act,
      tie_word_embeddings: true,
      ...ids,
    };
  }
  if (config.mlpBias) throw fail('MLP biases are only representable for GPT-2');
  const out: Record<string, unknown> = {
    architectures: [config.hfArchitecture],
    model_type: config.architecture,
    vocab_size: config.dVocab,
    hidden_size: config.dModel,
    intermediate_size: config.dMlp,
    num_hidden_layers: config.nLayers,
    num_attention_heads: config.nHeads,
    num_key_value_heads: config.nKvHeads,
    head_dim: config.dHead,
    max_position_embeddings: config.nCtx,
    rms_norm_eps: config.normEps,
    rope_theta: config.rope?.theta ?? 10000,
    hidden_act: config.act,
    tie_word_embeddings: config.tiedEmbeddings,
    attention_bias: config.attnBias,
    mlp_bias: false,
    ...ids,
  };
  const s = config.rope?.scaling;
  if (s?.type === 'linear') out.rope_scaling = { rope_type: 'linear', factor: s.factor };
  if (s?.type === 'llama3') {
    out.rope_scaling = {
      rope_type: 'llama3',
      factor: s.factor,
      low_freq_factor: s.lowFreqFactor,
      high_freq_factor: s.highFreqFactor,
      original_max_position_embeddings: s.originalMaxPositionEmbeddings,
    };
  }
  if (config.rope?.dim !== undefined) out.partial_rotary_factor = config.rope.dim / config.dHead;
  if (config.architecture === 'gemma2') {
    out.hidden_activation = config.act;
    const q = 1 / (config.attnScale * config.attnScale);
    out.query_pre_attn_scalar = Math.abs(q - Math.round(q)) < 1e-9 ? Math.round(q) : q;
    out.attn_logit_softcapping = config.attnSoftcap ?? null;
    out.final_logit_softcapping = config.finalSoftcap ?? null;
    out.sliding_window = config.slidingWindow ?? 4096;
  } else if (config.slidingWindow !== undefined) {
    out.sliding_window = config.slidingWindow;
    out.use_sliding_window = true;
  }
  if (config.slidingWindowLayers) {
    const set = new Set(config.slidingWindowLayers);
    out.layer_types = Array.from({ length: config.nLayers }, (_, i) =>
      set.has(i) ? 'sliding_attention' : 'full_attention',
    );
  }
  return out;
}
