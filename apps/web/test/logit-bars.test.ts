import { describe, expect, it } from 'vitest';
import { effectText, logitBars } from '../src/components/feature/logit-bars.ts';

const tokens = { top_logits: ['Austin', 'Dallas', 'Houston'], bottom_logits: ['the', 'a'] };

describe("the feature view's logit-effect bars", () => {
  it('are the stored effect values, signed, promoted first then suppressed, with the numbers', () => {
    const { bars, byValue } = logitBars({
      ...tokens,
      top_logit_values: [2.5, 1.25, 0.5],
      bottom_logit_values: [-3.75, -0.0123],
    });
    expect(byValue).toBe(true);
    expect(bars.map((b) => [b.side, b.rank, b.token, b.v, b.text])).toEqual([
      ['promotes', 1, 'Austin', 2.5, '+2.50'],
      ['promotes', 2, 'Dallas', 1.25, '+1.25'],
      ['promotes', 3, 'Houston', 0.5, '+0.500'],
      ['suppresses', 1, 'the', -3.75, '−3.75'],
      ['suppresses', 2, 'a', -0.0123, '−0.0123'],
    ]);
  });

  it('fall back to rank, and say so, for an index without values', () => {
    const { bars, byValue } = logitBars(tokens);
    expect(byValue).toBe(false);
    expect(bars.map((b) => b.v)).toEqual([3, 2, 1, -3, -2]);
    expect(bars.map((b) => b.text)).toEqual(['#1', '#2', '#3', '#1', '#2']);
  });

  it('keep at most n a side, values cut with their tokens', () => {
    const { bars } = logitBars({ ...tokens, top_logit_values: [3, 2, 1], bottom_logit_values: [-2, -1] }, 2);
    expect(bars.map((b) => `${b.token}:${b.v}`)).toEqual(['Austin:3', 'Dallas:2', 'the:-2', 'a:-1']);
  });

  it('write a non-finite value as a dash', () => {
    expect(effectText(Number.NaN)).toBe('—');
    expect(effectText(0)).toBe('+0.00');
  });
});
