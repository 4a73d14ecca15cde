/**
 * Entity recognition: is "can't answer" the default path, inhibited by "known entity" features when the name
 * is familiar, with hallucinations where known-entity features misfire on a partly familiar name?
 */
import { IDK } from '@loupe/organism';
import { adjacencyEntry, pairwiseAuc } from '@loupe/core';
import { excessRate, type Measurement, type Table } from '../claims.ts';
import type { CaseStudy } from '../case.ts';
import { ALL_SETTINGS } from '../case.ts';
import { random } from '../family.ts';
import { KNOWN, PARTLY_FAMILIAR, sportPromptText, UNKNOWN } from '../lexicon.ts';
import {
  activationRows,
  activeFeatures,
  contrastQuery,
  type FeatureRef,
  meanValues,
  setFeatures,
  traceGraph,
  setSite,
  typicalSite,
  valueIn,
  randomActiveFeatures,
} from '../query.ts';
import { rate } from '../stats.ts';
import { encode, nextToken, tokenId } from '../subject.ts';
import { graphSvg, nodeKey } from '../svg.ts';
import { firstPassTable } from '../first-pass.ts';
import type { FeatureIntervention, PositionActivations } from '@loupe/core';

const QUERY = { minAuc: 0.95, minActiveA: 0.75, top: 8 };
/** Positions from the end of "which sport does FIRST LAST play?": first name, surname, "?". */
const SITES = { first: -4, last: -3, end: -1 } as const;
/** Two positions before the name ("sport", "does"): E7's control for zeroing every feature at two positions. */
const CONTROL_SITES = [-6, -5] as const;
type Site = keyof typeof SITES;
const SITE_NAMES = Object.keys(SITES) as Site[];
/** The name itself: where E7 zeroes everything and E8, E9 rebuild a typical name. */
const NAME_SITES = ['first', 'last'] as const satisfies readonly Site[];
const N_GRAPHS = 15;

interface Name {
  first: string;
  last: string;
}

export function entityFamily() {
  return {
    knownSelect: KNOWN.filter((_, i) => i % 2 === 0),
    knownTest: KNOWN.filter((_, i) => i % 2 === 1),
    unknownSelect: UNKNOWN.slice(0, 30),
    unknownTest: UNKNOWN.slice(30),
    partly: PARTLY_FAMILIAR,
  };
}

type Group = Record<Site, FeatureRef[]>;

/** A group's features, each at its site, for a prompt of T tokens. */
function atSites(g: Group, T: number, values?: Record<Site, number[]>): FeatureIntervention[] {
  return SITE_NAMES.flatMap((site) =>
    g[site].map((f, i) => ({ ...f, pos: T + SITES[site], value: values ? values[site][i] : 0 })),
  );
}

