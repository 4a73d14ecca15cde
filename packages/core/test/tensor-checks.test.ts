import { describe, expect, it } from 'vitest';
import { isPositiveInt, positiveInt } from '../src/index.ts';

describe('positiveInt', () => {
  it('accepts whole numbers of at least one and nothing else', () => {
    expect([1, 2, 4096, 2 ** 40].map(isPositiveInt)).toEqual([true, true, true, true]);
    expect([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY].map(isPositiveInt)).toEqual([
      false,
      false,
      false,
      false,
      false,
    ]);
  });

  it('returns the value, or names it and the bad value in one wording', () => {
    expect(positiveInt(7, 'batch size')).toBe(7);
    expect(() => positiveInt(0, 'batch size')).toThrow('batch size must be a positive integer, got 0');
    expect(() => positiveInt(2.5, 'search: top')).toThrow('search: top must be a positive integer, got 2.5');
  });
});
