/**
 * A shared concept space: do antonym prompts about the same concept in English, French and Chinese share
 * features beyond what any two prompts of the task share, more so in the larger organism, and does a concept
 * patched in from another language carry its meaning?
 */
import { type Language, LANGUAGES } from '@loupe/organism';
import { patchInterventions } from '@loupe/core';
import type { Measurement, Table } from '../claims.ts';
import type { CaseStudy } from '../case.ts';
import { ALL_SETTINGS } from '../case.ts';
import { type AntonymConcept, antonymPromptText, CONCEPTS } from '../lexicon.ts';
import {
  activationRows,
  activeFeatures,
  contrastQuery,
  setFeatures,
  subsetRows,
  traceGraph,
} from '../query.ts';
import { jaccard } from '@loupe/core';
import { mean, rate } from '../stats.ts';
import { encode, nextToken, positionOf, type Subject, tokenId } from '../subject.ts';
import { graphSvg, nodeKey } from '../svg.ts';
import { firstPassTable } from '../first-pass.ts';
import type { PositionActivations } from '@loupe/core';

/** The different-concept partner of concept i: a fixed offset, never the same pair's other direction. */
const OFFSET = 7;
const N_PATCH = 40;
const PAIRS: readonly (readonly [Language, Language])[] = [
  ['en', 'fr'],
  ['en', 'zh'],
  ['fr', 'zh'],
];

interface LayerOverlap {
  layer: number;
  same: number;
  different: number;
}

/** Per layer: mean cross-language Jaccard of one concept's active sets, and of different concepts'. */
function crossLanguageOverlap(acts: Record<Language, PositionActivations>): LayerOverlap[] {
  const { layers, dTc } = acts.en;
  const n = acts.en.rows.length;
  return layers.map((layer, l) => {
    const same: number[] = [];
    const different: number[] = [];
    for (const [a, b] of PAIRS) {
      for (let i = 0; i < n; i++) {
        same.push(jaccard(acts[a].rows[i], acts[b].rows[i], l * dTc, (l + 1) * dTc));
        different.push(jaccard(acts[a].rows[i], acts[b].rows[(i + OFFSET) % n], l * dTc, (l + 1) * dTc));
      }
    }
    return { layer, same: mean(same), different: mean(different) };
  });
}

const maxExcess = (o: LayerOverlap[]) => Math.max(...o.map((x) => x.same - x.different));

async function overlapAt(s: Subject, where: 'word' | 'last'): Promise<LayerOverlap[]> {
  const acts = {} as Record<Language, PositionActivations>;
  for (const lang of LANGUAGES) {
    const tokens = CONCEPTS.map((c) => encode(s, antonymPromptText(lang, c.words[lang])));
    const positions = where === 'last' ? -1 : tokens.map((t, i) => positionOf(s, t, CONCEPTS[i].words[lang]));
    acts[lang] = await activationRows(s, tokens, positions);
  }
  return crossLanguageOverlap(acts);
}

/**
 * Where a concept is patched from: every layer at the word of its antonym prompt, every layer at its bare
 * word (BOS and the word alone), or the last position of its antonym prompt in every layer but the first and
 * the last (the published picture's language-independent middle, between the input and output ends).
 */
type PatchSite = 'word' | 'bare-word' | 'middle-at-last';

const middleLayers = (s: Subject) => s.iv.dict.layers.map((l) => l.layer).slice(1, -1);

/** The top answer of `target` with its features at position `to` patched from concept d in language `from` at `site`. */
async function patchedTop(
  s: Subject,
  target: Int32Array,
  to: number,
  d: AntonymConcept,
  from: Language,
  site: PatchSite = 'word',
): Promise<number> {
  const word = d.words[from];
  const source = encode(s, site === 'bare-word' ? word : antonymPromptText(from, word));
  const features = await patchInterventions(s.iv, source, target, {
    positions: [{ from: site === 'middle-at-last' ? -1 : positionOf(s, source, word), to }],
    layers: site === 'middle-at-last' ? middleLayers(s) : undefined,
  });
  return (await nextToken(s, target, { features })).afterTop;
}

const NAMES: Record<Language, string> = { en: 'English', fr: 'French', zh: 'Chinese' };

