/**
 * Mental arithmetic: does the organism add with two parallel paths, one for the sum's magnitude and one for
 * its ones digit, as the published analysis found?
 */
import { additionKey, makeSplits } from '@loupe/organism';
import { excessRate, type Measurement, type Table } from '../claims.ts';
import type { CaseStudy } from '../case.ts';
import { ALL_SETTINGS } from '../case.ts';
import { CURRICULUM_SEED, random } from '../family.ts';
import { firstPassTable } from '../first-pass.ts';
import {
  activationRows,
  activeFeatures,
  activeIn,
  etaQuery,
  type FeatureRef,
  setFeatures,
  subsetRows,
  traceGraph,
  setSite,
  typicalSite,
  randomActiveFeatures,
} from '../query.ts';
import { mean, rate, shuffled } from '../stats.ts';
import { encode, nextToken, type Subject } from '../subject.ts';
import { graphSvg, nodeKey } from '../svg.ts';

/** Selection prompts (trained pairs, never in the eval) and test prompts (the eval's held-out pairs). */
const N_SELECT = 150;
const N_TEST = 60;
/** A feature must fire on this share of the selection prompts for its η² to count. */
const MIN_ACTIVE = 0.05;
/** Features ablated per prompt and path. */
const K = 8;

interface Sum {
  a: number;
  b: number;
}

export function additionFamily(): { select: Sum[]; test: Sum[] } {
  const splits = makeSplits(CURRICULUM_SEED);
  const rnd = random(101);
  const select: Sum[] = [];
  const test: Sum[] = [];
  while (select.length < N_SELECT || test.length < N_TEST) {
    const a = 10 + Math.floor(rnd() * 90);
    const b = 10 + Math.floor(rnd() * 90);
    const held = splits.heldOutAdditionPairs.has(additionKey(a, b));
    if (held && test.length < N_TEST && !test.some((s) => s.a === a && s.b === b)) test.push({ a, b });
    if (!held && select.length < N_SELECT) select.push({ a, b });
  }
  return { select, test };
}

const asNumber = (s: Subject, id: number) => {
  const t = s.tokenizer.decode([id]);
  return /^\d+$/.test(t) ? Number(t) : Number.NaN;
};

