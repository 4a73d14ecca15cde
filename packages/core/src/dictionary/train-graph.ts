import type { GraphBuilder, Tensor } from '../tensor/graph.ts';
import { f32 } from '../tensor/host.ts';
import type { DictionaryKind } from './types.ts';

export interface TrainingGraphShape {
  kind: DictionaryKind;
  L: number;
  d: number;
  width: number;
  rows: number; // R, static: BatchTopK keeps k·R values
  k: number;
  auxK: number;
  auxCoef: number;
}

/** Decoder output without b_dec: acts [L, R, w] → [L, R, d]. */
function decode(g: GraphBuilder, s: TrainingGraphShape, p: Record<string, Tensor>, acts: Tensor): Tensor {
  if (s.kind !== 'clt') return g.matmul(acts, p.wDec);
  const { L, d, rows: R, width } = s;
  let sum: Tensor | undefined;
  for (let l = 0; l < L; l++) {
    const a = g.reshape(g.slice(acts, 0, l, l + 1), [R, width]);
    const part = g.matmul(a, g.reshape(p[`wDec${l}`], [width, (L - l) * d])); // [R, (L − l)·d]
    // Concat rather than Pad: the autodiff has a rule for Concat.
    const padded = l === 0 ? part : g.concat([g.constant(f32([R, l * d])), part], 1);
    sum = sum ? g.add(sum, padded) : padded;
  }
  return g.transpose(g.reshape(sum as Tensor, [R, L, d]), [1, 0, 2]);
}

/** The smallest of the k largest values along the last axis (detached): x [..., n] → [..., 1]. */
export function kthLargest(g: GraphBuilder, x: Tensor, k: number): Tensor {
  const outShape = [...x.shape.slice(0, -1), k];
  // Unsorted TopK + ReduceMin: sorting the k kept values would cost more than selecting them.
  const [values] = g.node('TopK', [x, g.ints([k])], [outShape, outShape], ['float32', 'int64'], {
    axis: -1,
    largest: 1,
    sorted: 0,
  });
  const [min] = g.node('ReduceMin', [values], [[...x.shape.slice(0, -1), 1]], ['float32'], {
    axes: [-1],
    keepdims: 1,
  });
  return g.detach(min);
}

/**
 * The training step's tensors. Inputs: x, y [R, L, d] (normalised rows), dead [L, 1, w] (1 = dead).
 * BatchTopK per layer over all R·w pre-activations; AuxK over dead features per row.
 */
export function dictionaryTrainingGraph(
  g: GraphBuilder,
  s: TrainingGraphShape,
  p: Record<string, Tensor>,
  x: Tensor,
  y: Tensor,
  dead: Tensor,
): { loss: Tensor; metrics: Record<string, Tensor> } {
  const { L, rows: R, width: w, k } = s;
  const xt = g.transpose(x, [1, 0, 2]); // [L, R, d]
  const yt = g.transpose(y, [1, 0, 2]);
  const pre = g.add(g.matmul(xt, g.mT(p.wEnc)), p.bEnc); // [L, R, w]
  const theta = g.reshape(kthLargest(g, g.reshape(pre, [L, R * w]), Math.min(k * R, R * w)), [L, 1, 1]);
  const keep = g.and(g.greaterOrEqual(pre, theta), g.greater(pre, g.scalar(0)));
  const acts = g.where(keep, pre, 0);
  const recon = g.add(decode(g, s, p, acts), p.bDec);
  const err = g.sub(recon, yt);
  const sse = g.reduceSum(g.mul(err, err), [1, 2], false); // [L]
  const mse = g.div(g.reduceSum(sse, [0], false), L * R * s.d);

  const isDead = g.greater(dead, g.scalar(0.5));
  const preDead = g.where(isDead, pre, -1e30);
  const auxTheta = kthLargest(g, preDead, s.auxK); // [L, R, 1]
  const auxKeep = g.and(g.and(g.greaterOrEqual(preDead, auxTheta), isDead), g.greater(pre, g.scalar(0)));
  const auxRecon = decode(g, s, p, g.where(auxKeep, pre, 0));
  const residual = g.detach(g.sub(yt, recon));
  const auxErr = g.sub(auxRecon, residual);
  const auxLoss = g.div(
    g.reduceMean(g.mul(auxErr, auxErr), [0, 1, 2], false),
    g.max(g.reduceMean(g.mul(residual, residual), [0, 1, 2], false), 1e-12),
  );
  const centred = g.sub(yt, g.reduceMean(yt, [1], true));
  return {
    loss: g.add(mse, g.mul(auxLoss, s.auxCoef)),
    metrics: {
      mse,
      sse,
      sst: g.reduceSum(g.mul(centred, centred), [1, 2], false), // [L]
      fires: g.reshape(g.reduceSum(g.cast(keep, 'float32'), [1], false), [L, w]),
      theta: g.reshape(theta, [L]),
    },
  };
}

/** Warm-up over the first 5% of steps, constant, then linear decay to 0 over the last 20%. */
export function dictionaryLearningRate(step: number, steps: number, lr: number): number {
  const warm = Math.max(1, Math.floor(steps * 0.05));
  const decayFrom = Math.floor(steps * 0.8);
  if (step < warm) return (lr * (step + 1)) / warm;
  if (step < decayFrom) return lr;
  return (lr * (steps - step)) / Math.max(1, steps - decayFrom);
}
