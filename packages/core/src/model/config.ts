/**
 * The normalised description of a transformer, whatever checkpoint it came from.
 * `parseHfConfig` (io) maps Hugging Face config.json onto it; every later stage reads only this.
 */
export type Architecture = 'gpt2' | 'llama' | 'gemma2' | 'qwen2' | 'qwen3';

export type Activation = 'gelu_new' | 'gelu' | 'gelu_pytorch_tanh' | 'silu' | 'relu';

export type RopeScaling =
  | { type: 'linear'; factor: number }
  | {
      type: 'llama3';
      factor: number;
      lowFreqFactor: number;
      highFreqFactor: number;
      originalMaxPositionEmbeddings: number;
    };

export interface ModelConfig {
  architecture: Architecture;
  /** As written in config.json, e.g. 'LlamaForCausalLM'. */
  hfArchitecture: string;
  nLayers: number;
  dModel: number;
  nHeads: number;
  nKvHeads: number;
  dHead: number;
  dMlp: number;
  dVocab: number;
  nCtx: number;
  norm: 'layernorm' | 'rmsnorm';
  normEps: number;
  act: Activation;
  /** SwiGLU / GeGLU: mlp = wOut(act(x wGate) * (x wIn)). */
  gatedMlp: boolean;
  positional: 'learned' | 'rope';
  rope?: { theta: number; scaling?: RopeScaling /** rotary dims (≤ dHead), default dHead */; dim?: number };
  /** Multiplier applied to q·k before softmax: 1/sqrt(dHead), or query_pre_attn_scalar^-1/2 for Gemma-2. */
  attnScale: number;
  /** tanh soft-capping of attention scores (Gemma-2: 50). */
  attnSoftcap?: number;
  /** tanh soft-capping of the final logits (Gemma-2: 30). */
  finalSoftcap?: number;
  /** Local attention window; `slidingWindowLayers` says which layers use it. */
  slidingWindow?: number;
  slidingWindowLayers?: number[];
  /** Multiplier on the token embedding (Gemma: sqrt(dModel)). */
  embedScale?: number;
  /** Gemma-2: RMSNorm after attention and after the MLP, before adding to the residual stream. */
  postNorms: boolean;
  /** Qwen3: per-head RMSNorm on q and k. */
  qkNorm: boolean;
  attnBias: boolean;
  mlpBias: boolean;
  tiedEmbeddings: boolean;
  bosTokenId?: number;
  eosTokenId?: number;
  padTokenId?: number;
}
