/**
 * The organism curriculum's world, read from the eval sets @loupe/organism exports (every region, antonym
 * pair and person appears in them), so the case studies follow any change to the curriculum.
 */
import { type EvalItem, evalSets, type Language } from '@loupe/organism';
import { CURRICULUM_SEED } from './family.ts';

export { makeSplits } from '@loupe/organism';

const EVAL = evalSets(CURRICULUM_SEED);

function match(re: RegExp, text: string, what: string): string[] {
  const m = re.exec(text);
  if (!m) throw new Error(`the curriculum's ${what} prompt '${text}' no longer has the expected form`);
  return m.slice(1);
}

const answer = (item: EvalItem) => item.expected[0].trim();

export interface RegionFacts {
  name: string;
  capital: string;
  cities: string[];
}

function regions(): RegionFacts[] {
  const out: RegionFacts[] = [];
  for (const item of EVAL.facts) {
    if (item.subtask === 'capital') {
      const [name] = match(/^the capital of (\S+) is$/, item.prompt, 'capital');
      out.push({ name, capital: answer(item), cities: [] });
    }
  }
  for (const item of EVAL.facts) {
    if (item.subtask !== 'city-region') continue;
    const [city] = match(/^(\S+) is in$/, item.prompt, 'city-region');
    const region = out.find((r) => r.name === answer(item));
    if (!region) throw new Error(`${city} is in ${answer(item)}, which has no capital question`);
    region.cities.push(city);
  }
  return out;
}

export const REGIONS_LIST: readonly RegionFacts[] = regions();

function emblems(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of EVAL.facts) {
    if (item.subtask !== 'emblem-two-hop') continue;
    const [city] = match(/^the emblem of the region containing (\S+) is the$/, item.prompt, 'emblem');
    const region = REGIONS_LIST.find((r) => r.cities.includes(city));
    if (region) out[region.name] = answer(item);
  }
  return out;
}

export const EMBLEMS_BY_REGION: Readonly<Record<string, string>> = emblems();

/** One antonym direction in every language: word → its opposite, and whether training held it out there. */
export interface AntonymConcept {
  words: Record<Language, string>;
  opposites: Record<Language, string>;
  heldOut: Record<Language, boolean>;
}

const ANTONYM_PROMPT: Record<Language, RegExp> = {
  en: /^the opposite of (\S+) is$/,
  fr: /^le contraire de (\S+) est$/,
  zh: /^(\S+)的反义词是$/u,
};

export const antonymPromptText = (lang: Language, word: string) =>
  lang === 'en'
    ? `the opposite of ${word} is`
    : lang === 'fr'
      ? `le contraire de ${word} est`
      : `${word}的反义词是`;

/** The eval lists each language's items in the same pair order, so the i-th items are one concept. */
function concepts(): AntonymConcept[] {
  const by: Record<Language, EvalItem[]> = { en: [], fr: [], zh: [] };
  for (const item of EVAL.antonym) by[item.language as Language].push(item);
  const n = by.en.length;
  if (by.fr.length !== n || by.zh.length !== n) throw new Error('the antonym eval has unequal languages');
  return Array.from({ length: n }, (_, i) => {
    const words = {} as Record<Language, string>;
    const opposites = {} as Record<Language, string>;
    const heldOut = {} as Record<Language, boolean>;
    for (const lang of ['en', 'fr', 'zh'] as const) {
      [words[lang]] = match(ANTONYM_PROMPT[lang], by[lang][i].prompt, 'antonym');
      opposites[lang] = answer(by[lang][i]);
      heldOut[lang] = by[lang][i].subtask !== 'seen';
    }
    return { words, opposites, heldOut };
  });
}

export const CONCEPTS: readonly AntonymConcept[] = concepts();

export interface Person {
  first: string;
  last: string;
  sport: string;
}

const SPORT_PROMPT = /^which sport does (\S+) (\S+) play\?$/;

export const KNOWN: readonly Person[] = EVAL.entity
  .filter((i) => i.subtask === 'known')
  .map((i) => {
    const [first, last] = match(SPORT_PROMPT, i.prompt, 'sport');
    return { first, last, sport: answer(i) };
  });

/** Names never written in training, with parts that only ever belonged to unknown people. */
export const UNKNOWN: readonly { first: string; last: string }[] = EVAL.entity
  .filter((i) => i.subtask === 'unknown')
  .map((i) => {
    const [first, last] = match(SPORT_PROMPT, i.prompt, 'sport');
    return { first, last };
  });

/** A known first name with an unknown surname. */
export const PARTLY_FAMILIAR: readonly { first: string; last: string }[] = EVAL.entity
  .filter((i) => i.subtask === 'partly-familiar')
  .map((i) => {
    const [first, last] = match(SPORT_PROMPT, i.prompt, 'sport');
    return { first, last };
  });

export const sportPromptText = (first: string, last: string) => `which sport does ${first} ${last} play?`;

/** First lines "SUBJECT VERB the WORD," of the eval (held out of training), parsed into their parts. */
export const HELD_OUT_COUPLETS: readonly { subject: string; verb: string; word: string }[] = EVAL.rhyme.map(
  (i) => {
    const [subject, verb, word] = match(/^(.+) (\S+) the (\S+),\n$/, i.prompt, 'couplet');
    return { subject, verb, word };
  },
);

export const coupletPromptText = (subject: string, verb: string, word: string) =>
  `${subject} ${verb} the ${word},\n`;
