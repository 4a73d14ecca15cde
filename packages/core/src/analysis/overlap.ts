/**
 * How much the active features of prompts that share a concept overlap (the same fact in several languages, say),
 * per dictionary layer: the mean Jaccard index |S_i ∩ S_j| / |S_i ∪ S_j| of their active sets over all pairs
 * of the set, beside the same measure between the set's prompts and prompts about a different concept. Shared
 * features beyond that baseline are what the concept itself contributes; the baseline is what any two prompts
 * of this form share (position, syntax, frequent tokens).
 */
import type { PositionActivations } from './activations.ts';

export interface LayerOverlap {
  layer: number;
  /** Mean pairwise Jaccard index within the set. */
  overlap: number;
  /** Mean Jaccard index between a prompt of the set and a baseline prompt. */
  baseline: number;
}

/** |A ∩ B| / |A ∪ B| of the non-zero entries of a[from, to) and b[from, to); 0 when both are empty. */
export function jaccard(a: Float32Array, b: Float32Array, from: number, to: number): number {
  let both = 0;
  let either = 0;
  for (let i = from; i < to; i++) {
    const x = a[i] !== 0;
    const y = b[i] !== 0;
    if (x && y) both++;
    if (x || y) either++;
  }
  return either === 0 ? 0 : both / either;
}

export function featureOverlap(set: PositionActivations, baseline: PositionActivations): LayerOverlap[] {
  if (set.rows.length < 2) throw new Error('overlap: the prompt set needs at least two prompts');
  if (baseline.rows.length === 0) throw new Error('overlap: the baseline needs at least one prompt');
  if (set.dTc !== baseline.dTc || set.layers.join() !== baseline.layers.join())
    throw new Error('overlap: the set and the baseline come from different dictionaries');
  const { dTc } = set;
  return set.layers.map((layer, l) => {
    const from = l * dTc;
    const to = from + dTc;
    let within = 0;
    let pairs = 0;
    for (let i = 0; i < set.rows.length; i++) {
      for (let j = i + 1; j < set.rows.length; j++) {
        within += jaccard(set.rows[i], set.rows[j], from, to);
        pairs++;
      }
    }
    let across = 0;
    for (const r of set.rows) for (const q of baseline.rows) across += jaccard(r, q, from, to);
    return { layer, overlap: within / pairs, baseline: across / (set.rows.length * baseline.rows.length) };
  });
}
