/**
 * Training any builder-defined model: loss, gradients (autodiff), global-norm clipping and AdamW, all in
 * ONE onnxruntime graph per step. Parameters and optimiser moments live on the host as HostTensors and
 * travel in and out of each run; the graph returns the updated values.
 */
import { type DType, GraphBuilder, type Shape, type Tensor } from '../tensor/graph.ts';
import { f32, type F32, type HostTensor, numel } from '../tensor/host.ts';
import type { CompiledGraph, Runtime } from '../tensor/runtime.ts';

export interface AdamWOptions {
  lr: number;
  beta1?: number; // default 0.9
  beta2?: number; // default 0.999
  eps?: number; // default 1e-8
  weightDecay?: number; // default 0.01, decoupled (torch.optim.AdamW)
  /** Clip the global gradient L2 norm to this value (torch clip_grad_norm_); none by default. */
  clipNorm?: number;
  /** Which parameters decay; default: those of rank ≥ 2 (matrices, not norms or biases). */
  decay?: (name: string, value: F32) => boolean;
}

export interface TrainingSpec {
  params: Record<string, F32>;
  /** Per-step data inputs (tokens, targets, masks) with their dtypes and (symbolic) shapes. */
  inputs: Record<string, { dtype: DType; shape: Shape }>;
  /**
   * Builds the scalar float32 loss, optionally with extra float32 outputs of the same step graph (from the
   * pre-update parameters, e.g. per-feature firing counts), so bookkeeping needs no second run.
   */
  loss: (
    g: GraphBuilder,
    params: Record<string, Tensor>,
    inputs: Record<string, Tensor>,
  ) => Tensor | { loss: Tensor; metrics: Record<string, Tensor> };
}

/**
 * Everything AdamW carries between steps besides the parameters: saving it with them makes a resumed run
 * continue bit-for-bit.
 */
export interface OptimizerState {
  /** Optimiser steps taken; drives the bias corrections 1/(1 − β^t). */
  step: number;
  /** First moments, by parameter name, each shaped like its parameter. */
  m: Record<string, F32>;
  /** Second moments, by parameter name, each shaped like its parameter. */
  v: Record<string, F32>;
}

export interface StepResult {
  loss: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  /** The extra outputs of the spec's loss, by name (empty without them). */
  metrics: Record<string, F32>;
}

/**
 * Mean cross-entropy of logits [..., V] against integer targets [...]; with a float mask [...] only
 * positions where mask = 1 count (the mean is over the mask's sum).
 */
export function crossEntropy(g: GraphBuilder, logits: Tensor, targets: Tensor, mask?: Tensor): Tensor {
  const V = logits.shape[logits.rank - 1];
  if (typeof V !== 'number') throw new Error('crossEntropy: the vocabulary axis must be static');
  const picked = g.reduceSum(g.mul(g.logSoftmax(logits, -1), g.oneHot(targets, V)), [-1], false); // [...]
  const axes = [...picked.shape.keys()];
  if (!mask) return g.neg(g.reduceMean(picked, axes, false));
  return g.neg(
    g.div(g.reduceSum(g.mul(picked, mask), axes, false), g.max(g.reduceSum(mask, axes, false), 1)),
  );
}

const scalarInput = (v: number): F32 => f32([], [v]);

type ResolvedAdamW = Required<Omit<AdamWOptions, 'clipNorm'>> & { clipNorm?: number };

function resolve(opt: AdamWOptions): ResolvedAdamW {
  if (!(opt.lr > 0)) throw new Error(`AdamW: learning rate must be positive, got ${opt.lr}`);
  return {
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
    weightDecay: 0.01,
    decay: (_n, p) => p.shape.length >= 2,
    ...opt,
  };
}

export class TrainingSession {
  private params: Record<string, F32>;
  private m: Record<string, F32>;
  private v: Record<string, F32>;
  private t = 0;
  private readonly opt: ResolvedAdamW;

