import { describe, expect, it } from 'vitest';
import { bestJaccards } from '../src/first-pass.ts';

describe('bestJaccards', () => {
  it('gives each reference its best overlap with any proposal', () => {
    const refs = [new Set(['a', 'b', 'c', 'd']), new Set(['x'])];
    const proposals = [new Set(['a', 'b']), new Set(['a', 'b', 'c', 'e'])];
    // {a,b,c,d} vs {a,b,c,e}: 3 shared of 5; vs {a,b}: 2 of 4.
    expect(bestJaccards(refs, proposals)).toEqual([3 / 5, 0]);
  });

  it('scores 0 without proposals and for an empty reference', () => {
    expect(bestJaccards([new Set(['a'])], [])).toEqual([0]);
    expect(bestJaccards([new Set()], [new Set(['a'])])).toEqual([0]);
  });
});
