/**
 * Attribution benchmarks, measured in the same run as the PyTorch peer (bench/peer/attribution_peer.py):
 *
 * 1. Peer comparison, whole process: `loupe attribute --out graph.json` (a fresh Node process running the
 *    command `pnpm loupe` runs: apps/cli/loupe.mjs and its bundle, built once before the rounds) against the
 *    peer's whole Python process, on random checkpoints and JumpReLU PLTs of width 2048 written
 *    to disk, 64 tokens, every active feature traced, batches of 64, 2 threads each:
 *    - the table config: Llama-style, 6 layers, d_model 256, 8 heads / 4 KV heads, vocab 2048, ≈1.4%
 *      of the features active per layer and position (≈10.5k active);
 *    - the denser GPT-2-style config (4 heads, d_mlp 1024, vocab 4096, ≈2.3% active).
 *    Runs alternate Loupe, peer, Loupe, peer … (BENCH_REPS rounds, best of each), with the load average printed
 *    beside them since the machine is shared, and each run's CPU time (user + system, from /usr/bin/time when
 *    installed). The peer also prints its attribution phase alone; Loupe's phases are the ones its best run
 *    printed (`--timings`: startup, load, … from process start), plus `exit`, the rest of the whole process
 *    (teardown and the spawn itself). Goal: Loupe ≤ 0.5 × peer.
 * 2. Scaling: time and peak RSS of the whole pipeline (attribution, pruning, graph JSON) at 64/256/1024 tokens
 *    on the shipped organism-m with its PLT and on the table config, max_feature_nodes 1024, each length in its
 *    own process so its peak RSS is its own.
 *
 *   pnpm --filter @loupe/core exec tsx bench/attribution.ts     (BENCH_REPS, BENCH_THREADS, BENCH_SCALE=0 to skip 2)
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createGraphJson } from '../src/attribution/json.ts';
import { attribute } from '../src/attribution/trace-attribute.ts';
import { loadDictionary } from '../src/dictionary/load.ts';
import type { Dictionary } from '../src/dictionary/types.ts';
import { loadCheckpoint } from '../src/io/checkpoint.ts';
import { parseTimings } from '../../../apps/cli/src/timings.ts';
import { writeSafetensors } from '../src/io/safetensors.ts';
import type { ModelConfig } from '../src/model/config.ts';
import { Model } from '../src/model/model.ts';
import { flattenWeights } from '../src/model/transformer.ts';
import type { ModelWeights } from '../src/model/weights.ts';
import { nodeFiles } from '../src/node/files.ts';
import { nodeRuntime } from '../src/node/runtime.ts';
import type { F32 } from '../src/tensor/host.ts';
import { llamaBenchConfig, promptTokens, writeFixture } from './attribution-fixture.ts';
import { gpt2BenchConfig } from './models.ts';

const reps = Number(process.env.BENCH_REPS ?? 3);
const threads = Number(process.env.BENCH_THREADS ?? 2);
const BATCH = 64;
const T = 64;
const CLI = fileURLToPath(new URL('../../../apps/cli/loupe.mjs', import.meta.url));
const TIME = '/usr/bin/time';
const PEER = fileURLToPath(new URL('./peer/attribution_peer.py', import.meta.url));

const load = () => loadavg().map((x) => Number(x.toFixed(2)));

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

const CPU_LINE = /\ncpu-seconds (\S+) (\S+)\n?$/;

/**
 * Wall time of a child process, spawn to exit, and its CPU time (user + system, its threads and children
 * included) when /usr/bin/time is there to measure it; `stderr` is the child's own.
 */
function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv) {
  const withTime = existsSync(TIME);
  const [file, argv] = withTime ? [TIME, ['-f', '\ncpu-seconds %U %S', cmd, ...args]] : [cmd, args];
  const t0 = performance.now();
  const r = spawnSync(file, argv, { env, encoding: 'utf8', maxBuffer: 1 << 26 });
  const ms = performance.now() - t0;
  const cpu = withTime ? CPU_LINE.exec(r.stderr) : null;
  const stderr = cpu ? r.stderr.slice(0, cpu.index) : r.stderr;
  return { ...r, ms, stderr, cpuMs: cpu ? (Number(cpu[1]) + Number(cpu[2])) * 1000 : null };
}

