/**
 * Two-hop facts: does "the capital of the region containing Dallas is" go through an intermediate "Texas"
 * at the city, which a swap to "California" features turns into "Sacramento"?
 */
import { EMBLEMS_BY_REGION, makeSplits, REGIONS_LIST } from '../lexicon.ts';
import { excessRate, type Measurement, type Table } from '../claims.ts';
import type { CaseStudy } from '../case.ts';
import { ALL_SETTINGS } from '../case.ts';
import { CURRICULUM_SEED, random } from '../family.ts';
import {
  activationRows,
  activeFeatures,
  type FeatureRef,
  featureKey,
  meanValues,
  setFeatures,
  subsetRows,
  traceGraph,
  setSite,
  typicalSite,
  classContrasts,
  randomActiveFeatures,
} from '../query.ts';
import { mean, median, rate } from '../stats.ts';
import { encode, nextToken, type Subject, tokenId } from '../subject.ts';
import { graphSvg, nodeKey } from '../svg.ts';
import { firstPassTable } from '../first-pass.ts';
import type { FeatureIntervention } from '@loupe/core';

const capitalPrompt = (city: string) => `the capital of the region containing ${city} is`;
const emblemPrompt = (city: string) => `the emblem of the region containing ${city} is the`;
/** Region features per region and position: the strongest few that separate its cities from the rest. */
const QUERY = { minAuc: 0.95, minActiveA: 0.75, top: 6 };

interface City {
  city: string;
  region: number;
}

export function twoHopFamily(): { select: City[]; test: City[] } {
  const held = makeSplits(CURRICULUM_SEED).heldOutTwoHopCities;
  const all = REGIONS_LIST.flatMap((r, region) => r.cities.map((city) => ({ city, region })));
  return { select: all.filter((c) => !held.has(c.city)), test: all.filter((c) => held.has(c.city)) };
}

/** Index of the city token: the word after "containing". */
const cityPos = (s: Subject, tokens: Int32Array) => tokens.indexOf(tokenId(s, 'containing')) + 1;

