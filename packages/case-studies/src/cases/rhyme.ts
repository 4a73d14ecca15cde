/**
 * Planning in verse: is the rhyme of the second line chosen at the line break, so that suppressing that plan
 * or injecting another one changes the line, as the published analysis found?
 */
import { RHYME_INDEX } from '@loupe/organism';
import { excessRate, type Measurement, type Table } from '../claims.ts';
import type { CaseStudy } from '../case.ts';
import { ALL_SETTINGS } from '../case.ts';
import { random } from '../family.ts';
import { coupletPromptText, HELD_OUT_COUPLETS } from '../lexicon.ts';
import {
  activationRows,
  activeFeatures,
  meanValues,
  setFeatures,
  subsetRows,
  traceGraph,
  setSite,
  typicalSite,
  classContrasts,
  randomActiveFeatures,
} from '../query.ts';
import { mean, rate, sampleWithout, shuffled } from '../stats.ts';
import { continuation, encode, nextToken, type Subject } from '../subject.ts';
import { graphSvg, nodeKey } from '../svg.ts';
import { firstPassTable } from '../first-pass.ts';

const N_SELECT = 160;
const N_TEST = 48;
const QUERY = { minAuc: 0.95, minActiveA: 0.75, top: 6 };
const MAX_LINE = 12;

interface Couplet {
  subject: string;
  verb: string;
  word: string;
}

const classOf = (word: string) => RHYME_INDEX.get(word)?.rhymeClass;
const CLASSES = [...new Set([...RHYME_INDEX.values()].map((v) => v.rhymeClass))];

/** Selection: first lines seen in training; test: the eval's held-out first lines. */
export function rhymeFamily(): { select: Couplet[]; test: Couplet[] } {
  const held = new Set(HELD_OUT_COUPLETS.map((c) => `${c.subject}|${c.verb}|${c.word}`));
  const subjects = [...new Set(HELD_OUT_COUPLETS.map((c) => c.subject))];
  const verbs = [...new Set(HELD_OUT_COUPLETS.map((c) => c.verb))];
  const words = [...RHYME_INDEX.keys()];
  const rnd = random(404);
  const select: Couplet[] = [];
  while (select.length < N_SELECT) {
    const c = {
      subject: subjects[Math.floor(rnd() * subjects.length)],
      verb: verbs[Math.floor(rnd() * verbs.length)],
      word: words[select.length % words.length],
    };
    if (!held.has(`${c.subject}|${c.verb}|${c.word}`)) select.push(c);
  }
  const test = sampleWithout(HELD_OUT_COUPLETS, N_TEST, random(405));
  return { select, test };
}

/** The last word of a generated line, without its full stop. */
export function endWord(line: string): string {
  const words = line
    .replace(/\.\s*$/, '')
    .trim()
    .split(/\s+/);
  return words[words.length - 1] ?? '';
}

/** What becomes of the second line's end word under an intervention. */
type Outcome = 'same' | 'rhyme' | 'other' | 'none';

const prompt = (s: Subject, c: Couplet) => encode(s, coupletPromptText(c.subject, c.verb, c.word));

