import type { ModelConfig } from '@loupe/core';
import type { OrganismTokenizer } from './tokenizer.ts';

export type OrganismSize = 's' | 'm';

/** Shape of each organism. m has ≈3× the parameters of s (see `parameterCount`), as case study 1 compares. */
export const SIZES: Readonly<
  Record<OrganismSize, { nLayers: number; dModel: number; nHeads: number; dMlp: number }>
> = {
  s: { nLayers: 4, dModel: 128, nHeads: 4, dMlp: 384 },
  m: { nLayers: 6, dModel: 192, nHeads: 6, dMlp: 576 },
};

export const ORGANISM_N_CTX = 64;

/**
 * A Llama-style config (RMSNorm, RoPE, SwiGLU, tied embeddings): it is written as an ordinary Hugging Face
 * LlamaForCausalLM config.json, so the organism loads through the same path as external checkpoints.
 */
export function organismConfig(size: OrganismSize, tok: OrganismTokenizer): ModelConfig {
  const s = SIZES[size];
  const dHead = s.dModel / s.nHeads;
  return {
    architecture: 'llama',
    hfArchitecture: 'LlamaForCausalLM',
    nLayers: s.nLayers,
    dModel: s.dModel,
    nHeads: s.nHeads,
    nKvHeads: s.nHeads,
    dHead,
    dMlp: s.dMlp,
    dVocab: tok.vocab.length,
    nCtx: ORGANISM_N_CTX,
    norm: 'rmsnorm',
    normEps: 1e-5,
    act: 'silu',
    gatedMlp: true,
    positional: 'rope',
    rope: { theta: 10_000 },
    attnScale: 1 / Math.sqrt(dHead),
    postNorms: false,
    qkNorm: false,
    attnBias: false,
    mlpBias: false,
    tiedEmbeddings: true,
    bosTokenId: tok.bosId,
    eosTokenId: tok.eosId,
    padTokenId: tok.padId,
  };
}

/** Trainable parameters of a config of this family (embedding counted once: it is tied). */
export function parameterCount(c: ModelConfig): number {
  const attn = c.dModel * c.dHead * (2 * c.nHeads + 2 * c.nKvHeads);
  const mlp = 3 * c.dModel * c.dMlp;
  const norms = 2 * c.dModel;
  return c.nLayers * (attn + mlp + norms) + c.dVocab * c.dModel + c.dModel;
}
