import { blockHook } from '../model/hooks.ts';
import type { Model } from '../model/model.ts';
import { f32, type F32 } from '../tensor/host.ts';
import type { Runtime } from '../tensor/runtime.ts';
import { TrainingSession } from '../train/training.ts';
import { ActivationStream, hookRunner, RowBuffer } from './activation-stream.ts';
import { dictionaryLearningRate, dictionaryTrainingGraph, type TrainingGraphShape } from './train-graph.ts';
import { layerMedian, layerStats, initDictionaryParameters } from './train-init.ts';
import {
  type DictionaryTrainingOptions,
  type DictionaryTrainingProgress,
  type DictionaryTrainingResult,
  type Resolved,
  resolveOptions,
  type TokenBatches,
} from './train-options.ts';
import { dictionaryFromParameters } from './train-package.ts';

export { ActivationStream, hookRunner } from './activation-stream.ts';
export { dictionaryLearningRate, dictionaryTrainingGraph, type TrainingGraphShape } from './train-graph.ts';
export { initDictionaryParameters } from './train-init.ts';
export {
  DECODER_BIASES,
  type DecoderBias,
  DICTIONARY_DEFAULTS,
  type DictionaryTrainingOptions,
  type DictionaryTrainingProgress,
  type DictionaryTrainingResult,
  defaultHooks,
  type TokenBatches,
} from './train-options.ts';
export { dictionaryFromParameters } from './train-package.ts';

function abortError(): Error {
  const e = new Error('dictionary training was aborted');
  e.name = 'AbortError';
  return e;
}

/** Trains a dictionary on the model's activations over `tokens` (see the module comment for the method). */
export async function trainDictionary(
  runtime: Runtime,
  model: Model,
  tokens: TokenBatches,
  options: DictionaryTrainingOptions,
): Promise<DictionaryTrainingResult> {
  try {
    return await train(runtime, model, tokens, options);
  } catch (e) {
    // Whatever was in flight when the signal fired (a model run, a buffer fill), the caller sees one error.
    if (options.signal?.aborted) throw abortError();
    throw e;
  }
}

/** The trained parameters: all of them, less b_dec when it stays fixed (it enters the graph as a constant). */
function initialParameters(
  r: Resolved,
  L: number,
  d: number,
  bDec: F32,
  fixedBias: boolean,
): Record<string, F32> {
  const params = initDictionaryParameters(r.kind, L, r.width, d, bDec, r.seed);
  if (fixedBias) delete params.bDec;
  return params;
}