async function compareWithPeer(name: string, config: ModelConfig, threshold: number) {
  const dir = await mkdtemp(join(tmpdir(), 'loupe-attr-bench-'));
  try {
    const fx = await writeFixture(dir, config, threshold);
    const tokens = Int32Array.of(1, ...promptTokens(T - 1, config.dVocab));
    const weightsFile = join(dir, 'peer.safetensors');
    await writeFile(weightsFile, writeSafetensors(peerTensors(fx.weights, fx.dict)));
    const loupeArgs = [
      CLI,
      'attribute',
      ...['--model', fx.modelDir, '--transcoders', fx.dictDir, '--tokens', Array.from(tokens).join(',')],
      ...['--out', join(dir, 'graph.json'), '--top-features', '0', '--timings'],
      // The same thread count as the peer's torch.set_num_threads.
      ...['--threads', String(threads)],
    ];
    const peerEnv: NodeJS.ProcessEnv = { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' };
    delete peerEnv.OPENBLAS_CORETYPE;
    delete peerEnv.OPENBLAS_L2_SIZE;
    const peerArg = JSON.stringify({
      ...config,
      weights: weightsFile,
      tokens: Array.from(tokens),
      batch: BATCH,
      threads,
      reps: 1,
    });
    // The first `pnpm loupe` after a source change rebuilds the bundle; the rounds time the runs after it.
    const build = spawnSync(process.execPath, [CLI, '--help'], { encoding: 'utf8' });
    if (build.status !== 0) throw new Error(`loupe --help failed: ${build.stderr.trim()}`);
    const loadBefore = load();
    const loupeRuns: { ms: number; cpuMs: number | null; stderr: string }[] = [];
    const peerMs: number[] = [];
    const peerCpuMs: (number | null)[] = [];
    let peer:
      | { phaseMs: number; loadMs: number; nActive: number; nLogits: number; checksum: number }
      | string = 'not run';
    const peerPhase: number[] = [];
    for (let i = 0; i < reps; i++) {
      const l = timed(process.execPath, loupeArgs, process.env);
      if (l.status !== 0)
        throw new Error(`loupe attribute failed: ${l.stderr.trim().split('\n').slice(-3).join(' | ')}`);
      loupeRuns.push(l);
      const p = timed('/usr/bin/python3', [PEER, peerArg], peerEnv);
      if (p.status !== 0) {
        peer = `PyTorch peer unavailable (needs Debian python3-torch + libopenblas0-pthread): ${p.stderr.trim().split('\n').pop()}`;
        continue;
      }
      peerMs.push(p.ms);
      peerCpuMs.push(p.cpuMs);
      peer = JSON.parse(p.stdout.trim().split('\n').pop() as string);
      if (typeof peer !== 'string') peerPhase.push(peer.phaseMs);
    }
    const { checksum, nActive } = await loupeChecksum(fx.modelDir, fx.dictDir, tokens);
    const best = (xs: number[]) => (xs.length ? Math.round(Math.min(...xs)) : null);
    const round = (x: number | null) => (x === null ? null : Math.round(x));
    const fastest = loupeRuns.reduce((a, b) => (b.ms < a.ms ? b : a));
    const timings = parseTimings(fastest.stderr);
    if (!timings) throw new Error('loupe attribute --timings printed no timings line');
    const out: Record<string, unknown> = {
      bench: `attribution vs torch, whole process: ${name}`,
      tokens: T,
      batch: BATCH,
      threads,
      rounds: reps,
      loadAvg: { before: loadBefore, after: load() },
      nActive,
      loupeWholeMs: Math.round(fastest.ms),
      loupeRunsMs: loupeRuns.map((r) => Math.round(r.ms)),
      loupeRunsCpuMs: loupeRuns.map((r) => round(r.cpuMs)),
      // A source edited during the rounds makes that run rebuild the bundle first, inside its startup.
      loupeRunsRebuilt: loupeRuns.filter((r) => r.stderr.includes('rebuilding the CLI bundle')).length,
      loupePhasesMs: { ...timings.ms, exit: Math.round(fastest.ms - timings.total) },
    };
    if (typeof peer === 'string') return { ...out, torch: peer };
    const checksumRelDiff = Math.abs(checksum - peer.checksum) / peer.checksum;
    return {
      ...out,
      torchWholeMs: best(peerMs),
      torchRunsMs: peerMs.map(Math.round),
      torchRunsCpuMs: peerCpuMs.map(round),
      torchPhaseMs: best(peerPhase),
      torchLoadMs: Math.round(peer.loadMs),
      loupeOverTorchWhole: Math.round(fastest.ms) / (best(peerMs) as number),
      sameNodes: nActive === peer.nActive,
      checksumRelDiff,
      // Float32 sums in another order differ by about 1e-7; anything near 1e-5 means the two sides computed
      // different rows, and the times compare different work.
      sameRows: checksumRelDiff < 1e-5,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Σ|rows| of the feature and logit rows (tokens, errors and features; no bias), the peer's checksum, and the
 * number of active features.
 */
async function loupeChecksum(
  modelDir: string,
  dictDir: string,
  tokens: Int32Array,
): Promise<{ checksum: number; nActive: number }> {
  const files = nodeFiles();
  const ckpt = await loadCheckpoint(modelDir, files);
  const dict = await loadDictionary(dictDir, files);
  const rt = nodeRuntime({ intraOpNumThreads: threads });
  const model = await Model.create(ckpt.config, ckpt.weights, ckpt.tokenizer, rt);
  const graph = await attribute(model, dict, { tokens }, { batchSize: BATCH });
  await rt.release();
  if (graph.adjacency.kind !== 'csr') throw new Error('bench: expected a CSR graph');
  let s = 0;
  for (const v of graph.adjacency.values) s += Math.abs(v);
  return { checksum: s, nActive: graph.activeFeatures.length / 3 };
}

const SCALE_FEATURE_NODES = 1024;
const ORGANISM_M = fileURLToPath(new URL('../../organism/models/organism-m', import.meta.url));

/** One length of the scaling series (run in a child process): attribution, pruning and graph JSON. */
async function scaleOne(which: string, T: number): Promise<Record<string, unknown>> {
  // Sampled rather than getrusage's maxRSS, which Linux carries over from the parent across fork + exec.
  let peak = 0;
  const sample = () => {
    peak = Math.max(peak, process.memoryUsage.rss());
  };
  const timer = setInterval(sample, 20);
  const files = nodeFiles();
  let dir: string | undefined;
  let modelDir = ORGANISM_M;
  let dictDir = join(ORGANISM_M, 'dictionaries', 'plt-2048');
  if (which === 'table') {
    dir = await mkdtemp(join(tmpdir(), 'loupe-attr-scale-'));
    const fx = await writeFixture(dir, llamaBenchConfig(1024), 2.2);
    modelDir = fx.modelDir;
    dictDir = fx.dictDir;
  }
  const t0 = performance.now();
  const ckpt = await loadCheckpoint(modelDir, files);
  // organism-m was trained on 64-token documents; RoPE lets it run longer prompts, which is what this measures.
  const config = { ...ckpt.config, nCtx: 1024 };
  const rt = nodeRuntime({ intraOpNumThreads: threads });
  const model = await Model.create(config, ckpt.weights, ckpt.tokenizer, rt);
  const dict = await loadDictionary(dictDir, files);
  // Led by the BOS, so attribution prepends nothing and the prompt is exactly T tokens.
  const tokens = Int32Array.of(config.bosTokenId ?? 1, ...promptTokens(T - 1, config.dVocab));
  const graph = await attribute(
    model,
    dict,
    { tokens },
    { batchSize: BATCH, maxFeatureNodes: SCALE_FEATURE_NODES },
  );
  const json = createGraphJson(graph, { slug: 'scale', scan: 'bench', decodeToken: String });
  JSON.stringify(json);
  const ms = performance.now() - t0;
  await rt.release();
  sample();
  clearInterval(timer);
  if (dir) await rm(dir, { recursive: true, force: true });
  return {
    model: which,
    T,
    ms: Math.round(ms),
    nActive: graph.activeFeatures.length / 3,
    featureRows: graph.selectedFeatures.length,
    peakRssMB: Math.round(peak / 2 ** 20),
  };
}

async function main() {
  const arg = process.argv.indexOf('--scale-one');
  if (arg >= 0) {
    console.log(JSON.stringify(await scaleOne(process.argv[arg + 1], Number(process.argv[arg + 2]))));
    return;
  }
  console.log(
    JSON.stringify(
      await compareWithPeer('table config (Llama-style, ≈1.4% active)', llamaBenchConfig(T), 2.2),
    ),
  );
  if (process.env.BENCH_DENSE !== '0')
    console.log(
      JSON.stringify(
        await compareWithPeer('denser config (GPT-2-style, ≈2.3% active)', gpt2BenchConfig(6, T), 2),
      ),
    );
  if (process.env.BENCH_SCALE === '0') return;
  for (const which of ['organism-m', 'table']) {
    const series: Record<string, unknown>[] = [];
    for (const len of [64, 256, 1024]) {
      const child = spawnSync(
        process.execPath,
        [...process.execArgv, fileURLToPath(import.meta.url), '--scale-one', which, String(len)],
        { encoding: 'utf8', env: process.env, maxBuffer: 1 << 24 },
      );
      if (child.status !== 0) {
        series.push({ T: len, error: child.stderr.trim().split('\n').slice(-3).join(' | ') });
        continue;
      }
      series.push(JSON.parse(child.stdout.trim().split('\n').pop() as string));
    }
    console.log(
      JSON.stringify({
        bench: `attribution scaling (${which}), whole pipeline`,
        maxFeatureNodes: SCALE_FEATURE_NODES,
        loadAvg: load(),
        series,
      }),
    );
  }
}

await main();
