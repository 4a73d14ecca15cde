/** Choosing the next token from one row of logits [V]: greedy or seeded sampling, for every generator. */
import { positiveInt } from '../tensor/checks.ts';

/** The index of the largest logit (the first on ties). */
export function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

/**
 * Temperature 0 is greedy (argmax); otherwise a draw from softmax(row / temperature), restricted to the
 * `topK` largest logits when given, using `rand` (uniform in [0, 1)) so that a seed reproduces it.
 */
export function sampleToken(
  row: Float32Array,
  temperature: number,
  rand: () => number,
  topK?: number,
): number {
  if (temperature === 0) return argmax(row);
  let ids = [...row.keys()];
  if (topK !== undefined && topK < row.length)
    ids = ids.sort((a, b) => row[b] - row[a]).slice(0, Math.max(1, topK));
  let max = Number.NEGATIVE_INFINITY;
  for (const i of ids) max = Math.max(max, row[i]);
  const w = ids.map((i) => Math.exp((row[i] - max) / temperature));
  let u = rand() * w.reduce((a, b) => a + b, 0);
  for (let j = 0; j < ids.length; j++) {
    u -= w[j];
    if (u <= 0) return ids[j];
  }
  return ids[ids.length - 1];
}

/**
 * Checks a generation request against the context length: T prompt tokens plus maxNewTokens must fit in nCtx.
 * Returns the temperature to sample at (0, greedy, when not given).
 */
export function checkGeneration(
  T: number,
  options: { maxNewTokens: number; temperature?: number },
  nCtx: number,
): number {
  const n = options.maxNewTokens;
  positiveInt(n, 'maxNewTokens');
  if (T + n > nCtx) throw new Error(`${T} + ${n} tokens exceed the context length ${nCtx}`);
  const temperature = options.temperature ?? 0;
  if (!(temperature >= 0)) throw new Error(`temperature must be ≥ 0, got ${temperature}`);
  return temperature;
}
