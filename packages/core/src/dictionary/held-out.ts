import { positiveInt } from '../tensor/checks.ts';
import type { TokenBatches } from './train-options.ts';

/** How a pass over held-out batches (evaluation, feature indexing) is bounded and watched. */
export interface HeldOutPassOptions {
  /** Stop after this many batches; a finite source may end earlier. */
  maxBatches?: number;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

/**
 * The batches one held-out pass reads: at most `maxBatches` (default `defaultMax`, checked before any batch
 * is read), the signal checked before each and progress reported after each; an empty batch is an error
 * that names `pass`.
 */
export function heldOutBatches(
  batches: TokenBatches,
  options: HeldOutPassOptions,
  defaultMax: number,
  pass: string,
): AsyncGenerator<Int32Array[]> {
  const maxBatches = positiveInt(options.maxBatches ?? defaultMax, 'maxBatches');
  return (async function* () {
    let done = 0;
    for await (const seqs of batches) {
      options.signal?.throwIfAborted();
      if (seqs.length === 0 || seqs[0].length === 0) throw new Error(`${pass}: empty batch`);
      yield seqs;
      done++;
      options.onProgress?.(done, maxBatches);
      if (done >= maxBatches) return;
    }
  })();
}
