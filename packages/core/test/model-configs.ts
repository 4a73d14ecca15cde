import type { Architecture, ModelConfig } from '../src/model/config.ts';

/** Tiny configs of every architecture, with each special feature switched on. */
export function tinyConfig(arch: Architecture): ModelConfig {
  const base: ModelConfig = {
    architecture: arch,
    hfArchitecture: arch,
    nLayers: 2,
    dModel: 16,
    nHeads: 4,
    nKvHeads: 2,
    dHead: 4,
    dMlp: 24,
    dVocab: 40,
    nCtx: 16,
    norm: 'rmsnorm',
    normEps: 1e-6,
    act: 'silu',
    gatedMlp: true,
    positional: 'rope',
    rope: { theta: 10000 },
    attnScale: 0.5,
    postNorms: false,
    qkNorm: false,
    attnBias: false,
    mlpBias: false,
    tiedEmbeddings: false,
  };
  switch (arch) {
    case 'gpt2':
      return {
        ...base,
        nKvHeads: 4,
        norm: 'layernorm',
        normEps: 1e-5,
        act: 'gelu_new',
        gatedMlp: false,
        positional: 'learned',
        rope: undefined,
        attnBias: true,
        mlpBias: true,
        tiedEmbeddings: true,
      };
    case 'llama':
      return {
        ...base,
        rope: {
          theta: 500000,
          scaling: {
            type: 'llama3',
            factor: 8,
            lowFreqFactor: 1,
            highFreqFactor: 4,
            originalMaxPositionEmbeddings: 8,
          },
        },
      };
    case 'gemma2':
      return {
        ...base,
        dHead: 8,
        act: 'gelu_pytorch_tanh',
        attnScale: 1 / Math.sqrt(6),
        attnSoftcap: 2,
        finalSoftcap: 3,
        slidingWindow: 3,
        slidingWindowLayers: [0],
        embedScale: 4,
        postNorms: true,
        tiedEmbeddings: true,
      };
    case 'qwen2':
      return { ...base, attnBias: true };
    case 'qwen3':
      return { ...base, qkNorm: true, rope: { theta: 1000000 } };
  }
}

export const ARCHITECTURES: Architecture[] = ['gpt2', 'llama', 'gemma2', 'qwen2', 'qwen3'];
