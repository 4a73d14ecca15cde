import { describe, expect, it } from 'vitest';
import type { AccuracyRow } from '../src/eval/score.ts';
import {
  accuracyMarkdown,
  extractGenerated,
  GENERATED_BEGIN,
  GENERATED_END,
  lossCurveSvg,
  niceTicks,
  parseCurve,
  parseEvalRows,
  replaceGenerated,
  type ShippedReport,
  shippedReport,
  sizesTable,
} from '../src/report.ts';

const hfConfig = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  vocab_size: 40,
  hidden_size: 8,
  intermediate_size: 16,
  num_hidden_layers: 2,
  num_attention_heads: 2,
  num_key_value_heads: 2,
  max_position_embeddings: 64,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  hidden_act: 'silu',
  tie_word_embeddings: true,
};
const curve = [
  { step: 50, tokens: 50 * 4 * 64, lr: 1e-3, trainLoss: 4, validationLoss: 3.5, seconds: 60 },
  { step: 100, tokens: 100 * 4 * 64, lr: 1e-4, trainLoss: 2, validationLoss: 1.9, seconds: 7260 },
];
const row = (subtask: string, correct: number, extra: Partial<AccuracyRow> = {}): AccuracyRow => ({
  task: 'addition',
  subtask,
  language: 'mixed',
  n: 10,
  correct,
  accuracy: correct / 10,
  ...extra,
});
const report = (name: string, rows: AccuracyRow[]): ShippedReport =>
  shippedReport(name, { config: hfConfig, curve, eval: rows });

describe('organism report', () => {
  it('rejects malformed curve and eval files, naming the problem', () => {
    expect(() => parseCurve([])).toThrow(/training-curve.json: the curve has no points/);
    expect(() => parseCurve([{ ...curve[0], trainLoss: 'x' }])).toThrow(/at 0.trainLoss/);
    expect(() => parseEvalRows([{ ...row('a', 1), accuracy: 2 }], 'm/eval.json')).toThrow(
      /m\/eval.json: at 0.accuracy/,
    );
  });

  it('picks round axis ticks', () => {
    expect(niceTicks(3000)).toEqual([0, 500, 1000, 1500, 2000, 2500, 3000]);
    expect(niceTicks(2000)).toEqual([0, 500, 1000, 1500, 2000]);
    expect(niceTicks(10)).toEqual([0, 2, 4, 6, 8, 10]);
    expect(() => niceTicks(0)).toThrow(/positive/);
  });

  it('tabulates sizes and accuracy per organism, marking goals met or not', () => {
    const s = report('organism-s', [row('unseen', 9, { goal: 0.95 }), row('seen', 10)]);
    const m = report('organism-m', [row('unseen', 10, { goal: 0.95 })]);
    expect(sizesTable([s])).toContain('| organism-s | 2 | 8 | 2 | 16 | 40 |');
    expect(sizesTable([s])).toContain('| 100 | 4 × 64 | 0.03 M | 2 h 1 min | 2.000 / 1.900 |');
    const t = accuracyMarkdown([s, m]).split('\n');
    expect(t[0]).toBe('| task | subtask | lang | n | organism-s | organism-m | goal |');
    expect(t[2]).toBe('| addition | unseen | mixed | 10 | 90.0% ✗ | 100.0% ✓ | ≥ 95% |');
    expect(t[3]).toBe('| addition | seen | mixed | 10 | 100.0% | – | reported |');
    const other = report('organism-m', [{ ...row('unseen', 5), n: 20, accuracy: 0.25 }]);
    expect(() => accuracyMarkdown([s, other])).toThrow(/different item counts/);
  });

  it('draws both curves with a legend, and escapes text', () => {
    const svg = lossCurveSvg(report('a<b', [row('x', 1)]));
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.match(/<path /g)).toHaveLength(2);
    expect(svg).toContain('a&lt;b: loss during training');
    expect(svg).toContain('validation (fixed unseen batch), final 1.900');
  });

  it('replaces only the generated block and refuses a page without markers', () => {
    const page = `# t\n\n${GENERATED_BEGIN}\nold\n${GENERATED_END}\n\nafter $& $1\n`;
    const block = `${GENERATED_BEGIN}\nnew $&\n${GENERATED_END}`;
    const next = replaceGenerated(page, block);
    expect(next).toBe(`# t\n\n${block}\n\nafter $& $1\n`);
    expect(extractGenerated(next)).toBe(block);
    expect(() => extractGenerated('# nothing')).toThrow(/no generated block/);
  });
});
