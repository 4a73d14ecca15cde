import { describe, expect, it } from 'vitest';
import { probabilityText } from '../src/components/graph/logit-probability.tsx';

describe('probabilities as the explorer and the lab write them', () => {
  it('are percentages with the number, not ranks', () => {
    expect(probabilityText(0.4213)).toBe('42.1%');
    expect(probabilityText(1)).toBe('100%');
    expect(probabilityText(0.0123)).toBe('1.2%');
    expect(probabilityText(0.00005)).toBe('<0.01%');
    expect(probabilityText(Number.NaN)).toBe('—');
  });
});
