import type { F32 } from '../tensor/host.ts';

/**
 * Canonical weights, independent of the checkpoint's naming. Every matrix is stored so that it is applied as
 * `x @ W` (shape [in, out]); loaders transpose HF's Linear layout ([out, in]) and keep GPT-2's Conv1D as is.
 * Gemma's (1 + w) RMSNorm scale is folded at load time: `w` here is always the effective multiplier.
 */
export interface NormWeights {
  w: F32; // [d]
  b?: F32; // [d], LayerNorm only
}

export interface AttentionWeights {
  wQ: F32; // [dModel, nHeads*dHead]
  wK: F32; // [dModel, nKvHeads*dHead]
  wV: F32; // [dModel, nKvHeads*dHead]
  wO: F32; // [nHeads*dHead, dModel]
  bQ?: F32; // [nHeads*dHead]
  bK?: F32; // [nKvHeads*dHead]
  bV?: F32; // [nKvHeads*dHead]
  bO?: F32; // [dModel]
  qNorm?: NormWeights; // [dHead], Qwen3
  kNorm?: NormWeights; // [dHead], Qwen3
}

export interface MlpWeights {
  wIn: F32; // [dModel, dMlp] (the "up" projection for gated MLPs)
  bIn?: F32; // [dMlp]
  wGate?: F32; // [dModel, dMlp], gated MLPs only
  wOut: F32; // [dMlp, dModel]
  bOut?: F32; // [dModel]
}

export interface LayerWeights {
  ln1: NormWeights;
  attn: AttentionWeights;
  ln1Post?: NormWeights; // Gemma-2 post-attention norm
  ln2: NormWeights;
  mlp: MlpWeights;
  ln2Post?: NormWeights; // Gemma-2 post-feedforward norm
}

export interface ModelWeights {
  embed: F32; // [dVocab, dModel]
  posEmbed?: F32; // [nCtx, dModel], learned positions only
  layers: LayerWeights[];
  lnFinal: NormWeights;
  unembed: F32; // [dModel, dVocab]
  bUnembed?: F32; // [dVocab]
}
