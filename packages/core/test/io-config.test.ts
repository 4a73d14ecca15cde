import { describe, expect, it } from 'vitest';
import { parseHfConfig, toHfConfig } from '../src/io/config.ts';

const gpt2 = {
  architectures: ['GPT2LMHeadModel'],
  vocab_size: 50257,
  n_embd: 768,
  n_head: 12,
  n_layer: 12,
  n_positions: 1024,
  n_inner: null,
  layer_norm_epsilon: 1e-5,
  activation_function: 'gelu_new',
  bos_token_id: 50256,
  eos_token_id: 50256,
};

const llama32 = {
  architectures: ['LlamaForCausalLM'],
  vocab_size: 128256,
  hidden_size: 2048,
  intermediate_size: 8192,
  num_hidden_layers: 16,
  num_attention_heads: 32,
  num_key_value_heads: 8,
  head_dim: 64,
  max_position_embeddings: 131072,
  rms_norm_eps: 1e-5,
  rope_theta: 500000,
  rope_scaling: {
    factor: 32,
    high_freq_factor: 4,
    low_freq_factor: 1,
    original_max_position_embeddings: 8192,
    rope_type: 'llama3',
  },
  hidden_act: 'silu',
  tie_word_embeddings: true,
  bos_token_id: 128000,
  eos_token_id: [128001, 128008, 128009],
};

const gemma2 = {
  architectures: ['Gemma2ForCausalLM'],
  vocab_size: 256000,
  hidden_size: 2304,
  intermediate_size: 9216,
  num_hidden_layers: 26,
  num_attention_heads: 8,
  num_key_value_heads: 4,
  head_dim: 256,
  max_position_embeddings: 8192,
  rms_norm_eps: 1e-6,
  rope_theta: 10000,
  hidden_act: 'gelu_pytorch_tanh',
  hidden_activation: 'gelu_pytorch_tanh',
  query_pre_attn_scalar: 256,
  attn_logit_softcapping: 50,
  final_logit_softcapping: 30,
  sliding_window: 4096,
  bos_token_id: 2,
  eos_token_id: 1,
  pad_token_id: 0,
};

const qwen2 = {
  architectures: ['Qwen2ForCausalLM'],
  vocab_size: 151936,
  hidden_size: 896,
  intermediate_size: 4864,
  num_hidden_layers: 24,
  num_attention_heads: 14,
  num_key_value_heads: 2,
  max_position_embeddings: 32768,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000,
  hidden_act: 'silu',
  tie_word_embeddings: true,
  use_sliding_window: false,
  sliding_window: 32768,
  max_window_layers: 21,
  bos_token_id: 151643,
  eos_token_id: 151643,
};

const qwen3 = {
  architectures: ['Qwen3ForCausalLM'],
  vocab_size: 151936,
  hidden_size: 1024,
  intermediate_size: 3072,
  num_hidden_layers: 28,
  num_attention_heads: 16,
  num_key_value_heads: 8,
  head_dim: 128,
  max_position_embeddings: 40960,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000,
  hidden_act: 'silu',
  attention_bias: false,
  tie_word_embeddings: true,
};