/** The top answers of one held-out prompt under each patch, and the two answers they are compared with. */
interface HeldOutPatch {
  lang: Language;
  /** The patched concept's opposite in the prompt's language (what a carried concept gives). */
  opposite: number;
  /** The patched concept's own word in the prompt's language. */
  itself: number;
  /** Patched from the prompt of each of the other two languages (in LANGUAGES order). */
  fromOther: number[];
  fromOwn: number;
  /** Chinese prompts only: the same from the other languages' bare words (BOS and the word alone). */
  fromBare: number[];
  /** The same as fromOther and fromOwn, patched in the middle layers at the last position instead. */
  middleFromOther: number[];
  middleFromOwn: number;
}

const gave = (h: HeldOutPatch, top: number, what: 'opposite' | 'itself' = 'opposite') => top === h[what];

type HeldOutPatchRow = { label: string; top: (h: HeldOutPatch) => number };
const patch = (label: string, top: (h: HeldOutPatch) => number): HeldOutPatchRow => ({ label, top });

const HELD_OUT_COLUMNS = {
  opposite: "top answer = opposite of the patched concept in the prompt's language",
  itself: '= the patched concept itself, in that language',
} as const;

/** Per prompt language, each patch's rate of giving the patched concept's opposite (and/or the concept itself). */
function heldOutTable(
  title: string,
  heldOut: readonly HeldOutPatch[],
  columns: readonly (keyof typeof HELD_OUT_COLUMNS)[],
  patches: (lang: Language, others: Language[], mine: HeldOutPatch[]) => HeldOutPatchRow[],
): Table {
  return {
    title,
    header: ['prompt language', 'prompts', 'patched from', ...columns.map((c) => HELD_OUT_COLUMNS[c])],
    rows: LANGUAGES.flatMap((lang) => {
      const mine = heldOut.filter((h) => h.lang === lang);
      return patches(
        lang,
        LANGUAGES.filter((l) => l !== lang),
        mine,
      ).map(({ label, top }) => [
        NAMES[lang],
        mine.length,
        label,
        ...columns.map((c) => rate(mine.map((h) => gave(h, top(h), c)))),
      ]);
    }),
  };
}

/**
 * Prompts the organism can only answer through another language (their pair is never stated in theirs):
 * the word's features, in every layer, patched from a different concept's prompt in each language.
 */
async function heldOutPatches(s: Subject): Promise<HeldOutPatch[]> {
  const n = CONCEPTS.length;
  const out: HeldOutPatch[] = [];
  for (const lang of LANGUAGES) {
    for (let i = 0; i < n; i++) {
      const c = CONCEPTS[i];
      if (!c.heldOut[lang]) continue;
      const target = encode(s, antonymPromptText(lang, c.words[lang]));
      if ((await nextToken(s, target, {})).cleanTop !== tokenId(s, c.opposites[lang])) continue;
      const d = CONCEPTS[(i + OFFSET) % n];
      const to = positionOf(s, target, c.words[lang]);
      const hit = (from: Language, site: PatchSite = 'word') =>
        patchedTop(s, target, site === 'middle-at-last' ? target.length - 1 : to, d, from, site);
      const fromOther: number[] = [];
      const fromBare: number[] = [];
      const middleFromOther: number[] = [];
      for (const from of LANGUAGES) {
        if (from === lang) continue;
        fromOther.push(await hit(from));
        // Only where the prompt's own word has nothing but BOS before it is a bare word the same context.
        if (to === 1) fromBare.push(await hit(from, 'bare-word'));
        middleFromOther.push(await hit(from, 'middle-at-last'));
      }
      out.push({
        lang,
        opposite: tokenId(s, d.opposites[lang]),
        itself: tokenId(s, d.words[lang]),
        fromOther,
        fromOwn: await hit(lang),
        fromBare,
        middleFromOther,
        middleFromOwn: await hit(lang, 'middle-at-last'),
      });
    }
  }
  return out;
}

