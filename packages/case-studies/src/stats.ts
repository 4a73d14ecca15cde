/**
 * The statistics the case studies report: pure functions over plain arrays, so each is checked in
 * isolation by the package's tests.
 */

export function mean(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Fraction of true values; NaN for none. */
export function rate(flags: readonly boolean[]): number {
  return flags.length === 0 ? Number.NaN : flags.filter(Boolean).length / flags.length;
}

/**
 * Correlation ratio η² of values [n] grouped by labels [n]: the share of the variance that the group means
 * explain (between-group sum of squares over total). 0 when the values are constant.
 */
export function etaSquared(values: ArrayLike<number>, labels: ArrayLike<number>): number {
  if (values.length !== labels.length)
    throw new Error(`etaSquared: ${values.length} values but ${labels.length} labels`);
  const n = values.length;
  if (n === 0) return 0;
  let total = 0;
  for (let i = 0; i < n; i++) total += values[i];
  const grand = total / n;
  const sums = new Map<number, { s: number; k: number }>();
  let ssTotal = 0;
  for (let i = 0; i < n; i++) {
    ssTotal += (values[i] - grand) ** 2;
    const g = sums.get(labels[i]) ?? { s: 0, k: 0 };
    g.s += values[i];
    g.k++;
    sums.set(labels[i], g);
  }
  if (ssTotal === 0) return 0;
  let ssBetween = 0;
  for (const { s, k } of sums.values()) ssBetween += k * (s / k - grand) ** 2;
  return ssBetween / ssTotal;
}

/** Softmax of one logit row [V], in float64 for stable small probabilities. */
export function softmax(row: ArrayLike<number>): Float64Array {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < row.length; i++) max = Math.max(max, row[i]);
  const out = new Float64Array(row.length);
  let z = 0;
  for (let i = 0; i < row.length; i++) {
    out[i] = Math.exp(row[i] - max);
    z += out[i];
  }
  for (let i = 0; i < row.length; i++) out[i] /= z;
  return out;
}

export function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

/** |A ∩ B| / |A ∪ B| of two sets of keys; 0 when both are empty. */
export function jaccardOfSets<T>(a: ReadonlySet<T>, b: ReadonlySet<T>): number {
  let both = 0;
  for (const x of a) if (b.has(x)) both++;
  const either = a.size + b.size - both;
  return either === 0 ? 0 : both / either;
}

/** `k` distinct items of `items` drawn with `random` (a [0, 1) generator); all of them when k ≥ length. */
export function sampleWithout<T>(items: readonly T[], k: number, random: () => number): T[] {
  const pool = [...items];
  const out: T[] = [];
  while (out.length < k && pool.length > 0) out.push(pool.splice(Math.floor(random() * pool.length), 1)[0]);
  return out;
}

/** A Fisher–Yates permutation of `labels` drawn with `random`: labels whose link to the prompts is chance. */
export function shuffled<T>(labels: readonly T[], random: () => number): T[] {
  const out = [...labels];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** Rank (0 = first) of each index when `scores` is sorted descending; ties keep index order. */
export function descendingRanks(scores: ArrayLike<number>): Int32Array {
  const order = Array.from({ length: scores.length }, (_, i) => i).sort(
    (a, b) => scores[b] - scores[a] || a - b,
  );
  const ranks = new Int32Array(scores.length);
  order.forEach((idx, r) => {
    ranks[idx] = r;
  });
  return ranks;
}