describe('parseHfConfig', () => {
  it('maps GPT-2', () => {
    const c = parseHfConfig(gpt2);
    expect(c).toMatchObject({
      architecture: 'gpt2',
      nLayers: 12,
      dModel: 768,
      nHeads: 12,
      nKvHeads: 12,
      dHead: 64,
      dMlp: 3072,
    });
    expect(c).toMatchObject({
      norm: 'layernorm',
      positional: 'learned',
      act: 'gelu_new',
      attnBias: true,
      tiedEmbeddings: true,
    });
    expect(c.attnScale).toBeCloseTo(1 / 8, 12);
    expect(c.bosTokenId).toBe(50256);
  });

  it('maps Llama 3.2 with llama3 rope scaling and a list of eos ids', () => {
    const c = parseHfConfig(llama32);
    expect(c).toMatchObject({
      architecture: 'llama',
      nKvHeads: 8,
      dHead: 64,
      gatedMlp: true,
      norm: 'rmsnorm',
      normEps: 1e-5,
    });
    expect(c.rope).toEqual({
      theta: 500000,
      scaling: {
        type: 'llama3',
        factor: 32,
        lowFreqFactor: 1,
        highFreqFactor: 4,
        originalMaxPositionEmbeddings: 8192,
      },
    });
    expect(c.eosTokenId).toBe(128001);
    expect(c.tiedEmbeddings).toBe(true);
    expect(c.slidingWindow).toBeUndefined();
  });

  it('maps linear rope scaling (legacy `type` key)', () => {
    const c = parseHfConfig({ ...llama32, rope_scaling: { type: 'linear', factor: 2 } });
    expect(c.rope?.scaling).toEqual({ type: 'linear', factor: 2 });
  });

  it('maps Gemma-2: scalar, soft-caps, embed scale, even layers local', () => {
    const c = parseHfConfig(gemma2);
    expect(c.attnScale).toBeCloseTo(1 / 16, 12);
    expect(c).toMatchObject({
      attnSoftcap: 50,
      finalSoftcap: 30,
      postNorms: true,
      slidingWindow: 4096,
      tiedEmbeddings: true,
    });
    expect(c.embedScale).toBeCloseTo(Math.sqrt(2304), 10);
    expect(c.slidingWindowLayers).toEqual(Array.from({ length: 13 }, (_, i) => 2 * i));
    expect(c.act).toBe('gelu_pytorch_tanh');
  });

  it('maps Qwen2 (q/k/v bias always on, sliding window off unless enabled)', () => {
    const c = parseHfConfig(qwen2);
    expect(c).toMatchObject({ architecture: 'qwen2', attnBias: true, dHead: 64, nKvHeads: 2, qkNorm: false });
    expect(c.slidingWindow).toBeUndefined();
    const s = parseHfConfig({ ...qwen2, use_sliding_window: true });
    expect(s.slidingWindowLayers).toEqual([21, 22, 23]);
  });

  it('maps Qwen3 with q/k norms', () => {
    const c = parseHfConfig(qwen3);
    expect(c).toMatchObject({ architecture: 'qwen3', qkNorm: true, attnBias: false, dHead: 128 });
  });

  it('round-trips through toHfConfig for every architecture', () => {
    for (const raw of [gpt2, llama32, gemma2, qwen2, qwen3, { ...qwen2, use_sliding_window: true }]) {
      const c = parseHfConfig(raw);
      expect(parseHfConfig(toHfConfig(c))).toEqual(c);
    }
  });

  it('names an unknown architecture and lists the supported ones', () => {
    expect(() => parseHfConfig({ ...gpt2, architectures: ['MambaForCausalLM'] })).toThrow(
      /unsupported architecture 'MambaForCausalLM' \(supported: GPT2LMHeadModel, LlamaForCausalLM, Gemma2ForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM\)/,
    );
    expect(() => parseHfConfig({})).toThrow(/field 'architectures'/);
    expect(() => parseHfConfig('nope')).toThrow(/field 'architectures'/);
  });

  it('names missing and invalid fields', () => {
    const { hidden_size: _, ...noHidden } = llama32;
    expect(() => parseHfConfig(noHidden)).toThrow(/field 'hidden_size' is missing or invalid/);
    expect(() => parseHfConfig({ ...gpt2, n_head: -1 })).toThrow(/field 'n_head'/);
    expect(() => parseHfConfig({ ...gpt2, n_head: 7 })).toThrow(/not divisible by n_head 7/);
    expect(() => parseHfConfig({ ...llama32, num_key_value_heads: 5 })).toThrow(
      /not a multiple of num_key_value_heads 5/,
    );
    expect(() => parseHfConfig({ ...llama32, hidden_act: 'mish' })).toThrow(
      /field 'hidden_act'.*unsupported activation 'mish'/,
    );
    expect(() => parseHfConfig({ ...llama32, rope_scaling: { rope_type: 'yarn', factor: 4 } })).toThrow(
      /unsupported rope_scaling type 'yarn'/,
    );
    expect(() => parseHfConfig({ ...llama32, rope_scaling: { rope_type: 'llama3', factor: 4 } })).toThrow(
      /rope_scaling.low_freq_factor/,
    );
    expect(() => parseHfConfig({ ...gemma2, layer_types: ['full_attention'] })).toThrow(
      /layer_types' has 1 entries for 26 layers/,
    );
    expect(() => parseHfConfig({ ...llama32, mlp_bias: true })).toThrow(/field 'mlp_bias'.*not supported/);
    expect(() => parseHfConfig({ ...gpt2, scale_attn_by_inverse_layer_idx: true })).toThrow(
      /scale_attn_by_inverse_layer_idx/,
    );
  });

  it('bounds every dimension, so no config.json can size an absurd allocation', () => {
    const over: [Record<string, unknown>, string][] = [
      [{ ...gpt2, vocab_size: 2 ** 40 }, 'vocab_size'],
      [{ ...gpt2, n_embd: 2 ** 20, n_head: 16 }, 'n_embd'],
      [{ ...gpt2, n_layer: 1e6 }, 'n_layer'],
      [{ ...gpt2, n_inner: 2 ** 31 }, 'n_inner'],
      [{ ...gpt2, n_positions: 2 ** 30 }, 'n_positions'],
      [{ ...llama32, hidden_size: 2 ** 20 }, 'hidden_size'],
      [{ ...llama32, intermediate_size: 2 ** 24 }, 'intermediate_size'],
      [{ ...llama32, num_hidden_layers: 5000 }, 'num_hidden_layers'],
      [{ ...llama32, num_attention_heads: 4096 }, 'num_attention_heads'],
      [{ ...llama32, num_key_value_heads: 4096 }, 'num_key_value_heads'],
      [{ ...llama32, head_dim: 65536 }, 'head_dim'],
      [{ ...llama32, max_position_embeddings: 2 ** 40 }, 'max_position_embeddings'],
      [{ ...llama32, rope_theta: 1e300 }, 'rope_theta'],
      [{ ...llama32, eos_token_id: Array(2000).fill(1) }, 'eos_token_id'],
      [
        { ...llama32, rope_scaling: { ...llama32.rope_scaling, original_max_position_embeddings: 2 ** 40 } },
        'rope_scaling.original_max_position_embeddings',
      ],
    ];
    for (const [json, field] of over) {
      expect(() => parseHfConfig(json), field).toThrow(`field '${field}' is missing or invalid`);
    }
  });
});