  private constructor(
    private readonly stepGraph: CompiledGraph,
    private readonly lossGraph: CompiledGraph,
    private readonly names: string[],
    params: Record<string, F32>,
    opt: AdamWOptions,
    private readonly metricNames: readonly string[] = [],
  ) {
    this.params = { ...params };
    this.m = Object.fromEntries(names.map((n) => [n, f32(params[n].shape)]));
    this.v = Object.fromEntries(names.map((n) => [n, f32(params[n].shape)]));
    this.opt = resolve(opt);
  }

  static async create(runtime: Runtime, spec: TrainingSpec, opt: AdamWOptions): Promise<TrainingSession> {
    const names = Object.keys(spec.params);
    if (names.length === 0) throw new Error('TrainingSession: no parameters');
    for (const n of names)
      if (spec.params[n].dtype !== 'float32') throw new Error(`parameter '${n}' is not float32`);
    const options = resolve(opt);

    const declare = (g: GraphBuilder) => {
      const p = Object.fromEntries(names.map((n) => [n, g.input(`p:${n}`, 'float32', spec.params[n].shape)]));
      const x = Object.fromEntries(
        Object.entries(spec.inputs).map(([n, d]) => [n, g.input(`in:${n}`, d.dtype, d.shape)]),
      );
      const built = spec.loss(g, p, x);
      return 'metrics' in built ? { p, x, ...built } : { p, x, loss: built, metrics: {} };
    };

    const lg = new GraphBuilder();
    const evalOut = declare(lg);
    const lossGraph = await runtime.load(lg.compile({ loss: evalOut.loss }));

    const g = new GraphBuilder();
    const { p, loss, metrics } = declare(g);
    if (loss.rank !== 0) throw new Error(`TrainingSession: the loss must be a scalar, got rank ${loss.rank}`);
    const lr = g.input('lr', 'float32', []);
    const bc1 = g.input('bc1', 'float32', []); // 1 / (1 − β1^t)
    const bc2 = g.input('bc2', 'float32', []); // 1 / (1 − β2^t)
    const pts = names.map((n) => p[n]);
    const grads = g.grad([loss], [g.scalar(1)], pts);
    const sq = grads.map((gr) => g.reduceSum(g.mul(gr, gr), [...gr.shape.keys()], false));
    const gradNorm = g.sqrt(sq.reduce((a, b) => g.add(a, b)));
    const coef =
      options.clipNorm === undefined ? undefined : g.min(g.div(options.clipNorm, g.add(gradNorm, 1e-6)), 1);
    const outputs: Record<string, Tensor> = { loss, gradNorm };
    for (const [k, t] of Object.entries(metrics)) outputs[`metric:${k}`] = t;
    names.forEach((n, i) => {
      const gr = coef ? g.mul(grads[i], coef) : grads[i];
      const m = g.input(`m:${n}`, 'float32', spec.params[n].shape);
      const v = g.input(`v:${n}`, 'float32', spec.params[n].shape);
      const m2 = g.add(g.mul(m, options.beta1), g.mul(gr, 1 - options.beta1));
      const v2 = g.add(g.mul(v, options.beta2), g.mul(g.mul(gr, gr), 1 - options.beta2));
      const update = g.div(g.mul(m2, bc1), g.add(g.sqrt(g.mul(v2, bc2)), options.eps));
      const decayed =
        options.decay(n, spec.params[n]) && options.weightDecay > 0
          ? g.mul(p[n], g.sub(1, g.mul(lr, options.weightDecay)))
          : p[n];
      outputs[`new:p:${n}`] = g.sub(decayed, g.mul(update, lr));
      outputs[`new:m:${n}`] = m2;
      outputs[`new:v:${n}`] = v2;
    });
    const stepGraph = await runtime.load(g.compile(outputs));
    return new TrainingSession(stepGraph, lossGraph, names, spec.params, opt, Object.keys(metrics));
  }

  /** Optimiser steps taken so far. */
  get stepCount(): number {
    return this.t;
  }