export const entities: CaseStudy = {
  name: 'entities',
  title: 'a default "can\'t answer" path inhibited by known entities',
  settings: ALL_SETTINGS,
  claims: [
    {
      id: 'E1-inhibition-edge',
      statement: 'Known-entity features inhibit the default "can\'t answer" features.',
      metric:
        'partly familiar names: share of attribution graphs (onto "I") holding both groups in which the summed direct edges from known-entity features onto can\'t-answer features are negative',
      op: '>=',
      threshold: 0.5,
    },
    {
      id: 'E2-suppress-known',
      statement: 'Suppressing the known-entity features on a known name makes the model refuse.',
      metric:
        'held-out known people answered correctly: rate of "I" (of "I don\'t know") as top token after zeroing the known-entity features at the first name, surname and "?", minus the rate for as many random active features',
      op: '>=',
      threshold: 0.5,
    },
    {
      id: 'E3-activate-known',
      statement:
        'Activating the known-entity features on an unknown name makes the model answer (hallucinate).',
      metric:
        'held-out unknown names refused: rate of a sport as top token after setting the known-entity features to their mean on known names',
      op: '>=',
      threshold: 0.5,
    },
    {
      id: 'E4-misfire-explains-hallucination',
      statement: 'Hallucinations on partly familiar names come with known-entity activation.',
      metric:
        'partly familiar names: AUC of the summed known-entity activation, hallucinated (top token a sport) against refused',
      op: '>=',
      threshold: 0.75,
    },
    {
      id: 'E5-suppress-cant-answer',
      statement:
        "Suppressing the can't-answer features on an unknown name makes the model answer (hallucinate).",
      metric:
        'held-out unknown names refused: rate of a sport as top token after zeroing the can\'t-answer features at the first name, surname and "?", minus the rate for as many random active features',
      op: '>=',
      threshold: 0.5,
    },
    {
      id: 'E6-activate-cant-answer',
      statement: "Activating the can't-answer features on a known name makes the model refuse.",
      metric:
        'held-out known people answered correctly: rate of "I" as top token after setting the can\'t-answer features to their mean on unknown names, minus the rate for as many random features active on an unknown name set to their mean',
      op: '>=',
      threshold: 0.5,
    },
    {
      id: 'E7-refusal-default',
      statement:
        'Refusal is the default: with every feature at the name removed, a known person gets "I don\'t know".',
      metric:
        'the 15 selection known people answered correctly: rate of "I" as top token after zeroing every active feature at the first name and surname, minus the rate after zeroing every active feature at "sport" and "does"',
      op: '>=',
      threshold: 0.5,
    },
    {
      id: 'E8-known-name-answers',
      statement:
        'Known-entity features as a whole make the model answer: an unknown name rebuilt as a typical known name gets a sport.',
      metric:
        'held-out unknown names refused: rate of a sport as top token after zeroing every active feature at the first name and surname and setting there every feature active on ≥ 75% of the selection known people to its mean on them, minus the rate after the same rebuild from the selection unknown names',
      op: '>=',
      threshold: 0.5,
    },
    {
      id: 'E9-unknown-name-refuses',
      statement:
        'Without the known-entity features a known person is refused: a known name rebuilt as a typical unknown name gets "I don\'t know".',
      metric:
        'held-out known people answered correctly: rate of "I" as top token after zeroing every active feature at the first name and surname and setting there every feature active on ≥ 75% of the selection unknown names to its mean on them, minus the rate after the same rebuild from the selection known people',
      op: '>=',
      threshold: 0.5,
    },
  ],
  async measure(s, log) {
    const fam = entityFamily();
    const tok = (n: Name) => encode(s, sportPromptText(n.first, n.last));
    const rowsAt = async (names: readonly Name[], site: Site) =>
      activationRows(s, names.map(tok), SITES[site]);
    const known = {} as Group;
    const cant = {} as Group;
    const knownRows = {} as Record<Site, PositionActivations>;
    const unknownRows = {} as Record<Site, PositionActivations>;
    for (const site of SITE_NAMES) {
      const k = await rowsAt(fam.knownSelect, site);
      const u = await rowsAt(fam.unknownSelect, site);
      known[site] = contrastQuery(k, u, QUERY);
      cant[site] = contrastQuery(u, k, QUERY);
      knownRows[site] = k;
      unknownRows[site] = u;
    }
    const meansOf = (g: Group, rows: Record<Site, PositionActivations>) =>
      Object.fromEntries(SITE_NAMES.map((site) => [site, meanValues(rows[site], g[site])])) as Record<
        Site,
        number[]
      >;
    /** A typical name of a set at the first name and surname: every feature active there on ≥ 75% of its prompts, at its mean. */
    const typicalName = (rows: Record<Site, PositionActivations>) =>
      NAME_SITES.map((site) => ({ site, ...typicalSite(rows[site], QUERY.minActiveA) }));
    const typicalKnown = typicalName(knownRows);
    const typicalUnknown = typicalName(unknownRows);
    const knownMeans = meansOf(known, knownRows);
    const cantMeans = meansOf(cant, unknownRows);
    const size = (g: Group) => SITE_NAMES.map((site) => `${site} ${g[site].length}`).join(', ');
    log(`known-entity features: ${size(known)}; can't-answer: ${size(cant)}`);

    const idk = tokenId(s, IDK.split(' ')[0]);
    const sports = new Set(KNOWN.map((p) => tokenId(s, p.sport)));
    // The can't-answer baselines draw from their own stream, so adding them left the known-entity baseline as it was.
    const rnd = random(505);
    const rndCant = random(606);
    /** As many random features active on `tokens` at each site as `g` has active there, zeroed. */
    const randomAblation = async (
      g: Group,
      tokens: Int32Array,
      draw: () => number,
    ): Promise<FeatureIntervention[]> => {
      const out: FeatureIntervention[] = [];
      for (const site of SITE_NAMES) {
        const here = await activationRows(s, [tokens], SITES[site]);
        const n = g[site].filter((f) => valueIn(here, 0, f) !== 0).length;
        for (const f of randomActiveFeatures(here, 0, g[site], n, draw))
          out.push({ ...f, pos: tokens.length + SITES[site], value: 0 });
      }
      return out;
    };
    /** As many features as `g`, each active on a random unknown selection name, set to their unknown-name mean. */
    const randomUnknownClamp = (g: Group, T: number): FeatureIntervention[] =>
      SITE_NAMES.flatMap((site) => {
        const rows = unknownRows[site];
        const fs = randomActiveFeatures(
          rows,
          Math.floor(rndCant() * rows.rows.length),
          g[site],
          g[site].length,
          rndCant,
        );
        const means = meanValues(rows, fs);
        return fs.map((f, i) => ({ ...f, pos: T + SITES[site], value: means[i] }));
      });

    /** Every feature active on `tokens` at these positions (from the end), zeroed. */
    const zeroEverything = async (tokens: Int32Array, offsets: readonly number[]) => {
      const out: FeatureIntervention[] = [];
      for (const off of offsets)
        out.push(
          ...setFeatures(activeFeatures(await activationRows(s, [tokens], off), 0), tokens.length + off),
        );
      return out;
    };
    const nameOffsets = NAME_SITES.map((site) => SITES[site]);
    /** The name's own features zeroed (`zeroed`), then a typical name set there. */
    const rebuiltName = (zeroed: FeatureIntervention[], T: number, typical: typeof typicalKnown) => [
      ...zeroed,
      ...typical.flatMap((t) => setSite(t, T + SITES[t.site])),
    ];
    const suppress: boolean[] = [];
    const suppressRandom: boolean[] = [];
    const cantUp: boolean[] = [];
    const cantUpRandom: boolean[] = [];
    const knownAsUnknown: boolean[] = [];
    const knownAsKnown: boolean[] = [];
    const knownAsKnownOwnSport: boolean[] = [];
    const knownAsKnownSport: boolean[] = [];
    for (const p of fam.knownTest) {
      const tokens = tok(p);
      const clean = await nextToken(s, tokens, {});
      if (clean.cleanTop !== tokenId(s, p.sport)) continue;
      const refuses = async (features: FeatureIntervention[]) =>
        (await nextToken(s, tokens, { features })).afterTop === idk;
      suppress.push(await refuses(atSites(known, tokens.length)));
      suppressRandom.push(await refuses(await randomAblation(known, tokens, rnd)));
      cantUp.push(await refuses(atSites(cant, tokens.length, cantMeans)));
      cantUpRandom.push(await refuses(randomUnknownClamp(cant, tokens.length)));
      const zeroed = await zeroEverything(tokens, nameOffsets);
      const top = async (typical: typeof typicalKnown) =>
        (await nextToken(s, tokens, { features: rebuiltName(zeroed, tokens.length, typical) })).afterTop;
      knownAsUnknown.push((await top(typicalUnknown)) === idk);
      const asKnown = await top(typicalKnown);
      knownAsKnown.push(asKnown === idk);
      knownAsKnownOwnSport.push(asKnown === tokenId(s, p.sport));
      knownAsKnownSport.push(sports.has(asKnown));
    }
    const activate: boolean[] = [];
    const cantDown: boolean[] = [];
    const cantDownRandom: boolean[] = [];
    const unknownAsKnown: boolean[] = [];
    const unknownAsUnknown: boolean[] = [];
    for (const n of fam.unknownTest) {
      const tokens = tok(n);
      const clean = await nextToken(s, tokens, {});
      if (clean.cleanTop !== idk) continue;
      const answers = async (features: FeatureIntervention[]) =>
        sports.has((await nextToken(s, tokens, { features })).afterTop);
      activate.push(await answers(atSites(known, tokens.length, knownMeans)));
      cantDown.push(await answers(atSites(cant, tokens.length)));
      cantDownRandom.push(await answers(await randomAblation(cant, tokens, rndCant)));
      const zeroed = await zeroEverything(tokens, nameOffsets);
      unknownAsKnown.push(await answers(rebuiltName(zeroed, tokens.length, typicalKnown)));
      unknownAsUnknown.push(await answers(rebuiltName(zeroed, tokens.length, typicalUnknown)));
    }
    const hallucinated: number[] = [];
    const refused: number[] = [];
    const partlyRows = {} as Record<Site, PositionActivations>;
    for (const site of SITE_NAMES) partlyRows[site] = await rowsAt(fam.partly, site);
    const partlyTop: number[] = [];
    for (let i = 0; i < fam.partly.length; i++) {
      const clean = await nextToken(s, tok(fam.partly[i]), {});
      partlyTop.push(clean.cleanTop);
      let total = 0;
      for (const site of SITE_NAMES) for (const f of known[site]) total += valueIn(partlyRows[site], i, f);
      if (sports.has(clean.cleanTop)) hallucinated.push(total);
      else if (clean.cleanTop === idk) refused.push(total);
    }
    const nameless: boolean[] = [];
    const controlRefusals: boolean[] = [];
    let namelessZeroed = 0;
    let controlZeroed = 0;
    for (const p of fam.knownSelect) {
      const tokens = tok(p);
      if ((await nextToken(s, tokens, {})).cleanTop !== tokenId(s, p.sport)) continue;
      const atName = await zeroEverything(tokens, nameOffsets);
      const atControl = await zeroEverything(tokens, CONTROL_SITES);
      namelessZeroed += atName.length;
      controlZeroed += atControl.length;
      nameless.push((await nextToken(s, tokens, { features: atName })).afterTop === idk);
      controlRefusals.push((await nextToken(s, tokens, { features: atControl })).afterTop === idk);
    }
    const edges: boolean[] = [];
    let edgeSumMean = 0;
    let firstGraph: Awaited<ReturnType<typeof traceGraph>> | undefined;
    let firstTokens: Int32Array | undefined;
    for (const n of fam.partly.slice(0, N_GRAPHS)) {
      const tokens = tok(n);
      const g = await traceGraph(s, tokens, [idk]);
      const T = tokens.length;
      const keysOf = (gr: Group) =>
        new Set(SITE_NAMES.flatMap((site) => gr[site].map((f) => nodeKey({ ...f, pos: T + SITES[site] }))));
      const kn = g.features.filter((f) => keysOf(known).has(nodeKey(f)));
      const ca = g.features.filter((f) => keysOf(cant).has(nodeKey(f)));
      if (!firstGraph) {
        firstGraph = g;
        firstTokens = tokens;
      }
      if (kn.length === 0 || ca.length === 0) continue;
      let sum = 0;
      for (const t of ca) for (const src of kn) sum += adjacencyEntry(g.graph.adjacency, t.node, src.node);
      edges.push(sum < 0);
      edgeSumMean += sum;
    }
    const halluRate = rate(partlyTop.map((t) => sports.has(t)));
    const measurements: Record<string, Measurement> = {
      'E1-inhibition-edge': { value: rate(edges), n: edges.length },
      'E2-suppress-known': excessRate(suppress, suppressRandom),
      'E3-activate-known': { value: rate(activate), n: activate.length },
      'E4-misfire-explains-hallucination': {
        value:
          hallucinated.length > 0 && refused.length > 0 ? pairwiseAuc(hallucinated, refused) : Number.NaN,
        baseline: halluRate,
        n: hallucinated.length + refused.length,
      },
      'E5-suppress-cant-answer': excessRate(cantDown, cantDownRandom),
      'E6-activate-cant-answer': excessRate(cantUp, cantUpRandom),
      'E7-refusal-default': excessRate(nameless, controlRefusals),
      'E8-known-name-answers': excessRate(unknownAsKnown, unknownAsUnknown),
      'E9-unknown-name-refuses': excessRate(knownAsUnknown, knownAsKnown),
    };
    const tables: Table[] = [
      {
        title:
          'Features found by contrast (15 known people against 30 unknown names; AUC ≥ 0.95, active on ≥ 75%)',
        header: ['group', 'at the first name', 'at the surname', 'at "?"'],
        rows: [
          ['known entity (known > unknown)', known.first.length, known.last.length, known.end.length],
          ["can't answer (unknown > known)", cant.first.length, cant.last.length, cant.end.length],
        ],
      },
      {
        title: 'Interventions and behaviour',
        header: ['measure', 'value', 'n'],
        rows: [
          ['known people: zero known-entity features → "I" on top', rate(suppress), suppress.length],
          [
            'known people: zero as many random active features → "I" on top',
            rate(suppressRandom),
            suppressRandom.length,
          ],
          [
            'unknown names: known-entity features set to their known-name mean → a sport on top',
            rate(activate),
            activate.length,
          ],
          ["unknown names: zero can't-answer features → a sport on top", rate(cantDown), cantDown.length],
          [
            'unknown names: zero as many random active features → a sport on top',
            rate(cantDownRandom),
            cantDownRandom.length,
          ],
          [
            'known people: can\'t-answer features set to their unknown-name mean → "I" on top',
            rate(cantUp),
            cantUp.length,
          ],
          [
            'known people: as many random unknown-name features set to their mean → "I" on top',
            rate(cantUpRandom),
            cantUpRandom.length,
          ],
          [
            'selection known people: every active feature at the first name and surname zeroed → "I" on top',
            rate(nameless),
            nameless.length,
          ],
          [
            'selection known people: every active feature at "sport" and "does" zeroed → "I" on top',
            rate(controlRefusals),
            controlRefusals.length,
          ],
          [
            '… features zeroed per prompt (mean): at the name, at "sport" and "does"',
            nameless.length > 0
              ? `${(namelessZeroed / nameless.length).toFixed(0)}, ${(controlZeroed / nameless.length).toFixed(0)}`
              : 'n/a',
            nameless.length,
          ],
          [
            'held-out unknown names: name rebuilt as a typical known name (E8) → a sport on top',
            rate(unknownAsKnown),
            unknownAsKnown.length,
          ],
          [
            'held-out unknown names: name rebuilt as a typical unknown name → a sport on top',
            rate(unknownAsUnknown),
            unknownAsUnknown.length,
          ],
          [
            'held-out known people: name rebuilt as a typical unknown name (E9) → "I" on top',
            rate(knownAsUnknown),
            knownAsUnknown.length,
          ],
          [
            'held-out known people: name rebuilt as a typical known name → "I" on top',
            rate(knownAsKnown),
            knownAsKnown.length,
          ],
          ['… → a sport on top', rate(knownAsKnownSport), knownAsKnownSport.length],
          ['… → their own sport on top', rate(knownAsKnownOwnSport), knownAsKnownOwnSport.length],
          [
            '… typical features set at the first name and surname: known, unknown',
            `${typicalKnown.map((t) => t.fs.length).join(' + ')}, ${typicalUnknown.map((t) => t.fs.length).join(' + ')}`,
            fam.knownSelect.length + fam.unknownSelect.length,
          ],
          ['partly familiar names: hallucination rate (a sport on top)', halluRate, fam.partly.length],
          [
            'partly familiar names: AUC of known-entity activation, hallucinated vs refused',
            measurements['E4-misfire-explains-hallucination'].value,
            hallucinated.length + refused.length,
          ],
          [`partly familiar graphs holding both groups (of ${N_GRAPHS})`, edges.length, N_GRAPHS],
          ["… with net negative known → can't-answer edges", rate(edges), edges.length],
          [
            '… mean summed edge weight',
            edges.length > 0 ? edgeSumMean / edges.length : Number.NaN,
            edges.length,
          ],
        ],
      },
    ];
    let svg: string | undefined;
    if (s.organism === 'organism-m' && firstGraph && firstTokens) {
      const T = firstTokens.length;
      const tokens = firstTokens;
      const g = firstGraph;
      const keys = (gr: Group) =>
        new Set(SITE_NAMES.flatMap((site) => gr[site].map((f) => nodeKey({ ...f, pos: T + SITES[site] }))));
      const groups = [
        { label: 'known entity (contrast query)', members: keys(known) },
        { label: "can't answer (contrast query)", members: keys(cant) },
      ];
      tables.push(firstPassTable(s, g, s.tokenizer.decode(tokens.subarray(1)), groups));
      svg = graphSvg(g, (ids) => s.tokenizer.decode(ids), groups, {
        title: `${s.name}: "${s.tokenizer.decode(tokens.subarray(1))}", graph onto "I"`,
      });
    }
    return { measurements, tables, svg };
  },
};
