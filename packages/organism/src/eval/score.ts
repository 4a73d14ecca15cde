import type { EvalItem, EvalSets } from '../curriculum/eval-sets.ts';
import { RHYME_INDEX } from '../curriculum/tasks.ts';
import type { OrganismTokenizer } from '../tokenizer.ts';

/** Greedy continuation of `promptIds` (which start with <bos>): at most `maxNewTokens` new ids. */
export type Generate = (promptIds: readonly number[], maxNewTokens: number) => Promise<readonly number[]>;

export interface ItemResult {
  item: EvalItem;
  /** Decoded continuation, cut at the end of its line. */
  output: string;
  correct: boolean;
}

export interface AccuracyRow {
  task: string;
  subtask: string;
  language: string;
  n: number;
  correct: number;
  accuracy: number;
  /** Acceptance goal, when the issue sets one. */
  goal?: number;
  /** For 'refusal' scoring: the share of confident (non-refusal) answers. */
  hallucinationRate?: number;
}

/** Goals from issue #4, keyed "task/subtask". */
export const GOALS: Readonly<Record<string, number>> = {
  'addition/unseen-pairs': 0.95,
  'antonym/seen': 0.95,
  'antonym/held-out-in-language': 0.7,
  'facts/two-hop-seen': 0.9,
  'facts/two-hop-held-out': 0.5,
  'rhyme/held-out-first-lines': 0.9,
  'entity/known': 0.95,
  'entity/unknown': 0.95,
};

const RHYME_MAX_TOKENS = 16;

/** Cuts a continuation at its first newline or <eos>: answers and second lines never span lines. */
function lineOf(ids: readonly number[], tok: OrganismTokenizer): number[] {
  const out: number[] = [];
  for (const id of ids) {
    if (id === tok.newlineId || id === tok.eosId) break;
    out.push(id);
  }
  return out;
}

function startsWith(ids: readonly number[], prefix: readonly number[]): boolean {
  return prefix.length > 0 && prefix.length <= ids.length && prefix.every((id, i) => ids[i] === id);
}

/** The last word of a couplet's first line: "the boy saw the cat," → "cat". */
export function firstLineEndWord(prompt: string): string {
  const m = /([A-Za-z]+),?\s*$/.exec(prompt);
  if (!m) throw new Error(`rhyme prompt has no end word: ${JSON.stringify(prompt)}`);
  return m[1];
}

/** The last word of a generated line, ignoring final punctuation. */
export function lastWord(line: string): string | undefined {
  const words = line.match(/[A-Za-z]+/g);
  return words ? words[words.length - 1] : undefined;
}

/** A second line rhymes when it ends in a different word of the first line's rhyme class. */
export function rhymes(firstWord: string, secondLine: string): boolean {
  const a = RHYME_INDEX.get(firstWord);
  const last = lastWord(secondLine);
  if (!a || !last || last === firstWord) return false;
  return RHYME_INDEX.get(last)?.rhymeClass === a.rhymeClass;
}

export async function scoreItem(
  item: EvalItem,
  tok: OrganismTokenizer,
  generate: Generate,
): Promise<ItemResult> {
  const promptIds = tok.encode(item.prompt);
  if (item.scoring === 'rhyme') {
    const line = lineOf(await generate(promptIds, RHYME_MAX_TOKENS), tok);
    const output = tok.decode(line, true);
    return { item, output, correct: rhymes(firstLineEndWord(item.prompt), output) };
  }
  const targets = item.expected.map((e) => tok.encode(e, false));
  const maxLen = Math.max(...targets.map((t) => t.length));
  const line = lineOf(await generate(promptIds, maxLen), tok);
  const correct = targets.some((t) => startsWith(line, t));
  return { item, output: tok.decode(line, true), correct };
}

export async function scoreAll(
  items: readonly EvalItem[],
  tok: OrganismTokenizer,
  generate: Generate,
): Promise<ItemResult[]> {
  const results: ItemResult[] = [];
  for (const item of items) results.push(await scoreItem(item, tok, generate));
  return results;
}

/** Per (task, subtask, language) accuracy; rows sorted for a stable table. */
export function accuracyTable(results: readonly ItemResult[]): AccuracyRow[] {
  const groups = new Map<string, ItemResult[]>();
  for (const r of results) {
    const key = `${r.item.task}\t${r.item.subtask}\t${r.item.language}`;
    const g = groups.get(key);
    if (g) g.push(r);
    else groups.set(key, [r]);
  }
  return [...groups.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, rs]) => {
      const [task, subtask, language] = key.split('\t');
      const correct = rs.filter((r) => r.correct).length;
      const row: AccuracyRow = {
        task,
        subtask,
        language,
        n: rs.length,
        correct,
        accuracy: correct / rs.length,
      };
      const goal = GOALS[`${task}/${subtask}`];
      if (goal !== undefined) row.goal = goal;
      if (rs[0].item.scoring === 'refusal') row.hallucinationRate = 1 - row.accuracy;
      return row;
    });
}

export function formatTable(rows: readonly AccuracyRow[]): string {
  const header = ['task', 'subtask', 'lang', 'n', 'accuracy', 'goal', 'note'];
  const lines = rows.map((r) => [
    r.task,
    r.subtask,
    r.language,
    String(r.n),
    `${(100 * r.accuracy).toFixed(1)}%`,
    r.goal === undefined ? '' : `≥${Math.round(100 * r.goal)}%`,
    r.hallucinationRate !== undefined
      ? `hallucination ${(100 * r.hallucinationRate).toFixed(1)}%`
      : r.goal === undefined
        ? ''
        : r.accuracy >= r.goal
          ? 'met'
          : 'NOT met',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  return [fmt(header), fmt(widths.map((w) => '-'.repeat(w))), ...lines.map(fmt)].join('\n');
}

/** Scores every eval set and returns the table, ready for `formatTable` or JSON. */
export async function evaluate(
  sets: EvalSets,
  tok: OrganismTokenizer,
  generate: Generate,
): Promise<{ rows: AccuracyRow[]; results: ItemResult[] }> {
  const results = await scoreAll(Object.values(sets).flat(), tok, generate);
  return { rows: accuracyTable(results), results };
}
