/**
 * Training a transformer defined by buildTransformer: next-token cross-entropy on (tokens, targets),
 * with an optional loss mask. Tied embeddings train one matrix, used transposed as the unembedding.
 */
import type { ModelConfig } from '../model/config.ts';
import { buildTransformer, flattenWeights, mapWeights } from '../model/transformer.ts';
import type { ModelWeights } from '../model/weights.ts';
import type { F32 } from '../tensor/host.ts';
import { crossEntropy, type TrainingSpec } from './training.ts';

export interface TransformerTrainingOptions {
  /** Adds a float32 input `mask` [B, T]; only positions with mask 1 count in the loss. */
  masked?: boolean;
}

/** Trainable parameters of a model: every weight, except the unembedding when it is tied. */
export function transformerParameters(config: ModelConfig, weights: ModelWeights): Record<string, F32> {
  const all = flattenWeights(weights);
  if (config.tiedEmbeddings) delete all.unembed;
  return all;
}

/** Inputs: `tokens` and `targets`, int32 [B, T] (and `mask`, float32 [B, T], when masked). */
export function transformerTrainingSpec(
  config: ModelConfig,
  weights: ModelWeights,
  options: TransformerTrainingOptions = {},
): TrainingSpec {
  return {
    params: transformerParameters(config, weights),
    inputs: {
      tokens: { dtype: 'int32', shape: ['B', 'T'] },
      targets: { dtype: 'int32', shape: ['B', 'T'] },
      ...(options.masked ? { mask: { dtype: 'float32' as const, shape: ['B', 'T'] } } : {}),
    },
    loss: (g, p, x) => {
      const tree = mapWeights(weights, (path) => p[path]);
      if (config.tiedEmbeddings) tree.unembed = g.transpose(p.embed, [1, 0]); // not a parameter of its own
      const { logits } = buildTransformer(g, config, tree, x.tokens);
      return crossEntropy(g, logits, x.targets, x.mask);
    },
  };
}

/** Rebuilds ModelWeights from trained parameters (re-deriving a tied unembedding). */
export function weightsFromParameters(
  config: ModelConfig,
  template: ModelWeights,
  params: Record<string, F32>,
): ModelWeights {
  const w = mapWeights(template, (path, v) => {
    if (path === 'unembed' && config.tiedEmbeddings) return v;
    const p = params[path];
    if (!p) throw new Error(`missing parameter '${path}'`);
    return p;
  }) as ModelWeights;
  if (config.tiedEmbeddings) {
    const e = params.embed;
    const [V, d] = e.shape;
    const u = new Float32Array(V * d);
    for (let v = 0; v < V; v++) for (let i = 0; i < d; i++) u[i * V + v] = e.data[v * d + i];
    w.unembed = { dtype: 'float32', shape: [d, V], data: u };
  }
  return w;
}
