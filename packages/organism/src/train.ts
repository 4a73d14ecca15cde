import {
  bytesSource,
  type F32,
  type FileAccess,
  initWeights,
  loadCheckpoint,
  type ModelConfig,
  type ModelWeights,
  type OptimizerState,
  positiveInt,
  type Runtime,
  SafetensorsFile,
  saveCheckpoint,
  TrainingSession,
  transformerParameters,
  transformerTrainingSpec,
  weightsFromParameters,
  writeSafetensors,
} from '@loupe/core';
import { batches } from './batches.ts';
import type { CurriculumOptions } from './curriculum/index.ts';
import { ORGANISM_N_CTX, type OrganismSize, organismConfig } from './sizes.ts';
import { buildTokenizerFiles, buildVocab, loadTokenizer, type OrganismTokenizer } from './tokenizer.ts';

export interface TrainOptions {
  size: OrganismSize;
  /** Seeds the curriculum split, the vocabulary, the initial weights and the document stream. */
  seed: number;
  /** Opt-in curriculum changes (training and validation documents); default: the shipped curriculum. */
  curriculum?: CurriculumOptions;
  steps: number;
  batchSize: number;
  lr: number;
  warmupSteps: number;
  /** Where the final checkpoint goes (HF layout); `checkpoint/` inside it holds the resumable state. */
  outDir: string;
  checkpointEvery: number;
  /** Steps between validation losses (on fixed fresh documents of the same distribution). */
  evalEvery: number;
  resume: boolean;
  /** Overrides the size's shape: for tests that need a tiny model. */
  shape?: { nLayers: number; dModel: number; nHeads: number; dMlp: number };
  onProgress?: (p: Progress) => void;
  /** Once aborted, training stops after the current step, leaving a checkpoint that `resume` continues. */
  signal?: AbortSignal;
}

export interface CurvePoint {
  step: number;
  tokens: number;
  lr: number;
  trainLoss: number;
  validationLoss?: number;
  seconds: number;
}

export interface Progress {
  step: number;
  steps: number;
  loss: number;
  secondsPerStep: number;
}

interface TrainerState {
  size: OrganismSize;
  seed: number;
  step: number;
  docsConsumed: number;
  seconds: number;
  curve: CurvePoint[];
}

/** Linear warm-up, then cosine decay to a tenth of the peak. */
export function learningRate(step: number, o: Pick<TrainOptions, 'lr' | 'warmupSteps' | 'steps'>): number {
  if (step < o.warmupSteps) return (o.lr * (step + 1)) / o.warmupSteps;
  const progress = Math.min(1, (step - o.warmupSteps) / Math.max(1, o.steps - o.warmupSteps));
  return o.lr * (0.1 + 0.45 * (1 + Math.cos(Math.PI * progress)));
}

export function tokenizerFor(
  seed: number,
  curriculum?: CurriculumOptions,
): {
  files: ReturnType<typeof buildTokenizerFiles>;
  tok: OrganismTokenizer;
} {
  const files = buildTokenizerFiles(buildVocab(seed, undefined, curriculum));
  return { files, tok: loadTokenizer(files) };
}

export function configFor(o: Pick<TrainOptions, 'size' | 'shape'>, tok: OrganismTokenizer): ModelConfig {
  const base = organismConfig(o.size, tok);
  if (!o.shape) return base;
  const dHead = o.shape.dModel / o.shape.nHeads;
  if (!Number.isInteger(dHead))
    throw new Error(`dModel ${o.shape.dModel} is not divisible by nHeads ${o.shape.nHeads}`);
  return { ...base, ...o.shape, nKvHeads: o.shape.nHeads, dHead, attnScale: 1 / Math.sqrt(dHead) };
}

function parseState(text: string, o: TrainOptions): TrainerState {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`trainer-state.json is not JSON (${(e as Error).message})`);
  }
  const s = raw as Partial<TrainerState>;
  const isCount = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0;
  if (
    typeof raw !== 'object' ||
    raw === null ||
    !isCount(s.step) ||
    !isCount(s.docsConsumed) ||
    !Array.isArray(s.curve)
  ) {
    throw new Error('trainer-state.json: step, docsConsumed and curve are missing or invalid');
  }
  if (s.size !== o.size || s.seed !== o.seed) {
    throw new Error(`checkpoint is organism-${s.size} seed ${s.seed}, not organism-${o.size} seed ${o.seed}`);
  }
  return { ...(s as TrainerState), seconds: typeof s.seconds === 'number' ? s.seconds : 0 };
}

const OPTIMIZER_FILE = 'optimizer.safetensors';

/** AdamW moments as `m.NAME` / `v.NAME` tensors, the step count in the metadata. */
export function encodeOptimizerState(s: OptimizerState): Uint8Array {
  const tensors: Record<string, F32> = {};
  for (const [n, t] of Object.entries(s.m)) tensors[`m.${n}`] = t;
  for (const [n, t] of Object.entries(s.v)) tensors[`v.${n}`] = t;
  return writeSafetensors(tensors, { step: String(s.step) });
}

export async function decodeOptimizerState(bytes: Uint8Array, where: string): Promise<OptimizerState> {
  const file = await SafetensorsFile.open(bytesSource(bytes));
  const step = Number(file.metadata.step);
  if (!Number.isInteger(step) || step < 0) throw new Error(`${where}: no valid 'step' in its metadata`);
  const state: OptimizerState = { step, m: {}, v: {} };
  for (const name of file.names()) {
    const t = await file.read(name);
    const kind = name.slice(0, 2);
    if ((kind !== 'm.' && kind !== 'v.') || t.dtype !== 'float32')
      throw new Error(`${where}: unexpected tensor '${name}' (${t.dtype})`);
    state[kind === 'm.' ? 'm' : 'v'][name.slice(2)] = t as F32;
  }
  return state;
}