  /** One optimiser step on a batch; `lr` overrides the configured learning rate (schedules). */
  async step(inputs: Record<string, HostTensor>, lr = this.opt.lr): Promise<StepResult> {
    this.t += 1;
    const feeds: Record<string, HostTensor> = {
      lr: scalarInput(lr),
      bc1: scalarInput(1 / (1 - this.opt.beta1 ** this.t)),
      bc2: scalarInput(1 / (1 - this.opt.beta2 ** this.t)),
    };
    for (const [k, v] of Object.entries(inputs)) feeds[`in:${k}`] = v;
    for (const n of this.names) {
      feeds[`p:${n}`] = this.params[n];
      feeds[`m:${n}`] = this.m[n];
      feeds[`v:${n}`] = this.v[n];
    }
    const out = await this.stepGraph.run(feeds);
    const loss = out.loss.data[0] as number;
    if (!Number.isFinite(loss)) throw new Error(`training diverged at step ${this.t}: loss is ${loss}`);
    for (const n of this.names) {
      this.params[n] = out[`new:p:${n}`] as F32;
      this.m[n] = out[`new:m:${n}`] as F32;
      this.v[n] = out[`new:v:${n}`] as F32;
    }
    const metrics: Record<string, F32> = {};
    for (const k of this.metricNames) metrics[k] = out[`metric:${k}`] as F32;
    return { loss, gradNorm: out.gradNorm.data[0] as number, metrics };
  }

  /** The loss on a batch, without updating anything. */
  async evaluate(inputs: Record<string, HostTensor>): Promise<number> {
    const feeds: Record<string, HostTensor> = {};
    for (const [k, v] of Object.entries(inputs)) feeds[`in:${k}`] = v;
    for (const n of this.names) feeds[`p:${n}`] = this.params[n];
    const out = await this.lossGraph.run(feeds, ['loss']);
    return out.loss.data[0] as number;
  }

  /** The AdamW moments and step count (the tensors are the session's own: treat them as read-only). */
  getOptimizerState(): OptimizerState {
    return { step: this.t, m: { ...this.m }, v: { ...this.v } };
  }

  /** Restores a state from getOptimizerState; every parameter needs both moments, with its shape. */
  setOptimizerState(state: OptimizerState): void {
    if (!Number.isInteger(state.step) || state.step < 0) {
      throw new Error(`optimizer state: step must be a non-negative integer, got ${state.step}`);
    }
    const check = (kind: 'm' | 'v', n: string): F32 => {
      const t = state[kind][n];
      const want = this.params[n].shape;
      if (!t) throw new Error(`optimizer state: no ${kind} for parameter '${n}'`);
      const sameShape = t.shape.length === want.length && t.shape.every((d, i) => d === want[i]);
      if (t.dtype !== 'float32' || !sameShape || t.data.length !== numel(want)) {
        throw new Error(
          `optimizer state: ${kind} of '${n}' is ${t.dtype} [${t.shape.join(', ')}], not float32 [${want.join(', ')}]`,
        );
      }
      return t;
    };
    for (const kind of ['m', 'v'] as const) {
      for (const n of Object.keys(state[kind])) {
        if (!this.names.includes(n)) throw new Error(`optimizer state: unknown parameter '${n}' in ${kind}`);
      }
    }
    const m = Object.fromEntries(this.names.map((n) => [n, check('m', n)]));
    const v = Object.fromEntries(this.names.map((n) => [n, check('v', n)]));
    this.m = m;
    this.v = v;
    this.t = state.step;
  }

  getParameters(): Record<string, F32> {
    return { ...this.params };
  }

  /** Replaces some parameters (shapes must match); optimiser moments of replaced ones are reset. */
  setParameters(values: Record<string, F32>): void {
    for (const [n, v] of Object.entries(values)) {
      const cur = this.params[n];
      if (!cur) throw new Error(`unknown parameter '${n}'`);
      if (v.shape.length !== cur.shape.length || v.shape.some((d, i) => d !== cur.shape[i])) {
        throw new Error(`parameter '${n}': shape [${v.shape.join(', ')}] is not [${cur.shape.join(', ')}]`);
      }
      this.params[n] = v;
      this.m[n] = f32(v.shape);
      this.v[n] = f32(v.shape);
    }
  }
}
