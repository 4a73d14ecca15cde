/**
 * mulberry32: a 32-bit state PRNG (Tommy Ettinger, public domain). Tiny, fast, and identical in every JS
 * engine because it uses only 32-bit integer ops (Math.imul), which is what makes the curriculum
 * reproducible from a seed. Not cryptographic; period 2^32, plenty for millions of documents.
 */
export class Rng {
  private state: number;

  constructor(seed: number) {
    if (!Number.isInteger(seed)) throw new Error(`Rng seed must be an integer, got ${seed}`);
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    if (!(n > 0)) throw new Error(`Rng.int needs n > 0, got ${n}`);
    return Math.floor(this.next() * n);
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('Rng.pick from an empty list');
    return items[this.int(items.length)];
  }

  /** Index drawn with probability proportional to weights[i]. */
  weighted(weights: readonly number[]): number {
    const total = weights.reduce((a, b) => a + b, 0);
    let r = this.next() * total;
    for (let i = 0; i < weights.length; i++) {
      r -= weights[i];
      if (r < 0) return i;
    }
    return weights.length - 1;
  }
}

/**
 * FNV-1a over a string, mixed with a seed: a stable hash used to assign items to held-out splits, so a
 * split depends only on (seed, item) and never on generation order.
 */
export function hashKey(seed: number, key: string): number {
  let h = (0x811c9dc5 ^ (seed >>> 0)) >>> 0;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  return h >>> 0;
}

/** Deterministically chooses `k` of `items` (by hash rank), independent of their order. */
export function chooseByHash<T>(seed: number, items: readonly T[], k: number, key: (t: T) => string): T[] {
  return [...items]
    .map((item) => ({ item, h: hashKey(seed, key(item)) }))
    .sort((a, b) => a.h - b.h)
    .slice(0, k)
    .map((x) => x.item);
}
