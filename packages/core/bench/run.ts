/**
 * Forward throughput and training-step time of a compiled tiny GPT against the PyTorch peer, measured in
 * the same run: 4 layers, d_model 256, 4 heads, d_mlp 1024, ctx 64, batch 32, vocab 4096 (untied head).
 * Also 128 linearised VJPs (4 runs of 32, a 32-token prompt, seeds at the final norm, gradients at the
 * embeddings and every MLP output: attribution's backward) including the clean forward they need.
 * Ratios are torch time / Loupe time, so > 1 means Loupe is faster.
 *   pnpm --filter @loupe/core bench            (BENCH_REPS=n to change repetitions)
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { HookName } from '../src/model/hooks.ts';
import { initWeights } from '../src/model/init.ts';
import { Model } from '../src/model/model.ts';
import { buildTransformer, constantWeights } from '../src/model/transformer.ts';
import { nodeRuntime } from '../src/node/runtime.ts';
import { GraphBuilder } from '../src/tensor/graph.ts';
import { i32 } from '../src/tensor/host.ts';
import { TrainingSession } from '../src/train/training.ts';
import { transformerTrainingSpec } from '../src/train/transformer.ts';
import { gpt2BenchConfig } from './models.ts';

const B = 32;
const T = 64;
const reps = Number(process.env.BENCH_REPS ?? 8);
const threads = Number(process.env.BENCH_THREADS ?? 2);
const config = gpt2BenchConfig(4, T);

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
  const weights = initWeights(config, { seed: 0 });
  const tokens = i32(
    [B, T],
    Array.from({ length: B * T }, (_, i) => (i * 2654435761) % config.dVocab),
  );
  const targets = i32(
    [B, T],
    Array.from({ length: B * T }, (_, i) => (i * 40503 + 7) % config.dVocab),
  );

  const g = new GraphBuilder();
  const tok = g.input('tokens', 'int32', ['B', 'T']);
  const fwd = await rt.load(
    g.compile({ logits: buildTransformer(g, config, constantWeights(g, weights), tok).logits }),
  );
  const forwardMs = await median(() => fwd.run({ tokens }));

  const vjpT = 32;
  const vjpB = 32;
  const model = await Model.create(config, weights, undefined, rt);
  const prompt = tokens.data.slice(0, vjpT);
  const pinHooks: HookName[] = ['ln_final.hook_scale'];
  for (let l = 0; l < config.nLayers; l++)
    pinHooks.push(
      `blocks.${l}.attn.hook_pattern`,
      `blocks.${l}.ln1.hook_scale`,
      `blocks.${l}.ln2.hook_scale`,
    );
  const wrt: HookName[] = [
    'hook_embed',
    ...Array.from({ length: config.nLayers }, (_, l) => `blocks.${l}.hook_mlp_out` as HookName),
  ];
  const vector = new Float32Array(config.dModel).fill(0.01);
  const seeds = Array.from({ length: vjpB }, (_, b) => ({
    hook: 'ln_final.hook_normalized' as HookName,
    batch: b,
    pos: vjpT - 1,
    vector,
  }));
  const vjp128Ms = await median(async () => {
    const clean = await model.run(prompt, { hooks: pinHooks });
    const pinned = pinHooks.map((hook) => ({
      hook,
      value: clean.cache.get(hook) as NonNullable<ReturnType<typeof clean.cache.get>>,
    }));
    for (let i = 0; i < 4; i++) {
      await model.vjp({
        tokens: prompt,
        batch: vjpB,
        seeds,
        wrt,
        freeze: ['attn.hook_pattern', 'ln.hook_scale', 'mlp'],
        pinned,
      });
    }
  });

  const session = await TrainingSession.create(rt, transformerTrainingSpec(config, weights), {
    lr: 1e-3,
    clipNorm: 1,
  });
  const trainStepMs = await median(() => session.step({ tokens, targets }));

  const env: NodeJS.ProcessEnv = { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  const peer = spawnSync(
    '/usr/bin/python3',
    [
      fileURLToPath(new URL('./torch_peer.py', import.meta.url)),
      JSON.stringify({ ...config, B, T, reps, threads, vjpT, vjpB }),
    ],
    { env, encoding: 'utf8' },
  );
  const line = { B, T, threads, loupe: { forwardMs, trainStepMs, vjp128Ms } } as Record<string, unknown>;
  if (peer.status === 0) {
    const torch = JSON.parse(peer.stdout.trim().split('\n').pop() as string) as Record<
      'forwardMs' | 'trainStepMs' | 'vjp128Ms',
      number
    >;
    line.torch = torch;
    line.ratios = {
      forward: torch.forwardMs / forwardMs,
      trainStep: torch.trainStepMs / trainStepMs,
      vjp128: torch.vjp128Ms / vjp128Ms,
    };
  } else
    line.torch = `PyTorch peer unavailable (needs Debian python3-torch + libopenblas0-pthread): ${peer.stderr.trim().split('\n').pop()}`;
  console.log(JSON.stringify(line));
  await rt.release();
}

await main();
