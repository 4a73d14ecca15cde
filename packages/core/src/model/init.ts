/**
 * Fresh weights for a config: GPT-2-style initialisation (normal, std 0.02; residual projections scaled by
 * 1/sqrt(2·nLayers)), unit norm weights, zero biases. Seeded, so tests and trainings are reproducible.
 */
import type { ModelConfig } from './config.ts';
import { f32, type F32 } from '../tensor/host.ts';
import type { LayerWeights, ModelWeights, NormWeights } from './weights.ts';

/** mulberry32 uniform [0, 1) generator. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

export interface InitOptions {
  seed?: number;
  std?: number;
  /** Random (not unit / zero) norm weights and biases: for tests that must see every parameter matter. */
  randomNorms?: boolean;
}

export function initWeights(config: ModelConfig, options: InitOptions = {}): ModelWeights {
  const rand = seededRandom(options.seed ?? 0);
  const std = options.std ?? 0.02;
  const normal = (shape: number[], s = std): F32 => {
    const t = f32(shape);
    for (let i = 0; i < t.data.length; i += 2) {
      const r = Math.sqrt(-2 * Math.log(1 - rand()));
      const th = 2 * Math.PI * rand();
      t.data[i] = r * Math.cos(th) * s;
      if (i + 1 < t.data.length) t.data[i + 1] = r * Math.sin(th) * s;
    }
    return t;
  };
  const bias = (n: number): F32 => (options.randomNorms ? normal([n], 0.1) : f32([n]));
  const normW = (n: number, withBias: boolean): NormWeights => {
    const w = options.randomNorms ? normal([n], 0.2) : f32([n]);
    for (let i = 0; i < n; i++) w.data[i] += 1;
    return withBias ? { w, b: bias(n) } : { w };
  };
  const { dModel: d, nHeads: H, nKvHeads: Hkv, dHead: dh, dMlp: m, dVocab: V } = config;
  const ln = config.norm === 'layernorm';
  const resStd = std / Math.sqrt(2 * config.nLayers);
  const layers: LayerWeights[] = [];
  for (let l = 0; l < config.nLayers; l++) {
    layers.push({
      ln1: normW(d, ln),
      attn: {
        wQ: normal([d, H * dh]),
        wK: normal([d, Hkv * dh]),
        wV: normal([d, Hkv * dh]),
        wO: normal([H * dh, d], resStd),
        ...(config.attnBias ? { bQ: bias(H * dh), bK: bias(Hkv * dh), bV: bias(Hkv * dh) } : {}),
        ...(config.architecture === 'gpt2' ? { bO: bias(d) } : {}),
        ...(config.qkNorm ? { qNorm: normW(dh, false), kNorm: normW(dh, false) } : {}),
      },
      ...(config.postNorms ? { ln1Post: normW(d, false), ln2Post: normW(d, false) } : {}),
      ln2: normW(d, ln),
      mlp: {
        wIn: normal([d, m]),
        wOut: normal([m, d], resStd),
        ...(config.gatedMlp ? { wGate: normal([d, m]) } : {}),
        ...(config.mlpBias ? { bIn: bias(m), bOut: bias(d) } : {}),
      },
    });
  }
  const embed = normal([V, d]);
  let unembed: F32;
  if (config.tiedEmbeddings) {
    unembed = f32([d, V]);
    for (let v = 0; v < V; v++) for (let i = 0; i < d; i++) unembed.data[i * V + v] = embed.data[v * d + i];
  } else unembed = normal([d, V]);
  return {
    embed,
    ...(config.positional === 'learned' ? { posEmbed: normal([config.nCtx, d], std / 2) } : {}),
    layers,
    lnFinal: normW(d, ln),
    unembed,
  };
}
