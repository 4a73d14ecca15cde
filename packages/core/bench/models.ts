import type { ModelConfig } from '../src/model/config.ts';

/**
 * The GPT-2-style model the issues name for the PyTorch comparisons (d_model 256, 4 heads, d_mlp 1024,
 * vocab 4096); the peers build the same architecture from this config.
 */
export function gpt2BenchConfig(nLayers: number, nCtx: number): ModelConfig {
  return {
    architecture: 'gpt2',
    hfArchitecture: 'GPT2LMHeadModel',
    nLayers,
    dModel: 256,
    nHeads: 4,
    nKvHeads: 4,
    dHead: 64,
    dMlp: 1024,
    dVocab: 4096,
    nCtx,
    norm: 'layernorm',
    normEps: 1e-5,
    act: 'gelu_new',
    gatedMlp: false,
    positional: 'learned',
    attnScale: 1 / 8,
    postNorms: false,
    qkNorm: false,
    attnBias: true,
    mlpBias: true,
    tiedEmbeddings: false,
  };
}