export const multilingual: CaseStudy = {
  name: 'multilingual',
  title: 'a shared concept space across English, French and Chinese',
  settings: ALL_SETTINGS,
  claims: [
    {
      id: 'M1-shared-at-last',
      statement:
        "The same concept in different languages shares features beyond the task's common ones (last position).",
      metric:
        "at the last position, the largest over layers of (mean cross-language Jaccard of one concept's active features − the same for different concepts), over 92 antonym concepts × 3 language pairs",
      op: '>=',
      threshold: 0.1,
    },
    {
      id: 'M2-shared-at-word',
      statement:
        "The same concept in different languages shares features beyond the task's common ones (at the word).",
      metric: "the same excess overlap at the concept word's own position",
      op: '>=',
      threshold: 0.1,
    },
    {
      id: 'M3-bigger-shares-more',
      statement: 'The larger organism shares more across languages than the smaller one.',
      metric:
        "M1's excess overlap of organism-m minus that of organism-s, the smaller of the two dictionary kinds",
      op: '>=',
      threshold: 0.05,
    },
    {
      id: 'M4-concept-patch',
      statement: "A concept patched in from another language is answered in the prompt's language.",
      metric:
        'English prompts: rate of "top answer = the English opposite of the patched concept" after patching every layer\'s features at the word from the French or Chinese prompt of a different concept (baseline: the same patch from the English prompt)',
      op: '>=',
      threshold: 0.5,
    },
    {
      id: 'M5-held-out-patch',
      statement:
        "On pairs never taught in the prompt's language, a concept patched in from another language is answered in the prompt's language.",
      metric:
        "prompts whose antonym pair is held out of their language (12 concepts × 3 languages), answered correctly: rate of \"top answer = the opposite, in the prompt's language, of the patched concept\" after patching every layer's features at the word from the prompt of a different concept in each of the two other languages (baseline: the same patch from that concept's prompt in the prompt's own language)",
      op: '>=',
      threshold: 0.5,
    },
    {
      id: 'M6-bare-word-patch',
      statement:
        'A Chinese prompt reads its word before the relation; the same word read with nothing before it in English or French carries the concept there.',
      metric:
        'Chinese prompts whose pair is held out of Chinese, answered correctly: rate of "top answer = the Chinese opposite of the patched concept" after patching every layer\'s features at the word (the position right after BOS, as in the prompt) from the bare English or French word of a different concept (BOS and the word alone) (baseline: the bare Chinese word, the same features as that concept\'s Chinese prompt)',
      op: '>=',
      threshold: 0.5,
    },
    {
      id: 'M7-middle-at-last-patch',
      statement:
        "The concept is shared in the middle at the last position: patched there from another language, it is answered in the prompt's language.",
      metric:
        "M5's held-out prompts: rate of \"top answer = the opposite, in the prompt's language, of the patched concept\" after patching the last position's features in every layer but the first and the last (the language-independent middle of the published picture, between the input and output ends) from the prompt of a different concept in each of the two other languages (baseline: the same patch from that concept's prompt in the prompt's own language)",
      op: '>=',
      threshold: 0.5,
    },
    {
      id: 'M8-chinese-concept-named',
      statement:
        "A Chinese word, read before the relation, carries its concept but not yet its opposite: patched into an English or French prompt, that concept is named in the prompt's language.",
      metric:
        "M5's held-out English and French prompts: rate of \"top answer = the patched concept's own word in the prompt's language\" after patching every layer's features at the word from a different concept's Chinese prompt (baseline: the same rate after the patch from that concept's prompt in the prompt's own language, whose word is read after the relation)",
      op: '>=',
      threshold: 0.5,
    },
  ],
  async measure(s, log) {
    const last = await overlapAt(s, 'last');
    const word = await overlapAt(s, 'word');
    log(`max excess overlap: last ${maxExcess(last).toFixed(3)}, word ${maxExcess(word).toFixed(3)}`);
    const n = CONCEPTS.length;
    // Each patch's top answer, and per prompt the answers it is compared with.
    const tops: Record<'fr' | 'zh' | 'en', number[]> = { fr: [], zh: [], en: [] };
    const wanted: { opposite: number; itself: number; clean: number }[] = [];
    // Whether the English answer needs the word's features at all: a patch there can only carry a concept the
    // answer reads from those features, not one that attention reads from the word's embedding.
    const keptWithoutWord: boolean[] = [];
    let zeroed = 0;
    let tried = 0;
    for (let i = 0; i < n && tried < N_PATCH; i++) {
      const c = CONCEPTS[i];
      const d = CONCEPTS[(i + OFFSET) % n];
      if (c.heldOut.en || d.heldOut.en) continue;
      const target = encode(s, antonymPromptText('en', c.words.en));
      const clean = await nextToken(s, target, {});
      if (clean.cleanTop !== tokenId(s, c.opposites.en)) continue;
      tried++;
      const at = positionOf(s, target, c.words.en);
      const ablation = setFeatures(activeFeatures(await activationRows(s, [target], at), 0), at);
      zeroed += ablation.length;
      keptWithoutWord.push((await nextToken(s, target, { features: ablation })).afterTop === clean.cleanTop);
      wanted.push({
        opposite: tokenId(s, d.opposites.en),
        itself: tokenId(s, d.words.en),
        clean: clean.cleanTop,
      });
      for (const lang of ['fr', 'zh', 'en'] as const)
        tops[lang].push(await patchedTop(s, target, at, d, lang));
    }
    const share = (lang: 'fr' | 'zh' | 'en', which: 'opposite' | 'itself' | 'clean') =>
      rate(tops[lang].map((t, k) => t === wanted[k][which]));
    const hits = (lang: 'fr' | 'zh' | 'en') => share(lang, 'opposite');
    const heldOut = await heldOutPatches(s);
    const zhHeldOut = heldOut.filter((h) => h.lang === 'zh');
    const latinHeldOut = heldOut.filter((h) => h.lang !== 'zh');
    const fromChinese = (h: HeldOutPatch) => h.fromOther[LANGUAGES.filter((l) => l !== h.lang).indexOf('zh')];
    const measurements: Record<string, Measurement> = {
      'M1-shared-at-last': { value: maxExcess(last), baseline: Math.max(...last.map((x) => x.different)), n },
      'M2-shared-at-word': { value: maxExcess(word), baseline: Math.max(...word.map((x) => x.different)), n },
      'M4-concept-patch': { value: mean([hits('fr'), hits('zh')]), baseline: hits('en'), n: tried },
      'M5-held-out-patch': {
        value: rate(heldOut.flatMap((h) => h.fromOther.map((t) => gave(h, t)))),
        baseline: rate(heldOut.map((h) => gave(h, h.fromOwn))),
        n: heldOut.length,
      },
      'M6-bare-word-patch': {
        value: rate(zhHeldOut.flatMap((h) => h.fromBare.map((t) => gave(h, t)))),
        baseline: rate(zhHeldOut.map((h) => gave(h, h.fromOwn))),
        n: zhHeldOut.length,
      },
      'M7-middle-at-last-patch': {
        value: rate(heldOut.flatMap((h) => h.middleFromOther.map((t) => gave(h, t)))),
        baseline: rate(heldOut.map((h) => gave(h, h.middleFromOwn))),
        n: heldOut.length,
      },
      'M8-chinese-concept-named': {
        value: rate(latinHeldOut.map((h) => gave(h, fromChinese(h), 'itself'))),
        baseline: rate(latinHeldOut.map((h) => gave(h, h.fromOwn, 'itself'))),
        n: latinHeldOut.length,
      },
    };
    const overlapTable = (title: string, o: LayerOverlap[]): Table => ({
      title,
      header: ['layer', 'same concept', 'different concept', 'excess'],
      rows: o.map((x) => [`L${x.layer}`, x.same, x.different, x.same - x.different]),
    });
    const tables: Table[] = [
      overlapTable(
        'Cross-language Jaccard overlap at the last position (mean over concepts and language pairs)',
        last,
      ),
      overlapTable('Cross-language Jaccard overlap at the concept word', word),
      {
        title: `Concept patches at the word into English prompts answered correctly (${tried} pairs)`,
        header: [
          'patched from',
          'top answer = English opposite of the patched concept',
          '= the patched concept itself, in English',
          '= the clean answer',
        ],
        rows: (
          [
            ['fr', 'French prompt of the other concept'],
            ['zh', 'Chinese prompt of the other concept'],
            ['en', 'English prompt of the other concept (within-language reference)'],
          ] as const
        ).map(([lang, what]) => [what, hits(lang), share(lang, 'itself'), share(lang, 'clean')]),
      },
      heldOutTable(
        `Concept patches at the word into prompts whose pair is held out of their language, answered correctly (${heldOut.length} prompts)`,
        heldOut,
        ['opposite', 'itself'],
        (lang, others, mine) => [
          ...others.map((from, k) =>
            patch(`${NAMES[from]} prompt of the other concept`, (h) => h.fromOther[k]),
          ),
          patch(`${NAMES[lang]} prompt of the other concept (same-language reference)`, (h) => h.fromOwn),
          ...(mine.some((h) => h.fromBare.length > 0)
            ? others.map((from, k) =>
                patch(`bare ${NAMES[from]} word of the other concept`, (h) => h.fromBare[k]),
              )
            : []),
        ],
      ),
      heldOutTable(
        `Concept patches at the last position, every layer but the first and the last, into the same ${heldOut.length} held-out prompts`,
        heldOut,
        ['opposite'],
        (lang, others) => [
          ...others.map((from, k) =>
            patch(`${NAMES[from]} prompt of the other concept`, (h) => h.middleFromOther[k]),
          ),
          patch(
            `${NAMES[lang]} prompt of the other concept (same-language reference)`,
            (h) => h.middleFromOwn,
          ),
        ],
      ),
      {
        title: `Does the answer need the word's features? The same ${tried} English prompts, every active feature at the word zeroed (all layers)`,
        header: ['measure', 'value'],
        rows: [
          ['answer unchanged', rate(keptWithoutWord)],
          ['active features zeroed per prompt (mean)', tried > 0 ? zeroed / tried : Number.NaN],
        ],
      },
    ];
    let svg: string | undefined;
    if (s.organism === 'organism-m') {
      // The features at the word that the three languages' "small" prompts all activate, more than other concepts do.
      const i = CONCEPTS.findIndex((c) => c.words.en === 'small');
      const rowsOf = async (lang: Language) => {
        const tokens = CONCEPTS.map((c) => encode(s, antonymPromptText(lang, c.words[lang])));
        return activationRows(
          s,
          tokens,
          tokens.map((t, k) => positionOf(s, t, CONCEPTS[k].words[lang])),
        );
      };
      const all = await Promise.all(LANGUAGES.map(rowsOf));
      const merged: PositionActivations = { ...all[0], rows: all.flatMap((a) => a.rows) };
      const isSmall = (r: number) => r % n === i;
      const shared = contrastQuery(
        subsetRows(merged, isSmall),
        subsetRows(merged, (r) => !isSmall(r)),
        {
          minAuc: 0.95,
          minActiveA: 1,
          top: 12,
        },
      );
      const tokens = encode(s, antonymPromptText('en', 'small'));
      const pos = positionOf(s, tokens, 'small');
      const g = await traceGraph(s, tokens, [tokenId(s, 'big')]);
      const groups = [
        {
          label: '"small" in all three languages (contrast query)',
          members: new Set(shared.map((f) => nodeKey({ ...f, pos }))),
        },
      ];
      tables.push({
        title:
          'Features at the word active for "small" in all three languages and separating it from the other concepts (AUC ≥ 0.95)',
        header: [
          'features found',
          'of them in the graph of "the opposite of small is"',
          'their best influence rank',
        ],
        rows: [
          [
            shared.length,
            g.features.filter((f) => groups[0].members.has(nodeKey(f))).length,
            g.features.find((f) => groups[0].members.has(nodeKey(f)))?.rank ?? '—',
          ],
        ],
      });
      tables.push(firstPassTable(s, g, antonymPromptText('en', 'small'), groups));
      svg = graphSvg(g, (ids) => s.tokenizer.decode(ids), groups, {
        title: `${s.name}: "the opposite of small is" → big`,
      });
    }
    return { measurements, tables, svg };
  },
  across(bySetting) {
    const diff = (kind: string) =>
      (bySetting.get(`organism-m/${kind}`)?.['M1-shared-at-last']?.value ?? Number.NaN) -
      (bySetting.get(`organism-s/${kind}`)?.['M1-shared-at-last']?.value ?? Number.NaN);
    return { 'M3-bigger-shares-more': { value: Math.min(diff('plt'), diff('clt')), n: 2 } };
  },
};
