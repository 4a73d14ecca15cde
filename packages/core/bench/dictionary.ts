/**
 * Dictionary-training throughput (activation rows = tokens per second) of one training step — BatchTopK
 * encode, PLT or CLT decode, AuxK on dead features, the step's metrics, gradients, clipping, AdamW — against
 * the PyTorch peer (peer/dictionary_peer.py) running the same step on the same shapes, in the same run.
 * Shapes: 4 layers, d_model 256, 2048 features per layer, 1024 rows per step, k 32, AuxK 64, a quarter of
 * the features marked dead so the AuxK path does real work. Ratio = Loupe tokens/s ÷ torch tokens/s.
 *   pnpm --filter @loupe/core bench            (BENCH_REPS=n to change repetitions)
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  dictionaryTrainingGraph,
  initDictionaryParameters,
  type TrainingGraphShape,
} from '../src/dictionary/train.ts';
import type { DictionaryKind } from '../src/dictionary/types.ts';
import { seededRandom } from '../src/model/init.ts';
import { nodeRuntime } from '../src/node/runtime.ts';
import { f32 } from '../src/tensor/host.ts';
import { TrainingSession } from '../src/train/training.ts';

const L = 4;
const d = 256;
const width = 2048;
const rows = 1024;
const k = 32;
const auxK = 64;
const reps = Number(process.env.BENCH_REPS ?? 5);
const threads = Number(process.env.BENCH_THREADS ?? 2);
const kinds: DictionaryKind[] = ['plt', 'clt'];

function gaussian(n: number, seed: number): Float32Array {
  const rand = seededRandom(seed);
  return Float32Array.from(
    { length: n },
    () => Math.sqrt(-2 * Math.log(Math.max(rand(), 1e-12))) * Math.cos(2 * Math.PI * rand()),
  );
}

async function median(fn: () => Promise<unknown>): Promise<number> {
  await fn();
  await fn();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

async function main() {
  const rt = nodeRuntime({ intraOpNumThreads: threads });
  const x = f32([rows, L, d], gaussian(rows * L * d, 1));
  const y = f32([rows, L, d], gaussian(rows * L * d, 2));
  const dead = f32([L, 1, width]);
  for (let l = 0; l < L; l++) dead.data.fill(1, l * width, l * width + width / 4);
  const loupe: Record<string, number> = {};
  for (const kind of kinds) {
    const shape: TrainingGraphShape = { kind, L, d, width, rows, k, auxK, auxCoef: 1 / 32 };
    const session = await TrainingSession.create(
      rt,
      {
        params: initDictionaryParameters(kind, L, width, d, f32([L, 1, d]), 0),
        inputs: {
          x: { dtype: 'float32', shape: [rows, L, d] },
          y: { dtype: 'float32', shape: [rows, L, d] },
          dead: { dtype: 'float32', shape: [L, 1, width] },
        },
        loss: (g, p, i) => dictionaryTrainingGraph(g, shape, p, i.x, i.y, i.dead),
      },
      { lr: 1e-3, weightDecay: 0, clipNorm: 1 },
    );
    loupe[kind] = await median(() => session.step({ x, y, dead }));
  }

  const env: NodeJS.ProcessEnv = { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  const peer = spawnSync(
    '/usr/bin/python3',
    [
      fileURLToPath(new URL('./peer/dictionary_peer.py', import.meta.url)),
      JSON.stringify({ L, d, width, rows, k, auxK, reps, threads, kinds }),
    ],
    { env, encoding: 'utf8' },
  );
  const tokensPerSecond = (ms: number) => Math.round((rows * 1000) / ms);
  const line: Record<string, unknown> = {
    bench: 'dictionary-training',
    shape: { L, d, width, rows, k, auxK, threads },
    loupe: Object.fromEntries(
      kinds.map((kd) => [kd, { stepMs: loupe[kd], tokensPerSecond: tokensPerSecond(loupe[kd]) }]),
    ),
  };
  if (peer.status === 0) {
    const torch = JSON.parse(peer.stdout.trim().split('\n').pop() as string) as Record<string, number>;
    line.torch = Object.fromEntries(
      kinds.map((kd) => [kd, { stepMs: torch[kd], tokensPerSecond: tokensPerSecond(torch[kd]) }]),
    );
    line.ratios = Object.fromEntries(kinds.map((kd) => [kd, torch[kd] / loupe[kd]]));
  } else
    line.torch = `PyTorch peer unavailable (needs Debian python3-torch + libopenblas0-pthread): ${peer.stderr.trim().split('\n').pop()}`;
  console.log(JSON.stringify(line));
  await rt.release();
}

await main();