export const twoHop: CaseStudy = {
  name: 'two-hop',
  title: 'an intermediate region step in two-hop capital questions',
  settings: ALL_SETTINGS,
  claims: [
    {
      id: 'T1-intermediate-in-graph',
      statement: 'The intermediate region ("Texas") features at the city are among the graph\'s main nodes.',
      metric:
        'median over held-out cities of the best influence rank (0 = top) of a region feature at the city position in the graph onto the answer',
      op: '<=',
      threshold: 20,
    },
    {
      id: 'T2-swap-at-city',
      statement: "Swapping the region features at the city for another region's gives that region's capital.",
      metric:
        'on held-out cities answered correctly: rate of "top answer = capital of the next region" after zeroing the region features at the city and setting the next region\'s to their mean there, minus the rate when random active features are zeroed instead',
      op: '>=',
      threshold: 0.5,
    },
    {
      id: 'T3-ablate-at-city',
      statement: 'The answer depends on the intermediate region features at the city.',
      metric:
        'mean relative drop of p(correct capital) when zeroing the region features at the city, minus the drop for as many random active features there',
      op: '>=',
      threshold: 0.3,
    },
    {
      id: 'T4-region-rebuild-at-city',
      statement:
        "The city carries its region as a whole: rebuilt from another region's typical features, it gives that region's capital.",
      metric:
        'on held-out cities answered correctly: rate of "top answer = capital of the next region" after zeroing every active feature at the city and setting every feature active on ≥ 75% of the next region\'s seen cities there to its mean on them, minus the rate after zeroing every active feature at the city alone',
      op: '>=',
      threshold: 0.5,
    },
  ],
  async measure(s, log) {
    const { select, test } = twoHopFamily();
    const sTokens = select.map((c) => encode(s, capitalPrompt(c.city)));
    const atCity = await activationRows(
      s,
      sTokens,
      sTokens.map((t) => cityPos(s, t)),
    );
    const atLast = await activationRows(s, sTokens, -1);
    const byRegion = (acts: typeof atCity, layers?: number[]) =>
      classContrasts(acts, REGIONS_LIST.length, (i) => select[i].region, { ...QUERY, layers });
    const cityFeatures = byRegion(atCity);
    const lastFeatures = byRegion(atLast);
    const finalLayer = atLast.layers[atLast.layers.length - 1];
    const lastLayerFeatures = byRegion(atLast, [finalLayer]);
    /** Every feature active at the city on ≥ 75% of a region's seen cities, with its mean there: the region's typical city. */
    const typicalCity = REGIONS_LIST.map((_, r) =>
      typicalSite(
        subsetRows(atCity, (i) => select[i].region === r),
        QUERY.minActiveA,
      ),
    );
    const meanAt = (acts: typeof atCity, r: number, fs: FeatureRef[]) =>
      meanValues(
        subsetRows(acts, (i) => select[i].region === r),
        fs,
      );
    log(
      `region features at the city: ${cityFeatures.map((f) => f.length).join(',')}; at the last position: ${lastFeatures.map((f) => f.length).join(',')}`,
    );

    const rnd = random(303);
    const capitals = REGIONS_LIST.map((r) => tokenId(s, r.capital));
    const emblems = REGIONS_LIST.map((r) => tokenId(s, EMBLEMS_BY_REGION[r.name]));
    const swap = (
      fs: FeatureRef[][],
      acts: typeof atCity,
      r: number,
      to: number,
      pos: number,
    ): FeatureIntervention[] => [
      ...setFeatures(fs[r], pos),
      ...setFeatures(fs[to], pos, meanAt(acts, to, fs[to])),
    ];
    const rows = {
      swapCity: [] as boolean[],
      swapCityRandom: [] as boolean[],
      swapLast: [] as boolean[],
      swapLastLayer: [] as boolean[],
      swapEmblemCity: [] as boolean[],
      rebuildCity: [] as boolean[],
      zeroCityToNext: [] as boolean[],
      zeroCityKeeps: [] as boolean[],
      rebuildOwnKeeps: [] as boolean[],
      rebuiltSize: [] as number[],
      dropCity: [] as number[],
      dropCityRandom: [] as number[],
      bestRankCity: [] as number[],
      bestRankLast: [] as number[],
    };
    let correct = 0;
    let emblemCorrect = 0;
    for (const c of test) {
      const to = (c.region + 1) % REGIONS_LIST.length;
      const tokens = encode(s, capitalPrompt(c.city));
      const pos = cityPos(s, tokens);
      const clean = await nextToken(s, tokens, {});
      if (clean.cleanTop === capitals[c.region]) {
        correct++;
        const cityActs = await activationRows(s, [tokens], pos);
        const fs = cityFeatures[c.region];
        const active = fs.filter(
          (f) => cityActs.rows[0][cityActs.layers.indexOf(f.layer) * cityActs.dTc + f.feature] !== 0,
        );
        const randomFs = randomActiveFeatures(cityActs, 0, fs, Math.max(active.length, 1), rnd);
        const p0 = clean.clean[capitals[c.region]];
        const sw = await nextToken(s, tokens, { features: swap(cityFeatures, atCity, c.region, to, pos) });
        rows.swapCity.push(sw.afterTop === capitals[to]);
        const swr = await nextToken(s, tokens, {
          features: [
            ...setFeatures(randomFs, pos),
            ...setFeatures(cityFeatures[to], pos, meanAt(atCity, to, cityFeatures[to])),
          ],
        });
        rows.swapCityRandom.push(swr.afterTop === capitals[to]);
        const sl = await nextToken(s, tokens, {
          features: swap(lastFeatures, atLast, c.region, to, tokens.length - 1),
        });
        rows.swapLast.push(sl.afterTop === capitals[to]);
        const sll = await nextToken(s, tokens, {
          features: swap(lastLayerFeatures, atLast, c.region, to, tokens.length - 1),
        });
        rows.swapLastLayer.push(sll.afterTop === capitals[to]);
        const zeroCity = setFeatures(activeFeatures(cityActs, 0), pos);
        const rebuilt = (r: number) => [...zeroCity, ...setSite(typicalCity[r], pos)];
        const zc = await nextToken(s, tokens, { features: zeroCity });
        rows.zeroCityToNext.push(zc.afterTop === capitals[to]);
        rows.zeroCityKeeps.push(zc.afterTop === capitals[c.region]);
        rows.rebuildCity.push(
          (await nextToken(s, tokens, { features: rebuilt(to) })).afterTop === capitals[to],
        );
        rows.rebuildOwnKeeps.push(
          (await nextToken(s, tokens, { features: rebuilt(c.region) })).afterTop === capitals[c.region],
        );
        rows.rebuiltSize.push(typicalCity[to].fs.length);
        const ab = await nextToken(s, tokens, { features: setFeatures(fs, pos) });
        rows.dropCity.push(1 - ab.after[capitals[c.region]] / p0);
        const abr = await nextToken(s, tokens, { features: setFeatures(randomFs, pos) });
        rows.dropCityRandom.push(1 - abr.after[capitals[c.region]] / p0);
        const g = await traceGraph(s, tokens, [capitals[c.region]]);
        const rankOf = (set: FeatureRef[], at: number) => {
          const k = new Set(set.map(featureKey));
          const hit = g.features.find((f) => f.pos === at && k.has(featureKey(f)));
          return hit ? hit.rank : g.features.length;
        };
        rows.bestRankCity.push(rankOf(fs, pos));
        rows.bestRankLast.push(rankOf(lastFeatures[c.region], tokens.length - 1));
      }
      const eTokens = encode(s, emblemPrompt(c.city));
      const eClean = await nextToken(s, eTokens, {});
      if (eClean.cleanTop === emblems[c.region]) {
        emblemCorrect++;
        const e = await nextToken(s, eTokens, {
          features: swap(cityFeatures, atCity, c.region, to, cityPos(s, eTokens)),
        });
        rows.swapEmblemCity.push(e.afterTop === emblems[to]);
      }
    }
    const measurements: Record<string, Measurement> = {
      'T1-intermediate-in-graph': {
        value: median(rows.bestRankCity),
        baseline: median(rows.bestRankLast),
        n: correct,
      },
      'T2-swap-at-city': excessRate(rows.swapCity, rows.swapCityRandom),
      'T3-ablate-at-city': {
        value: mean(rows.dropCity) - mean(rows.dropCityRandom),
        baseline: mean(rows.dropCityRandom),
        n: correct,
      },
      'T4-region-rebuild-at-city': excessRate(rows.rebuildCity, rows.zeroCityToNext),
    };
    const count = (fss: FeatureRef[][]) =>
      `${fss.filter((f) => f.length > 0).length}/20 regions, ${mean(fss.map((f) => f.length)).toFixed(1)} features each`;
    const tables: Table[] = [
      {
        title:
          "Region features found by contrast (AUC ≥ 0.95 against the other regions' cities, active on ≥ 75% of the region's, 80 seen cities)",
        header: ['position', 'found'],
        rows: [
          ['city', count(cityFeatures)],
          ['last ("is")', count(lastFeatures)],
          [`last, layer ${finalLayer} only`, count(lastLayerFeatures)],
        ],
      },
      {
        title: `Interventions on the held-out cities (capital question answered correctly: ${correct}/${test.length}; emblem question: ${emblemCorrect}/${test.length})`,
        header: ['intervention', 'rate / mean', 'n'],
        rows: [
          [
            "swap region features at the city → next region's capital",
            rate(rows.swapCity),
            rows.swapCity.length,
          ],
          [
            "same, zeroing random active features instead of the region's",
            rate(rows.swapCityRandom),
            rows.swapCityRandom.length,
          ],
          [
            "swap region features at the last position → next region's capital",
            rate(rows.swapLast),
            rows.swapLast.length,
          ],
          [
            `same, only features of the last layer (L${finalLayer})`,
            rate(rows.swapLastLayer),
            rows.swapLastLayer.length,
          ],
          [
            "swap at the city in the emblem question (features chosen on capital questions) → next region's emblem",
            rate(rows.swapEmblemCity),
            rows.swapEmblemCity.length,
          ],
          [
            "every active feature at the city zeroed, then the next region's typical features set (T4) → next region's capital",
            rate(rows.rebuildCity),
            rows.rebuildCity.length,
          ],
          [
            "every active feature at the city zeroed → next region's capital",
            rate(rows.zeroCityToNext),
            rows.zeroCityToNext.length,
          ],
          ['… → the capital still on top', rate(rows.zeroCityKeeps), rows.zeroCityKeeps.length],
          [
            "every active feature at the city zeroed, then its own region's typical features set → the capital on top",
            rate(rows.rebuildOwnKeeps),
            rows.rebuildOwnKeeps.length,
          ],
          ['… typical features set per city (mean)', mean(rows.rebuiltSize), rows.rebuiltSize.length],
          [
            'zero region features at the city: mean relative drop of p(capital)',
            mean(rows.dropCity),
            rows.dropCity.length,
          ],
          [
            'zero as many random active features at the city: same',
            mean(rows.dropCityRandom),
            rows.dropCityRandom.length,
          ],
          [
            'median best influence rank of a region feature at the city',
            median(rows.bestRankCity),
            rows.bestRankCity.length,
          ],
          [
            'median best influence rank of a region feature at the last position',
            median(rows.bestRankLast),
            rows.bestRankLast.length,
          ],
        ],
      },
    ];
    let svg: string | undefined;
    if (s.organism === 'organism-m') {
      const tokens = encode(s, capitalPrompt('Dallas'));
      const pos = cityPos(s, tokens);
      const g = await traceGraph(s, tokens, [capitals[0]]);
      const groups = [
        {
          label: 'Texas at "Dallas" (contrast query)',
          members: new Set(cityFeatures[0].map((f) => nodeKey({ ...f, pos }))),
        },
        {
          label: 'Texas at "is" (contrast query)',
          members: new Set(lastFeatures[0].map((f) => nodeKey({ ...f, pos: tokens.length - 1 }))),
        },
      ];
      tables.push(firstPassTable(s, g, capitalPrompt('Dallas'), groups));
      svg = graphSvg(g, (ids) => s.tokenizer.decode(ids), groups, {
        title: `${s.name}: "${capitalPrompt('Dallas')}" → Austin`,
      });
    }
    return { measurements, tables, svg };
  },
};
