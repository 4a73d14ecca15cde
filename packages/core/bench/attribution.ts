/**
 * Attribution benchmarks, measured in the same run as the PyTorch peer (bench/peer/attribution_peer.py):
 *
 * 1. Peer comparison: a random GPT-2-style model (6 layers, d_model 256, 4 heads, d_mlp 1024, vocab 4096) with a
 *    random JumpReLU PLT of width 2048 (mlp.hook_in → mlp.hook_out), a 64-token prompt, every active feature
 *    explored, batches of 64 rows, 2 threads each. Both sides do phase 0 and every row; the peer prints
 *    Σ|rows| so the two results are checked against each other. Goal: Loupe ≤ 0.5 × PyTorch's time.
 * 2. Scaling: attribution time and peak RSS at 32/128/512/1024 tokens on the shipped organism-m with its
 *    shipped PLT (width 2048), max_feature_nodes 1024. Each length runs in its own process so its peak RSS is
 *    its own.
 *
 *   pnpm --filter @loupe/core exec tsx bench/attribution.ts     (BENCH_REPS, BENCH_THREADS, BENCH_SCALE=0 to skip 2)
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { attribute } from '../src/attribution/trace-attribute.ts';
import { loadDictionary } from '../src/dictionary/load.ts';
import { type Dictionary, type DictionaryLayer, memoryDecoder } from '../src/dictionary/types.ts';
import { loadCheckpoint } from '../src/io/checkpoint.ts';
import { writeSafetensors } from '../src/io/safetensors.ts';
import type { ModelConfig } from '../src/model/config.ts';
import { initWeights, seededRandom } from '../src/model/init.ts';
import { Model } from '../src/model/model.ts';
import { flattenWeights } from '../src/model/transformer.ts';
import type { ModelWeights } from '../src/model/weights.ts';
import { nodeFiles } from '../src/node/files.ts';
import { nodeRuntime } from '../src/node/runtime.ts';
import { type F32, f32 } from '../src/tensor/host.ts';
import { gpt2BenchConfig } from './models.ts';

const reps = Number(process.env.BENCH_REPS ?? 2);
const threads = Number(process.env.BENCH_THREADS ?? 2);
const BATCH = 64;

const gpt2Config = gpt2BenchConfig(6, 64);

function normal(shape: number[], std: number, rand: () => number): F32 {
  const t = f32(shape);
  for (let i = 0; i < t.data.length; i++) {
    t.data[i] = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand()) * std;
  }
  return t;
}

/**
 * Random JumpReLU PLT: encoder rows of norm ≈ 1 on unit-variance inputs give pre-activations ≈ N(0, 1), so a
 * threshold of 2 keeps ≈ 2.3% of the features (L0 ≈ 47 at width 2048).
 */
