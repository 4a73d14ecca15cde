/**
 * The random checkpoints and PLTs the attribution benchmarks trace, written to disk so that `pnpm loupe
 * attribute` and the PyTorch peer each load them as a user would (the whole process is what is compared).
 */
import { writeDictionary } from '../src/dictionary/load.ts';
import { type Dictionary, type DictionaryLayer, memoryDecoder } from '../src/dictionary/types.ts';
import { saveCheckpoint } from '../src/io/checkpoint-save.ts';
import type { ModelConfig } from '../src/model/config.ts';
import { initWeights, seededRandom } from '../src/model/init.ts';
import type { ModelWeights } from '../src/model/weights.ts';
import { nodeFiles } from '../src/node/files.ts';
import { type F32, f32 } from '../src/tensor/host.ts';

/** The table config: Llama-style, 6 layers, d_model 256, 8 heads over 4 KV heads, vocab 2048. */
export function llamaBenchConfig(nCtx: number): ModelConfig {
  return {
    architecture: 'llama',
    hfArchitecture: 'LlamaForCausalLM',
    nLayers: 6,
    dModel: 256,
    nHeads: 8,
    nKvHeads: 4,
    dHead: 32,
    dMlp: 1024,
    dVocab: 2048,
    nCtx,
    norm: 'rmsnorm',
    normEps: 1e-5,
    act: 'silu',
    gatedMlp: true,
    positional: 'rope',
    rope: { theta: 10000 },
    attnScale: 1 / Math.sqrt(32),
    postNorms: false,
    qkNorm: false,
    attnBias: false,
    mlpBias: false,
    tiedEmbeddings: false,
    bosTokenId: 1,
  };
}

function normal(shape: number[], std: number, rand: () => number): F32 {
  const t = f32(shape);
  for (let i = 0; i < t.data.length; i++) {
    t.data[i] = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand()) * std;
  }
  return t;
}

/**
 * Random JumpReLU PLT (mlp.hook_in → mlp.hook_out): encoder rows of norm ≈ 1 on inputs of unit RMS give
 * pre-activations ≈ N(0, 1), so the threshold sets the active fraction (2 keeps ≈ 2.3%, 2.2 ≈ 1.4%).
 */
export function randomPlt(config: ModelConfig, width: number, threshold: number, seed: number): Dictionary {
  const d = config.dModel;
  const rand = seededRandom(seed);
  const layers: DictionaryLayer[] = Array.from({ length: config.nLayers }, (_, l) => ({
    layer: l,
    wEnc: normal([width, d], 1 / Math.sqrt(d), rand),
    bEnc: f32([width]),
    wDec: normal([width, d], 0.1 / Math.sqrt(d), rand),
    bDec: f32([d]),
    threshold: f32([width], new Float32Array(width).fill(threshold)),
  }));
  return {
    kind: 'plt',
    dModel: d,
    dTc: width,
    layers,
    activation: { kind: 'jumprelu', rectify: false },
    hooks: { input: 'mlp.hook_in', output: 'mlp.hook_out' },
    dtype: 'float32',
    applyBDecToInput: false,
    decoder: memoryDecoder(layers),
    lazyDecoder: false,
    meta: { scan: 'bench' },
    close: async () => {},
  };
}

export function promptTokens(T: number, dVocab: number): Int32Array {
  return Int32Array.from({ length: T }, (_, i) => (i * 2654435761 + 17) % dVocab);
}

export interface DiskFixture {
  config: ModelConfig;
  weights: ModelWeights;
  dict: Dictionary;
  modelDir: string;
  dictDir: string;
}

/** Writes a Hugging Face checkpoint and a circuit-tracer PLT under `dir`. */
export async function writeFixture(
  dir: string,
  config: ModelConfig,
  threshold: number,
  width = 2048,
): Promise<DiskFixture> {
  const files = nodeFiles();
  const weights = initWeights(config, { seed: 0, std: 0.02 });
  const dict = randomPlt(config, width, threshold, 1);
  const modelDir = files.join(dir, 'model');
  const dictDir = files.join(dir, 'plt');
  await saveCheckpoint(modelDir, config, weights, files);
  await writeDictionary(dictDir, files, dict);
  return { config, weights, dict, modelDir, dictDir };
}
