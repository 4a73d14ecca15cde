/**
 * The argument check that every layer repeats (batch sizes, counts, widths): one wording everywhere, so a
 * message reads the same whether it comes from attribution, a dictionary or the organism's trainer.
 */

/** True for 1, 2, 3, …: a whole number of at least one. */
export function isPositiveInt(v: number): boolean {
  return Number.isInteger(v) && v >= 1;
}

/** `v` unchanged when it is a positive integer; otherwise "`what` must be a positive integer, got `v`". */
export function positiveInt(v: number, what: string): number {
  if (!isPositiveInt(v)) throw new Error(`${what} must be a positive integer, got ${v}`);
  return v;
}
