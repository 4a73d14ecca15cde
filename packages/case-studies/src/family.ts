import { Rng } from '@loupe/organism';

/** The curriculum seed of the shipped organisms: its held-out splits are what their eval scores. */
export const CURRICULUM_SEED = 1;

/** A deterministic [0, 1) generator per purpose, so each family and baseline is the same on every run. */
export function random(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.next();
}