export const rhyme: CaseStudy = {
  name: 'rhyme',
  title: 'the rhyme planned at the line break',
  settings: ALL_SETTINGS,
  claims: [
    {
      id: 'R1-plan-features',
      statement: 'Features at the line break carry the rhyme the second line will end on.',
      metric:
        "share of rhyme classes with at least one feature at the newline separating their first lines from the other classes' (AUC ≥ 0.95, active on ≥ 75%), minus the share found with the class labels shuffled",
      op: '>=',
      threshold: 0.5,
    },
    {
      id: 'R2-suppress-plan',
      statement: 'Suppressing the planned rhyme at the line break makes the model write a different line.',
      metric:
        'held-out first lines whose clean second line rhymes: rate of a changed end word after zeroing the class features at the newline, minus the rate for as many random active features there',
      op: '>=',
      threshold: 0.3,
    },
    {
      id: 'R3-inject-plan',
      statement: 'Injecting another rhyme at the line break makes the line end on that rhyme.',
      metric:
        "rate of second lines ending in a word of the next class after zeroing the class features at the newline and setting the next class's to their mean there (baseline: the first line's end word replaced by a word of that class)",
      op: '>=',
      threshold: 0.5,
    },
    {
      id: 'R4-rebuild-plan',
      statement:
        "The line break carries the plan as a whole: rebuilt from another rhyme class's typical line break, it makes the line end on that rhyme.",
      metric:
        "held-out first lines whose clean second line rhymes: rate of second lines ending in a word of the next class after zeroing every active feature at the newline and setting there every feature active on ≥ 75% of that class's selection first lines to its mean on them, minus the same rate after zeroing every active feature at the newline alone",
      op: '>=',
      threshold: 0.5,
    },
  ],
  async measure(s, log) {
    const { select, test } = rhymeFamily();
    const acts = await activationRows(
      s,
      select.map((c) => prompt(s, c)),
      -1,
    );
    const labels = select.map((c) => CLASSES.indexOf(classOf(c.word) as string));
    const query = (lab: number[]) => classContrasts(acts, CLASSES.length, (i) => lab[i], QUERY);
    const plan = query(labels);
    const rnd = random(406);
    const chance = query(shuffled(labels, rnd));
    const found = plan.filter((f) => f.length > 0).length / CLASSES.length;
    const foundByChance = chance.filter((f) => f.length > 0).length / CLASSES.length;
    log(`classes with plan features: ${found.toFixed(2)} (shuffled ${foundByChance.toFixed(2)})`);
    /** A class's typical line break: every feature active at the newline on ≥ 75% of its first lines, at its mean. */
    const typicalBreak = CLASSES.map((_, k) =>
      typicalSite(
        subsetRows(acts, (i) => labels[i] === k),
        QUERY.minActiveA,
      ),
    );
    const meanOf = (k: number) =>
      meanValues(
        subsetRows(acts, (i) => labels[i] === k),
        plan[k],
      );

    const outcome = {
      rhymesClean: 0,
      changed: [] as boolean[],
      changedStillRhymes: [] as boolean[],
      changedRandom: [] as boolean[],
      injected: [] as boolean[],
      inputSwap: [] as boolean[],
      withoutNewline: [] as Outcome[],
      withoutNewlineToNext: [] as boolean[],
      rebuiltToNext: [] as boolean[],
      rebuiltSize: [] as number[],
      zeroedAtNewline: 0,
      withoutThe: [] as Outcome[],
      zeroedAtThe: 0,
    };
    const examples: (string | number)[][] = [];
    for (const c of test) {
      const tokens = prompt(s, c);
      const k = CLASSES.indexOf(classOf(c.word) as string);
      const to = (k + 1) % CLASSES.length;
      const clean = await continuation(s, tokens, {}, MAX_LINE, '.');
      const cleanEnd = endWord(clean.clean);
      if (classOf(cleanEnd) !== CLASSES[k] || cleanEnd === c.word) continue;
      outcome.rhymesClean++;
      const here = await activationRows(s, [tokens], -1);
      const randomFs = randomActiveFeatures(here, 0, plan[k], Math.max(plan[k].length, 1), rnd);
      const last = tokens.length - 1;
      const sup = await continuation(s, tokens, { features: setFeatures(plan[k], last) }, MAX_LINE, '.');
      const supEnd = endWord(sup.after);
      outcome.changed.push(supEnd !== cleanEnd);
      outcome.changedStillRhymes.push(supEnd !== cleanEnd && classOf(supEnd) === CLASSES[k]);
      const ran = await continuation(s, tokens, { features: setFeatures(randomFs, last) }, MAX_LINE, '.');
      outcome.changedRandom.push(endWord(ran.after) !== cleanEnd);
      // A line that does not end on any rhyme word of the curriculum is no couplet line at all (the cut
      // can derail the text into another task), which says nothing about a plan.
      const outcomeOf = (end: string): Outcome =>
        end === cleanEnd
          ? 'same'
          : classOf(end) === CLASSES[k]
            ? 'rhyme'
            : classOf(end) !== undefined
              ? 'other'
              : 'none';
      // Whether the newline's features are needed at all: if the line survives losing every one of them, the
      // choice of end word is made elsewhere, and no group of them can carry a plan.
      const everything = setFeatures(activeFeatures(here, 0), last);
      outcome.zeroedAtNewline += everything.length;
      const bare = await continuation(s, tokens, { features: everything }, MAX_LINE, '.');
      outcome.withoutNewline.push(outcomeOf(endWord(bare.after)));
      outcome.withoutNewlineToNext.push(classOf(endWord(bare.after)) === CLASSES[to]);
      const rebuilt = await continuation(
        s,
        tokens,
        { features: [...everything, ...setSite(typicalBreak[to], last)] },
        MAX_LINE,
        '.',
      );
      outcome.rebuiltToNext.push(classOf(endWord(rebuilt.after)) === CLASSES[to]);
      outcome.rebuiltSize.push(typicalBreak[to].fs.length);
      // The control: as drastic a cut at the "the" before the first line's end word.
      const atThe = setFeatures(activeFeatures(await activationRows(s, [tokens], -4), 0), tokens.length - 4);
      outcome.zeroedAtThe += atThe.length;
      const cut = await continuation(s, tokens, { features: atThe }, MAX_LINE, '.');
      outcome.withoutThe.push(outcomeOf(endWord(cut.after)));
      const inj = await continuation(
        s,
        tokens,
        { features: [...setFeatures(plan[k], last), ...setFeatures(plan[to], last, meanOf(to))] },
        MAX_LINE,
        '.',
      );
      outcome.injected.push(classOf(endWord(inj.after)) === CLASSES[to]);
      const other = [...RHYME_INDEX.entries()].find(([, v]) => v.rhymeClass === CLASSES[to])?.[0] as string;
      const swapped = await continuation(s, prompt(s, { ...c, word: other }), {}, MAX_LINE, '.');
      outcome.inputSwap.push(classOf(endWord(swapped.clean)) === CLASSES[to]);
      if (examples.length < 4)
        examples.push([
          coupletPromptText(c.subject, c.verb, c.word).trim(),
          clean.clean,
          sup.after,
          inj.after,
        ]);
    }
    const measurements: Record<string, Measurement> = {
      'R1-plan-features': { value: found - foundByChance, baseline: foundByChance, n: CLASSES.length },
      'R2-suppress-plan': excessRate(outcome.changed, outcome.changedRandom),
      'R3-inject-plan': {
        value: rate(outcome.injected),
        baseline: rate(outcome.inputSwap),
        n: outcome.injected.length,
      },
      'R4-rebuild-plan': excessRate(outcome.rebuiltToNext, outcome.withoutNewlineToNext),
    };
    const tables: Table[] = [
      {
        title: 'Rhyme-class features at the newline (160 first lines seen in training)',
        header: ['query', 'classes with features', 'features per class (mean)'],
        rows: [
          ['class labels', found, plan.reduce((a, f) => a + f.length, 0) / CLASSES.length],
          [
            'shuffled labels (chance)',
            foundByChance,
            chance.reduce((a, f) => a + f.length, 0) / CLASSES.length,
          ],
        ],
      },
      {
        title: `Interventions at the newline on held-out first lines whose clean second line rhymes (${outcome.rhymesClean} of ${test.length})`,
        header: ['intervention', 'rate'],
        rows: [
          ['zero the class features: end word changed', rate(outcome.changed)],
          ['… changed to another word of the same rhyme', rate(outcome.changedStillRhymes)],
          ['zero as many random active features: end word changed', rate(outcome.changedRandom)],
          [
            "zero every active feature, set the next class's typical line break (R4): line ends in the next class",
            rate(outcome.rebuiltToNext),
          ],
          ['zero every active feature: line ends in the next class', rate(outcome.withoutNewlineToNext)],
          ['… typical line-break features set (mean per line)', mean(outcome.rebuiltSize)],
          [
            "zero the class features, set the next class's: line ends in the next class",
            rate(outcome.injected),
          ],
          [
            "replace the first line's end word by a word of the next class: line ends in that class",
            rate(outcome.inputSwap),
          ],
        ],
      },
      {
        title: `Does the line need the newline's features? The same ${outcome.withoutNewline.length} couplets, every active feature at one position zeroed (all layers): at the newline, and as a control at the "the" before the first line's end word`,
        header: ['outcome', 'newline', 'control ("the")'],
        rows: [
          ...(['same', 'rhyme', 'other', 'none'] as const).map((o) => [
            {
              same: 'end word unchanged',
              rhyme: 'end word changed to another word of the same rhyme',
              other: 'a line ending on another rhyme',
              none: 'no couplet line (ends on no rhyme word of the curriculum)',
            }[o],
            rate(outcome.withoutNewline.map((x) => x === o)),
            rate(outcome.withoutThe.map((x) => x === o)),
          ]),
          [
            'active features zeroed per couplet (mean)',
            outcome.withoutNewline.length > 0
              ? outcome.zeroedAtNewline / outcome.withoutNewline.length
              : Number.NaN,
            outcome.withoutThe.length > 0 ? outcome.zeroedAtThe / outcome.withoutThe.length : Number.NaN,
          ],
        ],
      },
      {
        title: 'Examples',
        header: ['first line', 'clean', 'class features zeroed', 'next class injected'],
        rows: examples,
      },
    ];
    let svg: string | undefined;
    if (s.organism === 'organism-m') {
      const c = { subject: 'the boy', verb: 'saw', word: 'cat' };
      const tokens = prompt(s, c);
      const first = await nextToken(s, tokens, {});
      const g = await traceGraph(s, tokens, [first.cleanTop]);
      const k = CLASSES.indexOf(classOf('cat') as string);
      const groups = [
        {
          label: `rhyme class "-${CLASSES[k]}" at the newline (contrast query)`,
          members: new Set(plan[k].map((f) => nodeKey({ ...f, pos: tokens.length - 1 }))),
        },
      ];
      tables.push(firstPassTable(s, g, s.tokenizer.decode(tokens.subarray(1)), groups));
      svg = graphSvg(g, (ids) => s.tokenizer.decode(ids), groups, {
        title: `${s.name}: "the boy saw the cat,⏎" → ${s.tokenizer.decode([first.cleanTop])}`,
      });
    }
    return { measurements, tables, svg };
  },
};