export const addition: CaseStudy = {
  name: 'addition',
  title: 'parallel magnitude and ones-digit paths in two-digit addition',
  settings: ALL_SETTINGS,
  claims: [
    {
      id: 'A1-magnitude-feature',
      statement: 'Some feature at "=" tracks the magnitude of the sum (its tens).',
      metric:
        'best η² of a feature at "=" against floor(sum/10), minus the best η² against the same labels shuffled (150 trained-pair prompts)',
      op: '>=',
      threshold: 0.3,
    },
    {
      id: 'A2-ones-digit-feature',
      statement: 'Some feature at "=" tracks the sum\'s ones digit.',
      metric: 'best η² of a feature at "=" against sum mod 10, minus the best η² against shuffled labels',
      op: '>=',
      threshold: 0.3,
    },
    {
      id: 'A3-ones-path-causal',
      statement: 'Ablating the ones-digit features changes the last digit of the answer and keeps its tens.',
      metric:
        'on held-out pairs answered correctly: rate of "ones digit changed, tens kept" when zeroing the 8 strongest ones-digit features active at "=" (of those whose η² against sum mod 10 beats the shuffled-label best), minus the rate for as many random active features there',
      op: '>=',
      threshold: 0.3,
    },
    {
      id: 'A4-magnitude-path-causal',
      statement: 'Ablating the magnitude features moves the answer by tens and keeps its ones digit.',
      metric:
        'on held-out pairs answered correctly: rate of "answer moved by a non-zero multiple of 10" when zeroing the 8 strongest magnitude features active at "=" (η² against floor(sum/10) above the shuffled-label best), minus the random-feature rate',
      op: '>=',
      threshold: 0.3,
    },
    {
      id: 'A5-operand-ones-digit-read',
      statement:
        "The answer reads the second operand's ones digit on its own: rebuilt as a typical number ending in another digit, the operand moves the answer's ones digit with it.",
      metric:
        'on held-out pairs answered correctly: rate of "answer\'s ones digit = (a + d) mod 10", d = (b + 5) mod 10, after zeroing every active feature at the second operand and setting there every feature active on ≥ 75% of the selection prompts whose second operand ends in d to its mean on them, minus the rate after zeroing every active feature at the second operand alone',
      op: '>=',
      threshold: 0.5,
    },
  ],
  async measure(s, log) {
    const { select, test } = additionFamily();
    const prompt = (x: Sum) => encode(s, `${x.a}+${x.b}=`);
    const sel = await activationRows(s, select.map(prompt), -1);
    const tens = select.map((x) => Math.floor((x.a + x.b) / 10));
    const ones = select.map((x) => (x.a + x.b) % 10);
    const best = (labels: number[]) => etaQuery(sel, labels, { minActive: MIN_ACTIVE });
    const tensRanked = best(tens);
    const onesRanked = best(ones);
    // Labels permuted with a fixed seed: the η² any feature reaches by chance on this many prompts.
    const tensChance = best(shuffled(tens, random(7)))[0]?.eta2 ?? 0;
    const onesChance = best(shuffled(ones, random(8)))[0]?.eta2 ?? 0;
    // A path is every feature that tracks its label beyond what any feature reaches against shuffled labels;
    // each prompt ablates the K strongest of them that it activates (band-like features each cover a few
    // sums, so one global top-K would leave most prompts without a member).
    const tensTop = tensRanked.filter((f) => f.eta2 > tensChance);
    const onesTop = onesRanked.filter((f) => f.eta2 > onesChance);
    log(
      `best η² tens ${tensRanked[0]?.eta2.toFixed(3)} (chance ${tensChance.toFixed(3)}, ${tensTop.length} above), ones ${onesRanked[0]?.eta2.toFixed(3)} (chance ${onesChance.toFixed(3)}, ${onesTop.length} above)`,
    );

    // The second operand is the token before "=". A typical number ending in d: every feature active there on
    // ≥ 75% of the selection prompts whose second operand ends in d, at its mean on them.
    const OPERAND = -2;
    const selOperand = await activationRows(s, select.map(prompt), OPERAND);
    const typicalEnding = Array.from({ length: 10 }, (_, d) =>
      typicalSite(
        subsetRows(selOperand, (i) => select[i].b % 10 === d),
        0.75,
      ),
    );
    const testActs = await activationRows(s, test.map(prompt), -1);
    const rnd = random(202);
    type Outcome = { onesOnly: boolean; byTens: boolean; changed: boolean };
    const outcomes = {
      ones: [] as Outcome[],
      tens: [] as Outcome[],
      onesRandom: [] as Outcome[],
      tensRandom: [] as Outcome[],
    };
    const rebuilt = { target: [] as boolean[], zeroTarget: [] as boolean[], zeroKeeps: [] as boolean[] };
    const rebuiltSize: number[] = [];
    let correct = 0;
    for (let i = 0; i < test.length; i++) {
      const tokens = prompt(test[i]);
      const sum = test[i].a + test[i].b;
      const clean = await nextToken(s, tokens, {});
      if (asNumber(s, clean.cleanTop) !== sum) continue;
      correct++;
      const judge = async (fs: FeatureRef[]): Promise<Outcome> => {
        if (fs.length === 0) return { onesOnly: false, byTens: false, changed: false };
        const r = await nextToken(s, tokens, { features: setFeatures(fs, -1) });
        const v = asNumber(s, r.afterTop);
        const changed = v !== sum;
        return {
          changed,
          onesOnly: changed && Math.floor(v / 10) === Math.floor(sum / 10),
          byTens: changed && Number.isInteger(v) && (v - sum) % 10 === 0,
        };
      };
      const randomLike = (chosen: FeatureRef[]) =>
        randomActiveFeatures(testActs, i, chosen, chosen.length, rnd);
      const onesHere = activeIn(testActs, i, onesTop).slice(0, K);
      const tensHere = activeIn(testActs, i, tensTop).slice(0, K);
      outcomes.ones.push(await judge(onesHere));
      outcomes.onesRandom.push(await judge(randomLike(onesHere)));
      outcomes.tens.push(await judge(tensHere));
      outcomes.tensRandom.push(await judge(randomLike(tensHere)));
      const d = (test[i].b + 5) % 10;
      const answerWith = async (features: ReturnType<typeof setFeatures>) =>
        asNumber(s, (await nextToken(s, tokens, { features })).afterTop);
      const zeroOperand = setFeatures(
        activeFeatures(await activationRows(s, [tokens], OPERAND), 0),
        tokens.length + OPERAND,
      );
      const target = (test[i].a + d) % 10;
      const rebuiltAnswer = await answerWith([
        ...zeroOperand,
        ...setSite(typicalEnding[d], tokens.length + OPERAND),
      ]);
      const zeroedAnswer = await answerWith(zeroOperand);
      rebuilt.target.push(rebuiltAnswer % 10 === target);
      rebuilt.zeroTarget.push(zeroedAnswer % 10 === target);
      rebuilt.zeroKeeps.push(zeroedAnswer === sum);
      rebuiltSize.push(typicalEnding[d].fs.length);
    }
    const r = (xs: Outcome[], k: keyof Outcome) => rate(xs.map((o) => o[k]));
    const measurements: Record<string, Measurement> = {
      'A1-magnitude-feature': {
        value: (tensRanked[0]?.eta2 ?? 0) - tensChance,
        baseline: tensChance,
        n: select.length,
      },
      'A2-ones-digit-feature': {
        value: (onesRanked[0]?.eta2 ?? 0) - onesChance,
        baseline: onesChance,
        n: select.length,
      },
      'A3-ones-path-causal': {
        value: r(outcomes.ones, 'onesOnly') - r(outcomes.onesRandom, 'onesOnly'),
        baseline: r(outcomes.onesRandom, 'onesOnly'),
        n: correct,
      },
      'A4-magnitude-path-causal': {
        value: r(outcomes.tens, 'byTens') - r(outcomes.tensRandom, 'byTens'),
        baseline: r(outcomes.tensRandom, 'byTens'),
        n: correct,
      },
      'A5-operand-ones-digit-read': excessRate(rebuilt.target, rebuilt.zeroTarget),
    };
    const featureRows = (xs: typeof tensTop) =>
      xs
        .slice(0, 4)
        .map(
          (f) =>
            `L${f.layer} #${f.feature} (η² ${f.eta2.toFixed(2)}, active ${(100 * f.active).toFixed(0)}%)`,
        )
        .join('; ');
    const tables: Table[] = [
      {
        title: 'Feature queries at "=" (η² against the label; chance: the best η² against shuffled labels)',
        header: [
          'label',
          'best η²',
          'chance',
          'features above chance',
          'best features (layer, id, η², share active)',
        ],
        rows: [
          ['floor(sum/10)', tensRanked[0]?.eta2 ?? 0, tensChance, tensTop.length, featureRows(tensTop)],
          ['sum mod 10', onesRanked[0]?.eta2 ?? 0, onesChance, onesTop.length, featureRows(onesTop)],
        ],
      },
      {
        title: `Ablations at "=" on held-out pairs (${correct} of ${test.length} answered correctly)`,
        header: ['ablated', 'answer changed', 'ones digit changed, tens kept', 'moved by a multiple of 10'],
        rows: (
          [
            [`up to 8 ones-digit features active on the prompt (of ${onesTop.length})`, outcomes.ones],
            ['as many random active features', outcomes.onesRandom],
            [`up to 8 magnitude features active on the prompt (of ${tensTop.length})`, outcomes.tens],
            ['as many random active features', outcomes.tensRandom],
          ] as const
        ).map(([label, xs]) => [label, r(xs, 'changed'), r(xs, 'onesOnly'), r(xs, 'byTens')]),
      },
      {
        title: `The second operand rebuilt as a typical number ending in d = (b + 5) mod 10, on held-out pairs (${correct} answered correctly)`,
        header: ['intervention at the second operand', 'rate', 'n'],
        rows: [
          [
            "every active feature zeroed, then the typical number ending in d set (A5) → answer's ones digit = (a + d) mod 10",
            rate(rebuilt.target),
            rebuilt.target.length,
          ],
          [
            "every active feature zeroed → answer's ones digit = (a + d) mod 10",
            rate(rebuilt.zeroTarget),
            rebuilt.zeroTarget.length,
          ],
          [
            'every active feature zeroed → the sum still on top',
            rate(rebuilt.zeroKeeps),
            rebuilt.zeroKeeps.length,
          ],
          ['… typical features set per prompt (mean)', mean(rebuiltSize), rebuiltSize.length],
        ],
      },
    ];
    let svg: string | undefined;
    if (s.organism === 'organism-m') {
      const tokens = encode(s, '36+59=');
      const clean = await nextToken(s, tokens, {});
      const traced = await traceGraph(s, tokens, [clean.cleanTop]);
      const last = tokens.length - 1;
      const members = (fs: FeatureRef[]) => new Set(fs.map((f) => nodeKey({ ...f, pos: last })));
      const groups = [
        { label: 'sum magnitude (η² query)', members: members(tensTop) },
        { label: 'sum ones digit (η² query)', members: members(onesTop) },
      ];
      const inGraph = (g: Set<string>) => traced.features.filter((f) => g.has(nodeKey(f))).map((f) => f.rank);
      tables.push({
        title: 'Influence ranks in the graph of "36+59=" (0 = most influential feature)',
        header: ['supernode', 'members in the graph', 'ranks'],
        rows: groups.map((g) => [
          g.label,
          inGraph(g.members as Set<string>).length,
          inGraph(g.members as Set<string>).join(', ') || '—',
        ]),
      });
      tables.push(firstPassTable(s, traced, '36+59=', groups));
      svg = graphSvg(traced, (ids) => s.tokenizer.decode(ids), groups, {
        title: `${s.name}: "36+59=" → ${s.tokenizer.decode([clean.cleanTop])}`,
      });
    }
    return { measurements, tables, svg };
  },
};
