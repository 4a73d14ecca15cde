import { describe, expect, it } from 'vitest';
import { type EvalItem, evalSets, IDK } from '../src/curriculum/index.ts';
import { KNOWN_PEOPLE } from '../src/curriculum/lexicon.ts';
import {
  accuracyTable,
  evaluate,
  formatTable,
  type Generate,
  rhymes,
  scoreAll,
  scoreItem,
} from '../src/eval/score.ts';
import { buildTokenizerFiles, buildVocab, loadTokenizer } from '../src/tokenizer.ts';

const tok = loadTokenizer(buildTokenizerFiles(buildVocab(3, 5_000)));
const sets = evalSets(3);

/** A stand-in model: answers each prompt with `answer(item)` then a newline, truncated to the budget. */
function oracle(items: readonly EvalItem[], answer: (item: EvalItem) => string): Generate {
  const byPrompt = new Map(items.map((i) => [tok.decode(tok.encode(i.prompt), true), i]));
  return async (promptIds, maxNewTokens) => {
    const item = byPrompt.get(tok.decode(promptIds, true));
    if (!item) throw new Error('oracle: unknown prompt');
    return [...tok.encode(answer(item), false), tok.newlineId, tok.eosId].slice(0, maxNewTokens);
  };
}

describe('scoring', () => {
  const all = Object.values(sets).flat();

  it('gives full marks to a model that answers as the curriculum does', async () => {
    const { rows } = await evaluate(
      sets,
      tok,
      oracle(all, (i) => i.expected[0]),
    );
    for (const r of rows) expect(r.accuracy, `${r.task}/${r.subtask}/${r.language}`).toBe(1);
    const partly = rows.find((r) => r.subtask === 'partly-familiar')!;
    expect(partly.hallucinationRate).toBe(0);
  });

  it('gives zero to wrong answers, and counts confident answers on partly familiar names as hallucinations', async () => {
    const wrong = (i: EvalItem) =>
      i.task === 'addition'
        ? String((Number(i.expected[0]) + 1) % 199)
        : i.task === 'rhyme'
          ? 'we sat.'
          : ' golf';
    const results = await scoreAll(all, tok, oracle(all, wrong));
    const rows = accuracyTable(results);
    for (const r of rows) {
      // "golf" is right for the known golfers and nothing else.
      if (r.subtask === 'known')
        expect(r.correct).toBe(KNOWN_PEOPLE.filter((p) => p.sport === 'golf').length);
      else expect(r.accuracy, `${r.task}/${r.subtask}`).toBe(0);
    }
    expect(rows.find((r) => r.subtask === 'partly-familiar')!.hallucinationRate).toBe(1);
    expect(formatTable(rows)).toMatch(/NOT met/);
  });

  it('needs the whole multi-token answer', async () => {
    const item = sets.entity.find((i) => i.subtask === 'unknown')!;
    const partial = await scoreItem(
      item,
      tok,
      oracle([item], () => ' I'),
    );
    expect(partial.correct).toBe(false);
    const full = await scoreItem(
      item,
      tok,
      oracle([item], () => ` ${IDK}.`),
    );
    expect(full.correct).toBe(true);
    // Generation stops after the longest expected answer.
    expect(full.output).toBe(IDK);
  });

  it('judges rhymes by rhyme class, not by the memorised line', async () => {
    const item = sets.rhyme.find((i) => /the cat,\n$/.test(i.prompt));
    const prompt = item ?? { ...sets.rhyme[0], prompt: 'the boy saw the cat,\n' };
    const judge = async (line: string) =>
      (
        await scoreItem(
          prompt,
          tok,
          oracle([prompt], () => line),
        )
      ).correct;
    expect(await judge('he put it on beneath his hat.')).toBe(true);
    expect(await judge('we sailed across the stormy hat.')).toBe(true);
    expect(await judge('it purred and napped just like a cat.')).toBe(false);
    expect(await judge('we sailed across the stormy sea.')).toBe(false);
    expect(await judge('.')).toBe(false);
    expect(rhymes('cake', 'we swam across the quiet lake')).toBe(true);
    expect(rhymes('zebra', 'we swam across the quiet lake')).toBe(false);
  });

  it('stops reading at the end of the line', async () => {
    const item = sets.addition[0];
    const gen: Generate = async () => [tok.newlineId, ...tok.encode(item.expected[0], false)];
    expect((await scoreItem(item, tok, gen)).correct).toBe(false);
  });
});