export interface TrainResult {
  config: ModelConfig;
  weights: ModelWeights;
  curve: CurvePoint[];
  /** False when `signal` stopped the run early; its state is then in `outDir/checkpoint/`. */
  finished: boolean;
}

/**
 * Trains an organism with core's TrainingSession (one ORT graph per step) on the packed curriculum and
 * writes it in Hugging Face layout with tokenizer.json and training-curve.json. A checkpoint holds the
 * weights, the AdamW state, the step and the position in the document stream, so a resumed run continues
 * bit-for-bit as if it had never stopped. The step graph's kernels split work across intra-op threads
 * without changing any sum's order, so the weights are the same at every thread count (tested).
 */
export async function trainOrganism(
  o: TrainOptions,
  runtime: Runtime,
  files: FileAccess,
): Promise<TrainResult> {
  for (const [k, v] of Object.entries({ steps: o.steps, batchSize: o.batchSize, evalEvery: o.evalEvery })) {
    positiveInt(v, k);
  }
  const { files: tokFiles, tok } = tokenizerFor(o.seed, o.curriculum);
  const config = configFor(o, tok);
  const template = initWeights(config, { seed: o.seed });
  const session = await TrainingSession.create(
    runtime,
    transformerTrainingSpec(config, template, { masked: true }),
    {
      lr: o.lr,
      beta1: 0.9,
      beta2: 0.98,
      weightDecay: 0.1,
      clipNorm: 1,
    },
  );

  const ckptDir = files.join(o.outDir, 'checkpoint');
  const statePath = files.join(ckptDir, 'trainer-state.json');
  const optimizerPath = files.join(ckptDir, OPTIMIZER_FILE);
  let state: TrainerState = { size: o.size, seed: o.seed, step: 0, docsConsumed: 0, seconds: 0, curve: [] };
  if (o.resume && (await files.exists(statePath))) {
    state = parseState(await files.readText(statePath), o);
    const ckpt = await loadCheckpoint(ckptDir, files);
    session.setParameters(transformerParameters(config, ckpt.weights));
    if (!(await files.exists(optimizerPath)))
      throw new Error(`${optimizerPath} is missing: the checkpoint cannot be resumed exactly`);
    const opt = await decodeOptimizerState(await files.readFile(optimizerPath), optimizerPath);
    if (opt.step !== state.step)
      throw new Error(`${optimizerPath} is at step ${opt.step} but trainer-state.json at ${state.step}`);
    session.setOptimizerState(opt);
  }

  const validation = batches(tok, {
    batchSize: o.batchSize,
    nCtx: ORGANISM_N_CTX,
    seed: o.seed + 1_000_003,
    splitSeed: o.seed,
    curriculum: o.curriculum,
  }).next().value;
  const asInputs = (b: typeof validation) => ({
    tokens: { dtype: 'int32' as const, shape: b.shape, data: b.tokens },
    targets: { dtype: 'int32' as const, shape: b.shape, data: b.targets },
    mask: { dtype: 'float32' as const, shape: b.shape, data: b.lossMask },
  });

  const save = async (dir: string) => {
    const weights = weightsFromParameters(config, template, session.getParameters());
    await saveCheckpoint(dir, config, weights, files, {
      tokenizerJson: tokFiles.tokenizer,
      tokenizerConfig: tokFiles.config,
    });
    return weights;
  };

  const stream = batches(tok, {
    batchSize: o.batchSize,
    nCtx: ORGANISM_N_CTX,
    seed: o.seed,
    splitSeed: o.seed,
    curriculum: o.curriculum,
    skipDocs: state.docsConsumed,
  });
  const start = Date.now() - state.seconds * 1000;
  let window = { loss: 0, n: 0, t0: Date.now() };
  while (state.step < o.steps) {
    const batch = stream.next().value;
    const lr = learningRate(state.step, o);
    const { loss } = await session.step(asInputs(batch), lr);
    state.step += 1;
    state.docsConsumed = batch.docsConsumed;
    window.loss += loss;
    window.n += 1;
    if (state.step % o.evalEvery === 0 || state.step === o.steps) {
      const point: CurvePoint = {
        step: state.step,
        tokens: state.step * o.batchSize * ORGANISM_N_CTX,
        lr,
        trainLoss: window.loss / window.n,
        validationLoss: await session.evaluate(asInputs(validation)),
        seconds: (Date.now() - start) / 1000,
      };
      state.curve.push(point);
      o.onProgress?.({
        step: state.step,
        steps: o.steps,
        loss: point.trainLoss,
        secondsPerStep: (Date.now() - window.t0) / 1000 / window.n,
      });
      window = { loss: 0, n: 0, t0: Date.now() };
    }
    const stop = o.signal?.aborted === true;
    if (state.step % o.checkpointEvery === 0 || state.step === o.steps || stop) {
      state.seconds = (Date.now() - start) / 1000;
      const weights = await save(ckptDir);
      await files.writeFile(optimizerPath, encodeOptimizerState(session.getOptimizerState()));
      await files.writeFile(statePath, `${JSON.stringify(state)}\n`);
      if (stop && state.step < o.steps) return { config, weights, curve: state.curve, finished: false };
    }
  }
  const weights = await save(o.outDir);
  await files.writeFile(
    files.join(o.outDir, 'training-curve.json'),
    `${JSON.stringify(state.curve, null, 1)}\n`,
  );
  return { config, weights, curve: state.curve, finished: true };
}