function randomPlt(config: ModelConfig, width: number, seed: number): Dictionary {
  const d = config.dModel;
  const rand = seededRandom(seed);
  const layers: DictionaryLayer[] = Array.from({ length: config.nLayers }, (_, l) => ({
    layer: l,
    wEnc: normal([width, d], 1 / Math.sqrt(d), rand),
    bEnc: f32([width]),
    wDec: normal([width, d], 0.1 / Math.sqrt(d), rand),
    bDec: f32([d]),
    threshold: f32([width], new Float32Array(width).fill(2)),
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

function promptTokens(T: number, dVocab: number): Int32Array {
  return Int32Array.from({ length: T }, (_, i) => (i * 2654435761 + 17) % dVocab);
}

function checksum(values: Float32Array): number {
  let s = 0;
  for (const v of values) s += Math.abs(v);
  return s;
}

async function timeAttribution(model: Model, dict: Dictionary, tokens: Int32Array, maxFeatureNodes?: number) {
  const t0 = performance.now();
  const graph = await attribute(model, dict, { tokens }, { batchSize: BATCH, maxFeatureNodes });
  return { ms: performance.now() - t0, graph };
}

async function compareWithPeer(): Promise<Record<string, unknown>> {
  const config = gpt2Config;
  const weights = initWeights(config, { seed: 0, std: 0.02 });
  const dict = randomPlt(config, 2048, 1);
  const tokens = promptTokens(64, config.dVocab);
  const rt = nodeRuntime({ intraOpNumThreads: threads });
  const model = await Model.create(config, weights, undefined, rt);
  let best = Number.POSITIVE_INFINITY;
  let graph: Awaited<ReturnType<typeof timeAttribution>>['graph'] | undefined;
  for (let i = 0; i < reps; i++) {
    const r = await timeAttribution(model, dict, tokens);
    best = Math.min(best, r.ms);
    graph = r.graph;
  }
  await rt.release();
  if (graph?.adjacency.kind !== 'csr') throw new Error('bench: expected a CSR graph');
  const loupe = {
    ms: best,
    nActive: graph.activeFeatures.length / 3,
    nLogits: graph.logitTargets.length,
    checksum: checksum(graph.adjacency.values),
  };

  const dir = await mkdtemp(join(tmpdir(), 'loupe-attr-bench-'));
  try {
    const file = join(dir, 'weights.safetensors');
    await writeFile(file, writeSafetensors(peerTensors(weights, dict)));
    const env: NodeJS.ProcessEnv = { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' };
    delete env.OPENBLAS_CORETYPE;
    delete env.OPENBLAS_L2_SIZE;
    const peer = spawnSync(
      '/usr/bin/python3',
      [
        fileURLToPath(new URL('./peer/attribution_peer.py', import.meta.url)),
        JSON.stringify({ ...config, weights: file, tokens: Array.from(tokens), batch: BATCH, threads, reps }),
      ],
      { env, encoding: 'utf8', maxBuffer: 1 << 24 },
    );
    if (peer.status !== 0)
      return {
        loupe,
        torch: `PyTorch peer unavailable (needs Debian python3-torch + libopenblas0-pthread): ${peer.stderr.trim().split('\n').pop()}`,
      };
    const torch = JSON.parse(peer.stdout.trim().split('\n').pop() as string) as typeof loupe;
    return {
      loupe,
      torch,
      loupeOverTorch: loupe.ms / torch.ms,
      checksumRelDiff: Math.abs(loupe.checksum - torch.checksum) / torch.checksum,
      sameNodes: loupe.nActive === torch.nActive && loupe.nLogits === torch.nLogits,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function peerTensors(weights: ModelWeights, dict: Dictionary): Record<string, F32> {
  const out = flattenWeights(weights);
  dict.layers.forEach((l, i) => {
    out[`tc.${i}.wEnc`] = l.wEnc;
    out[`tc.${i}.bEnc`] = l.bEnc;
    out[`tc.${i}.wDec`] = l.wDec as F32;
    out[`tc.${i}.bDec`] = l.bDec;
    out[`tc.${i}.threshold`] = l.threshold as F32;
  });
  return out;
}

const SCALE_FEATURE_NODES = 1024;
const ORGANISM_M = fileURLToPath(new URL('../../organism/models/organism-m', import.meta.url));

/** One length of the scaling series (run in a child process). */
async function scaleOne(T: number): Promise<Record<string, unknown>> {
  // Sampled rather than getrusage's maxRSS, which Linux carries over from the parent across fork + exec.
  let peak = 0;
  const sample = () => {
    peak = Math.max(peak, process.memoryUsage.rss());
  };
  const timer = setInterval(sample, 20);
  const files = nodeFiles();
  const ckpt = await loadCheckpoint(ORGANISM_M, files);
  // organism-m was trained on 64-token documents; RoPE lets it run longer prompts, which is what this measures.
  const config = { ...ckpt.config, nCtx: 1024 };
  const rt = nodeRuntime({ intraOpNumThreads: threads });
  const model = await Model.create(config, ckpt.weights, ckpt.tokenizer, rt);
  const dict = await loadDictionary(join(ORGANISM_M, 'dictionaries', 'plt-2048'), files);
  const { ms, graph } = await timeAttribution(
    model,
    dict,
    // Led by the organism's BOS, so attribution prepends nothing and the prompt is exactly T tokens.
    Int32Array.of(config.bosTokenId ?? 1, ...promptTokens(T - 1, config.dVocab)),
    SCALE_FEATURE_NODES,
  );
  await rt.release();
  sample();
  clearInterval(timer);
  return {
    T,
    ms,
    nActive: graph.activeFeatures.length / 3,
    featureRows: graph.selectedFeatures.length,
    peakRssMB: Math.round(peak / 2 ** 20),
  };
}

async function main() {
  const arg = process.argv.indexOf('--scale-one');
  if (arg >= 0) {
    console.log(JSON.stringify(await scaleOne(Number(process.argv[arg + 1]))));
    return;
  }
  console.log(
    JSON.stringify({ bench: 'attribution vs torch', batch: BATCH, threads, ...(await compareWithPeer()) }),
  );
  if (process.env.BENCH_SCALE === '0') return;
  const series: Record<string, unknown>[] = [];
  for (const T of [32, 128, 512, 1024]) {
    const child = spawnSync(
      process.execPath,
      [...process.execArgv, fileURLToPath(import.meta.url), '--scale-one', String(T)],
      {
        encoding: 'utf8',
        env: process.env,
        maxBuffer: 1 << 24,
      },
    );
    if (child.status !== 0) {
      series.push({ T, error: child.stderr.trim().split('\n').slice(-3).join(' | ') });
      continue;
    }
    series.push(JSON.parse(child.stdout.trim().split('\n').pop() as string));
  }
  const first = series[0] as { T: number; ms?: number };
  const growth = series.map((s) => {
    const r = s as { T: number; ms?: number };
    return r.ms && first.ms ? { T: r.T, timeRatio: r.ms / first.ms, lengthRatio: r.T / first.T } : { T: r.T };
  });
  console.log(
    JSON.stringify({
      bench: 'attribution scaling (shipped organism-m with its PLT)',
      maxFeatureNodes: SCALE_FEATURE_NODES,
      series,
      growth,
    }),
  );
}

await main();
