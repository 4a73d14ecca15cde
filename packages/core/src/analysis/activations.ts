/**
 * Feature activations of a set of prompts at one position, the input of contrasts and overlaps: for each
 * prompt a [nLayers, dTc] slice of the dictionary's activations, the same layers for every prompt.
 */
import type { Intervener } from '../intervention/intervener.ts';
import { resolvePositions } from '../intervention/spec.ts';
import type { F32 } from '../tensor/host.ts';

export interface PositionActivations {
  /** Model layers of the dictionary, in order. */
  layers: number[];
  dTc: number;
  /** One [nLayers · dTc] row per prompt. */
  rows: Float32Array[];
}

/** acts [nLayers, T, dTc] at position `pos` (negative counts from the end) → [nLayers · dTc]. */
export function activationsAt(acts: F32, pos: number): Float32Array {
  if (acts.shape.length !== 3)
    throw new Error(`activationsAt: expected [layers, T, dTc], got [${acts.shape}]`);
  const [L, T, dTc] = acts.shape;
  const [p] = resolvePositions(pos, T, 'activations');
  const out = new Float32Array(L * dTc);
  for (let l = 0; l < L; l++) out.set(acts.data.subarray((l * T + p) * dTc, (l * T + p + 1) * dTc), l * dTc);
  return out;
}

/** Every dictionary layer's activations of each prompt at `pos`, from the Intervener's clean runs. */
export async function promptActivations(
  iv: Intervener,
  prompts: readonly Int32Array[],
  pos: number,
  signal?: AbortSignal,
): Promise<PositionActivations> {
  const layers = iv.dict.layers.map((l) => l.layer);
  const rows: Float32Array[] = [];
  for (const p of prompts) rows.push(activationsAt(await iv.activations(p, { layers, signal }), pos));
  return { layers, dTc: iv.dict.dTc, rows };
}