async function train(
  runtime: Runtime,
  model: Model,
  tokens: TokenBatches,
  options: DictionaryTrainingOptions,
): Promise<DictionaryTrainingResult> {
  const r = resolveOptions(model, options);
  const d = model.config.dModel;
  const L = r.layers.length;
  const R = r.batchRows;
  const hookNames = r.layers.flatMap((l) => [blockHook(l, r.hooks.input), blockHook(l, r.hooks.output)]);
  const stream = new ActivationStream(
    model,
    await hookRunner(runtime, model, hookNames),
    tokens,
    r.layers,
    r.hooks,
    r.exclude,
  );
  const buffer = new RowBuffer(r.bufferRows, L * d, stream.sameHooks, r.seed + 1);
  const t0 = performance.now();
  const check = () => {
    if (options.signal?.aborted) throw abortError();
  };
  check();
  await buffer.fill(stream, options.signal);
  const first = buffer.rows;
  const inStats = await layerStats(runtime, first.x, first.n, L, d);
  const outStats = stream.sameHooks ? inStats : await layerStats(runtime, first.y, first.n, L, d);
  const inScale = inStats.rms;
  const outScale = outStats.rms;
  const centre =
    r.decoderBias === 'mean' ? outStats.mean : await layerMedian(runtime, first.y, first.n, L, d);
  const bDec = f32(
    [L, 1, d],
    Float32Array.from(centre.data, (v, i) => v / outScale[Math.floor(i / d)]),
  );
  const fixedBias = r.decoderBias === 'fixed-median';
  const shape: TrainingGraphShape = {
    kind: r.kind,
    L,
    d,
    width: r.width,
    rows: R,
    k: r.k,
    auxK: r.auxK,
    auxCoef: r.auxCoef,
  };
  const inv = (s: Float64Array) =>
    f32(
      [1, L, 1],
      Float32Array.from(s, (v) => 1 / v),
    );
  const session = await TrainingSession.create(
    runtime,
    {
      params: initialParameters(r, L, d, bDec, fixedBias),
      inputs: {
        x: { dtype: 'float32', shape: [R, L, d] },
        y: { dtype: 'float32', shape: [R, L, d] },
        dead: { dtype: 'float32', shape: [L, 1, r.width] },
      },
      loss: (g, p, i) =>
        dictionaryTrainingGraph(
          g,
          shape,
          fixedBias ? { ...p, bDec: g.constant(bDec) } : p,
          g.mul(i.x, g.constant(inv(inScale))),
          g.mul(i.y, g.constant(inv(outScale))),
          i.dead,
        ),
    },
    { lr: r.lr, weightDecay: 0, clipNorm: 1 },
  );

  const lastFired = new Float64Array(L * r.width); // rows seen when each feature last fired
  const dead = f32([L, 1, r.width]);
  const theta = new Float64Array(L);
  let thetaSteps = 0;
  const thetaFrom = Math.floor(r.steps * 0.8);
  const curve: DictionaryTrainingProgress[] = [];
  const every = Math.max(1, Math.floor(r.steps / 100));
  let rows = 0;
  for (let step = 0; step < r.steps; step++) {
    check();
    if (!buffer.canTake(R)) {
      buffer.compact();
      await buffer.fill(stream, options.signal);
    }
    const batch = buffer.take(R);
    let nDead = 0;
    for (let i = 0; i < lastFired.length; i++) {
      const isDead = rows - lastFired[i] >= r.deadAfterRows;
      dead.data[i] = isDead ? 1 : 0;
      if (isDead) nDead++;
    }
    const res = await session.step(
      { x: f32([R, L, d], batch.x), y: f32([R, L, d], batch.y), dead },
      dictionaryLearningRate(step, r.steps, r.lr),
    );
    rows += R;
    const fires = res.metrics.fires.data;
    let active = 0;
    for (let i = 0; i < fires.length; i++) {
      if (fires[i] > 0) lastFired[i] = rows;
      active += fires[i];
    }
    if (step >= thetaFrom) {
      thetaSteps++;
      for (let l = 0; l < L; l++) theta[l] += (res.metrics.theta.data[l] - theta[l]) / thetaSteps;
    }
    let sse = 0;
    let sst = 0;
    for (let l = 0; l < L; l++) {
      sse += res.metrics.sse.data[l];
      sst += res.metrics.sst.data[l];
    }
    const progress: DictionaryTrainingProgress = {
      step: step + 1,
      steps: r.steps,
      rows,
      loss: res.metrics.mse.data[0],
      fvu: sst > 0 ? sse / sst : 0,
      l0: active / (R * L),
      dead: nDead / lastFired.length,
      rowsPerSecond: rows / ((performance.now() - t0) / 1000),
    };
    if (step % every === 0 || step === r.steps - 1) curve.push(progress);
    options.onProgress?.(progress);
  }
  const trained = session.getParameters();
  const params = fixedBias ? { ...trained, bDec } : trained;
  const dictionary = dictionaryFromParameters(r, d, params, theta, inScale, outScale, {
    training: {
      method: 'batchtopk+auxk',
      decoderBias: r.decoderBias,
      k: r.k,
      steps: r.steps,
      batchRows: R,
      rows,
      lr: r.lr,
      seed: r.seed,
    },
  });
  return { dictionary, steps: r.steps, rows, seconds: (performance.now() - t0) / 1000, curve };
}
