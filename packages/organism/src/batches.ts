import { positiveInt } from '@loupe/core';
import { type CurriculumOptions, generateTrainingStream } from './curriculum/index.ts';
import type { OrganismTokenizer } from './tokenizer.ts';

/** One training batch: inputs and next-token targets, with a mask of the targets that count. */
export interface Batch {
  shape: [number, number]; // [B, T]
  tokens: Int32Array; // [B, T]
  targets: Int32Array; // [B, T]; pad where the mask is 0
  lossMask: Float32Array; // [B, T]; 1 where the target is a real next token
  /** Documents consumed from the stream so far (the resume point). */
  docsConsumed: number;
}

export interface BatcherOptions {
  batchSize: number;
  nCtx: number;
  /** Seed of the document stream; the held-out split comes from `splitSeed`. */
  seed: number;
  splitSeed: number;
  /** Opt-in curriculum changes; default: the shipped organisms' curriculum. */
  curriculum?: CurriculumOptions;
  /** Skip this many documents first: resuming from a checkpoint replays the exact same stream. */
  skipDocs?: number;
}

/**
 * Packs whole documents, each as <bos> doc <eos>, into rows of nCtx tokens; a document that does not fit
 * starts the next row, and the tail is padding. Documents are never split, so every answer is predicted
 * with its whole question in view, as at evaluation. The target after <eos> (the next <bos>) is masked:
 * which document comes next is noise, not language.
 */
export function* batches(tok: OrganismTokenizer, opts: BatcherOptions): Generator<Batch, never> {
  const { batchSize: B, nCtx: T } = opts;
  positiveInt(B, 'batches: batchSize');
  if (!Number.isInteger(T) || T < 8) throw new Error(`batches: nCtx must be an integer ≥ 8, got ${T}`);
  const stream = generateTrainingStream(opts.seed, opts.splitSeed, opts.curriculum);
  let consumed = 0;
  for (; consumed < (opts.skipDocs ?? 0); consumed++) stream.next();

  let pending: number[] | undefined;
  const nextDoc = (): number[] => {
    for (;;) {
      const ids = [...tok.encode(stream.next().value.text), tok.eosId];
      consumed++;
      // The curriculum keeps documents within 62 tokens; a longer one cannot be packed and is skipped.
      if (ids.length <= T + 1) return ids;
    }
  };

  for (;;) {
    const tokens = new Int32Array(B * T).fill(tok.padId);
    const targets = new Int32Array(B * T).fill(tok.padId);
    const mask = new Float32Array(B * T);
    for (let b = 0; b < B; b++) {
      const row: number[] = [];
      for (;;) {
        const doc = pending ?? nextDoc();
        pending = undefined;
        // A row holds T inputs; the last document may lend its final token as the last target only.
        if (row.length > 0 && row.length + doc.length > T + 1) {
          pending = doc;
          break;
        }
        row.push(...doc);
        if (row.length >= T) break;
      }
      const n = Math.min(row.length - 1, T);
      for (let t = 0; t < n; t++) {
        tokens[b * T + t] = row[t];
        targets[b * T + t] = row[t + 1];
        mask[b * T + t] = row[t + 1] === tok.bosId ? 0 : 1;
      }
    }
    // `consumed` counts a pending document as read; the resume point excludes it.
    yield {
      shape: [B, T],
      tokens,
      targets,
      lossMask: mask,
      docsConsumed: consumed - (pending ? 1 : 0),
    };
  }
}
