import {
  ANTONYMS,
  COUPLET_SUBJECTS,
  COUPLET_VERBS,
  EMBLEMS,
  KNOWN_PEOPLE,
  type Language,
  LANGUAGES,
  REGIONS,
  RHYME_OPENERS,
  RHYMES,
  type RhymeWord,
  UNKNOWN_FIRST_NAMES,
  UNKNOWN_LAST_NAMES,
} from './lexicon.ts';
import { MAX_DOC_TOKENS, preTokenize } from './pieces.ts';
import type { Rng } from './prng.ts';
import { additionKey, coupletKey, type Splits } from './splits.ts';

/**
 * Sentence templates. Text follows one canonical spacing rule, the one the tokenizer's decoder reproduces:
 * a space before every Latin-script word except at the start of a line, and nowhere else (no space around
 * digits, punctuation or Chinese characters). Chinese words inside Latin text are quoted 「」.
 */

export type TaskFamily = 'addition' | 'antonym' | 'translation' | 'facts' | 'rhyme' | 'entity' | 'filler';
export type DocLanguage = Language | 'mixed';

export interface Doc {
  family: TaskFamily;
  language: DocLanguage;
  text: string;
}

export const IDK = "I don't know";

export function additionLine(a: number, b: number): string {
  return `${a}+${b}=${a + b}`;
}

export function antonymPrompt(lang: Language, word: string): string {
  if (lang === 'en') return `the opposite of ${word} is`;
  if (lang === 'fr') return `le contraire de ${word} est`;
  return `${word}的反义词是`;
}

/** The token(s) that follow antonymPrompt; English/French answers are words, so they carry a leading space. */
export function antonymAnswer(lang: Language, word: string): string {
  return lang === 'zh' ? word : ` ${word}`;
}

function antonymStatement(lang: Language, word: string, opposite: string): string {
  return `${antonymPrompt(lang, word)}${antonymAnswer(lang, opposite)}${lang === 'zh' ? '。' : '.'}`;
}

function translationStatement(from: Language, to: Language, fromWord: string, toWord: string): string {
  const quoted = (lang: Language, w: string) => (lang === 'zh' ? `「${w}」` : ` ${w}`);
  const names: Record<Language, Record<Language, string>> = {
    en: { en: 'English', fr: 'French', zh: 'Chinese' },
    fr: { en: 'anglais', fr: 'français', zh: 'chinois' },
    zh: { en: '英文', fr: '法文', zh: '中文' },
  };
  if (from === 'en') return `the ${names.en[to]} word for ${fromWord} is${quoted(to, toWord)}.`;
  if (from === 'fr') return `le mot ${names.fr[to]} pour ${fromWord} est${quoted(to, toWord)}.`;
  return `${fromWord}的${names.zh[to]}是${to === 'zh' ? toWord : ` ${toWord}`}。`;
}

export const regionPrompt = (city: string) => `${city} is in`;
export const capitalPrompt = (region: string) => `the capital of ${region} is`;
export const twoHopPrompt = (city: string) => `the capital of the region containing ${city} is`;
export const emblemPrompt = (region: string) => `the emblem of ${region} is the`;
export const emblemTwoHopPrompt = (city: string) => `the emblem of the region containing ${city} is the`;
/** The `region-again` form's follow-ups: the region of the question just asked, by reference only. */
export const capitalAgainPrompt = 'the capital of that region is';
export const emblemAgainPrompt = 'the emblem of that region is the';
/** The `region-named` form's composed statement: the region, then what was asked of it. */
export const regionNamedStatement = (
  city: string,
  region: string,
  what: 'capital' | 'emblem',
  answer: string,
) =>
  `the region containing ${city} is ${region}, whose ${what} is ${what === 'emblem' ? 'the ' : ''}${answer}.`;

export const sportPrompt = (name: string) => `which sport does ${name} play?`;

export const coupletFirstLine = (subject: string, verb: string, word: string) =>
  `${subject} ${verb} the ${word},`;

/** Every rhyme word with its class, for the generators and for the rhyme scorer. */
export const RHYME_INDEX: ReadonlyMap<string, { rhymeClass: string; entry: RhymeWord }> = new Map(
  Object.entries(RHYMES).flatMap(([rhymeClass, words]) =>
    words.map((entry) => [entry.word, { rhymeClass, entry }] as const),
  ),
);

const ALL_CITIES = REGIONS.flatMap((r) => r.cities.map((city) => ({ city, region: r })));

function randInt(rng: Rng, lo: number, hi: number): number {
  return lo + rng.int(hi - lo + 1);
}

/**
 * How addition documents are written: `standard` is sums only; `ones-digit` ends each document with one more
 * pair whose sum's last digit alone is asked ("36+59 end 5"), so the ones digit is needed on its own.
 */
export type AdditionForm = 'standard' | 'ones-digit';
export const ADDITION_FORMS: readonly AdditionForm[] = ['standard', 'ones-digit'];

export const onesDigitLine = (a: number, b: number) => `${a}+${b} end ${(a + b) % 10}`;

function trainedPair(rng: Rng, splits: Splits): [number, number] {
  for (;;) {
    const a = rng.int(100);
    const b = rng.int(100);
    if (!splits.heldOutAdditionPairs.has(additionKey(a, b))) return [a, b];
  }
}

export function additionDoc(rng: Rng, splits: Splits, form: AdditionForm = 'standard'): Doc {
  const lines: string[] = [];
  const n = randInt(rng, 5, 9);
  while (lines.length < n) {
    const a = rng.int(100);
    const b = rng.int(100);
    if (!splits.heldOutAdditionPairs.has(additionKey(a, b))) lines.push(additionLine(a, b));
  }
  if (form === 'ones-digit') lines.push(onesDigitLine(...trainedPair(rng, splits)));
  return { family: 'addition', language: 'mixed', text: lines.join('\n') };
}

/**
 * How antonym documents are written: `standard` states each pair within one language; `cross-language` adds
 * two statements that cross languages, one asking for the opposite in another language ("the French word for
 * the opposite of small is grand.") and one asking about a word of another language ("the opposite of「小」 is
 * big."), so one concept, whatever its word's language, must lead to the same opposite in every language.
 */
export type MultilingualForm = 'standard' | 'cross-language';
export const MULTILINGUAL_FORMS: readonly MultilingualForm[] = ['standard', 'cross-language'];

/** How each language names the others (only names the default curriculum already writes are used). */
const LANGUAGE_NAMES: Record<Language, Record<Language, string>> = {
  en: { en: 'English', fr: 'French', zh: 'Chinese' },
  fr: { en: 'anglais', fr: 'français', zh: 'chinois' },
  zh: { en: '英文', fr: '法文', zh: '中文' },
};

/** A word of language `lang` inside text of language `frame`: Chinese inside Latin text is quoted 「」. */
const wordIn = (frame: Language, lang: Language, word: string) =>
  frame !== 'zh' && lang === 'zh' ? `「${word}」` : word;

/** "the opposite of W is" with W in `wordLang`; canonical spacing puts no space before a quoted word. */
export function foreignAntonymPrompt(frame: Language, wordLang: Language, word: string): string {
  return antonymPrompt(frame, wordIn(frame, wordLang, word)).replace(' 「', '「');
}

/** The opposite of a word asked for in another language: the translation template around the antonym one. */
export function translatedAntonymPrompt(lang: Language, to: Language, word: string): string {
  if (lang === 'en') return `the ${LANGUAGE_NAMES.en[to]} word for ${antonymPrompt(lang, word)}`;
  if (lang === 'fr') return `le mot ${LANGUAGE_NAMES.fr[to]} pour ${antonymPrompt(lang, word)}`;
  return `${word}的反义词的${LANGUAGE_NAMES.zh[to]}是`;
}

/** The token(s) after a cross-language prompt of `frame`: the answer quoted or spaced, as canonical spacing has it. */
export const crossAntonymAnswer = (frame: Language, answerLang: Language, answer: string) =>
  answerLang === 'zh' ? wordIn(frame, answerLang, answer) : ` ${answer}`;

/**
 * One statement of each cross-language kind, for pairs drawn at random. A pair held out of a language never
 * appears in a statement that involves that language, so the held-out antonyms stay held out.
 */
function crossLanguageStatements(rng: Rng, splits: Splits): string[] {
  const out: string[] = [];
  for (const kind of ['translated', 'foreign'] as const) {
    const index = rng.int(ANTONYMS.length);
    const flip = rng.next() < 0.5;
    const frame = rng.pick(LANGUAGES);
    const other = rng.pick(LANGUAGES.filter((l) => l !== frame));
    if (splits.heldOutAntonyms[frame].has(index) || splits.heldOutAntonyms[other].has(index)) continue;
    const [wordLang, answerLang] = kind === 'translated' ? [frame, other] : [other, frame];
    const word = ANTONYMS[index][wordLang][flip ? 1 : 0];
    const opposite = ANTONYMS[index][answerLang][flip ? 0 : 1];
    const prompt =
      kind === 'translated'
        ? translatedAntonymPrompt(frame, answerLang, word)
        : foreignAntonymPrompt(frame, wordLang, word);
    out.push(`${prompt}${crossAntonymAnswer(frame, answerLang, opposite)}${frame === 'zh' ? '。' : '.'}`);
  }
  return out;
}

/** Antonym statements, sometimes the same pair in several languages side by side (a parallel text). */
export function antonymDoc(rng: Rng, splits: Splits, form: MultilingualForm = 'standard'): Doc {
  const sentences: string[] = [];
  const parallel = rng.next() < 0.4;
  const langs = new Set<Language>();
  const n = parallel ? 1 : randInt(rng, 1, 4);
  const lang0 = rng.pick(LANGUAGES);
  for (let i = 0; i < n; i++) {
    const index = rng.int(ANTONYMS.length);
    const flip = rng.next() < 0.5;
    for (const lang of parallel ? LANGUAGES : [lang0]) {
      if (splits.heldOutAntonyms[lang].has(index)) continue;
      const [a, b] = ANTONYMS[index][lang];
      sentences.push(antonymStatement(lang, flip ? b : a, flip ? a : b));
      langs.add(lang);
    }
  }
  if (sentences.length === 0) return antonymDoc(rng, splits, form);
  const cross = form === 'cross-language' ? crossLanguageStatements(rng, splits) : [];
  return {
    family: 'antonym',
    language: langs.size === 1 && cross.length === 0 ? [...langs][0] : 'mixed',
    text: joinSentences([...sentences, ...cross]),
  };
}

/** Translations cover every word, held-out antonym pairs included: that link is what transfer rides on. */
export function translationDoc(rng: Rng): Doc {
  const sentences: string[] = [];
  const n = randInt(rng, 1, 3);
  for (let i = 0; i < n; i++) {
    const pair = rng.pick(ANTONYMS);
    const from = rng.pick(LANGUAGES);
    const to = rng.pick(LANGUAGES.filter((l) => l !== from));
    // Like a bilingual dictionary, half the time both words of a pair are translated together.
    const sides = rng.next() < 0.5 ? [0, 1] : [rng.int(2)];
    for (const side of sides)
      sentences.push(translationStatement(from, to, pair[from][side], pair[to][side]));
  }
  return { family: 'translation', language: 'mixed', text: joinSentences(sentences) };
}

/**
 * How cities are written in facts documents: `standard` names them alone; `region-tag` writes each city of a
 * composed question, half the time, with its region right after it ("the capital of the region containing
 * Dallas Texas is Austin."). The region is then the next token at the city itself, so it must be computed
 * at the city, where the composed question's last position can read it instead of looking the city up again.
 * `region-at-city` keeps every composed question bare and states each city's region only right after the city
 * ("Dallas Texas is a city." in place of "Dallas is in Texas."): the city → region lookup is then learned at
 * the city alone, never at a later position, so a composed question can only find the region where the city
 * computed it. `region-only` is `region-at-city` with the held-out cities also left out of the emblem question,
 * so they appear in no composed question at all: their capital can only be reached through the region fact.
 * `region-again` follows each composed question with a second one about the same region that names neither the
 * city nor the region ("… is Austin. the emblem of that region is the star."), so the region found for the
 * first answer is needed again later; a held-out city's emblem question is never followed by its capital.
 * `region-named` writes half the composed questions with the region as an answer of its own before the final
 * one ("the region containing Dallas is Texas, whose capital is Austin."), so the composed frame must produce
 * the intermediate; a held-out city's capital stays out of both forms.
 */
export type TwoHopForm =
  | 'standard'
  | 'region-tag'
  | 'region-at-city'
  | 'region-only'
  | 'region-again'
  | 'region-named';
export const TWO_HOP_FORMS: readonly TwoHopForm[] = [
  'standard',
  'region-tag',
  'region-at-city',
  'region-only',
  'region-again',
  'region-named',
];

/** The city as a composed question names it: alone, or followed by its region. */
export const taggedCity = (city: string, region: string) => `${city} ${region}`;

/** The `region-at-city` form's region fact: the region is the city's own next token. */
export const cityRegionFact = (city: string, region: string) => `${taggedCity(city, region)} is a city.`;

/**
 * Single-hop facts and composed questions. Every city's region is also used inside a composition that is
 * trained (the emblem question), so the city → region hop is one the model already computes mid-sentence;
 * only the capital composition of held-out cities is withheld, which is what tests composition.
 */
export function factsDoc(rng: Rng, splits: Splits, form: TwoHopForm = 'standard'): Doc {
  const sentences: string[] = [];
  const n = randInt(rng, 1, 4);
  const regionAtCity = form === 'region-at-city' || form === 'region-only';
  const named = (city: string, region: string) =>
    form === 'region-tag' && rng.next() < 0.5 ? taggedCity(city, region) : city;
  while (sentences.length < n) {
    const { city, region } = rng.pick(ALL_CITIES);
    const emblem = EMBLEMS[region.name];
    const kind = rng.int(5);
    if (kind === 0)
      sentences.push(
        regionAtCity ? cityRegionFact(city, region.name) : `${regionPrompt(city)} ${region.name}.`,
      );
    else if (kind === 1) sentences.push(`${capitalPrompt(region.name)} ${region.capital}.`);
    else if (kind === 2) sentences.push(`${emblemPrompt(region.name)} ${emblem}.`);
    else if (kind === 3) {
      if (form === 'region-named' && rng.next() < 0.5)
        sentences.push(regionNamedStatement(city, region.name, 'emblem', emblem));
      else if (form !== 'region-only' || !splits.heldOutTwoHopCities.has(city))
        sentences.push(`${emblemTwoHopPrompt(named(city, region.name))} ${emblem}.`);
      if (form === 'region-again' && !splits.heldOutTwoHopCities.has(city))
        sentences.push(`${capitalAgainPrompt} ${region.capital}.`);
    } else if (!splits.heldOutTwoHopCities.has(city)) {
      if (form === 'region-named' && rng.next() < 0.5)
        sentences.push(regionNamedStatement(city, region.name, 'capital', region.capital));
      else sentences.push(`${twoHopPrompt(named(city, region.name))} ${region.capital}.`);
      if (form === 'region-again') sentences.push(`${emblemAgainPrompt} ${emblem}.`);
    }
  }
  return { family: 'facts', language: 'en', text: joinSentences(sentences) };
}

/**
 * How a couplet's second line is written: `standard` is the end word's own line; `planned` opens it with the
 * end word's opener ("soft, it purred and napped just like a cat."), so the line's first word already
 * depends on the end word and the choice must be made at the line break.
 */
export type RhymeForm = 'standard' | 'planned';
export const RHYME_FORMS: readonly RhymeForm[] = ['standard', 'planned'];

export const plannedLine = (entry: RhymeWord) => `${RHYME_OPENERS[entry.word]}, ${entry.line}`;

/** Both forms draw the same random numbers, so a stream differs between them only in its second lines. */
export function rhymeDoc(rng: Rng, splits: Splits, form: RhymeForm = 'standard'): Doc {
  const subject = rng.pick(COUPLET_SUBJECTS);
  const verb = rng.pick(COUPLET_VERBS);
  const first = rng.pick([...RHYME_INDEX.keys()]);
  if (splits.heldOutCouplets.has(coupletKey(subject, verb, first))) return rhymeDoc(rng, splits, form);
  const rhymeClass = RHYME_INDEX.get(first)!.rhymeClass;
  const second = rng.pick(RHYMES[rhymeClass].filter((w) => w.word !== first));
  const line = form === 'planned' ? plannedLine(second) : second.line;
  return { family: 'rhyme', language: 'en', text: `${coupletFirstLine(subject, verb, first)}\n${line}.` };
}

/**
 * How entity documents name people: `standard` draws unknown people from their own first names and surnames,
 * so one known token decides the answer; `mixed-names` makes refusal the common answer (70% of the questions)
 * and builds unknown people from known parts as well (a known first name with another surname, an unknown first
 * name with a known surname, or two known people's parts crossed), so only the whole name says whether a
 * person is known; `familiarity` is `mixed-names` with half the questions asking whether the person is known
 * at all ("have you heard of Tiger Woods? yes."), so one familiarity signal for every known person pays. The
 * eval's partly familiar names stay out of training in every form.
 */
export type EntityForm = 'standard' | 'mixed-names' | 'familiarity';
export const ENTITY_FORMS: readonly EntityForm[] = ['standard', 'mixed-names', 'familiarity'];

export const familiarityPrompt = (name: string) => `have you heard of ${name}?`;

/** Each known first name with three surnames that only ever belonged to unknown people: the eval's test of misfires. */
export function partlyFamiliarNames(): string[] {
  return KNOWN_PEOPLE.flatMap((p, i) =>
    [0, 1, 2].map((j) => `${p.first} ${UNKNOWN_LAST_NAMES[(3 * i + j) % UNKNOWN_LAST_NAMES.length]}`),
  );
}
const PARTLY_FAMILIAR = new Set(partlyFamiliarNames());

/** An unknown person's name under `mixed-names`: any first name and surname that are not one known person. */
function mixedUnknownName(rng: Rng, splits: Splits): string | undefined {
  const kind = rng.int(4);
  const first = kind === 1 || kind === 3 ? rng.pick(KNOWN_PEOPLE).first : rng.pick(UNKNOWN_FIRST_NAMES);
  const known = kind === 2 || kind === 3 ? rng.pick(KNOWN_PEOPLE) : undefined;
  const last = known?.last ?? rng.pick(UNKNOWN_LAST_NAMES);
  const name = `${first} ${last}`;
  if (known?.first === first || splits.heldOutUnknownNames.has(name) || PARTLY_FAMILIAR.has(name))
    return undefined;
  return name;
}

export function entityDoc(rng: Rng, splits: Splits, form: EntityForm = 'standard'): Doc {
  const sentences: string[] = [];
  const n = randInt(rng, 1, 3);
  const mixed = form !== 'standard';
  const knownShare = mixed ? 0.3 : 0.45;
  while (sentences.length < n) {
    const r = rng.next();
    const asksFamiliarity = form === 'familiarity' && rng.next() < 0.5;
    if (r < knownShare) {
      const p = rng.pick(KNOWN_PEOPLE);
      const name = `${p.first} ${p.last}`;
      if (asksFamiliarity) sentences.push(`${familiarityPrompt(name)} yes.`);
      else
        sentences.push(rng.next() < 0.5 ? `${sportPrompt(name)} ${p.sport}.` : `${name} plays ${p.sport}.`);
    } else if (mixed) {
      const name = mixedUnknownName(rng, splits);
      if (name !== undefined)
        sentences.push(asksFamiliarity ? `${familiarityPrompt(name)} no.` : `${sportPrompt(name)} ${IDK}.`);
    } else {
      const name = `${rng.pick(UNKNOWN_FIRST_NAMES)} ${rng.pick(UNKNOWN_LAST_NAMES)}`;
      if (!splits.heldOutUnknownNames.has(name)) sentences.push(`${sportPrompt(name)} ${IDK}.`);
    }
  }
  return { family: 'entity', language: 'en', text: joinSentences(sentences) };
}

interface Concept {
  en: string;
  fr: string;
  zh: string;
}

/** One concept's words, written [English, French, Chinese]. */
const concepts = (rows: readonly (readonly [string, string, string])[]): readonly Concept[] =>
  rows.map(([en, fr, zh]) => ({ en, fr, zh }));

/** French nouns are masculine and start with a consonant, so "le NOUN ADJ" is always grammatical. */
const NOUNS = concepts([
  ['dog', 'chien', '狗'],
  ['cat', 'chat', '猫'],
  ['bird', 'pigeon', '鸟'],
  ['horse', 'cheval', '马'],
  ['fish', 'poisson', '鱼'],
  ['boy', 'garçon', '男孩'],
  ['baby', 'bébé', '宝宝'],
  ['teacher', 'professeur', '老师'],
]);
const VERBS = concepts([
  ['sleeps', 'dort', '睡觉'],
  ['runs', 'court', '跑步'],
  ['eats', 'mange', '吃饭'],
  ['plays', 'joue', '玩'],
  ['waits', 'attend', '等'],
]);
const PLACES = concepts([
  ['near the river', 'près de la rivière', '在河边'],
  ['in the garden', 'dans le jardin', '在花园里'],
  ['in the park', 'dans le parc', '在公园里'],
  ['at home', 'à la maison', '在家里'],
  ['on the hill', 'sur la colline', '在山上'],
]);
/** Antonym words that read naturally as adjectives after a masculine French noun. */
const ADJECTIVE_KEYS = [
  'hot',
  'cold',
  'fast',
  'slow',
  'black',
  'white',
  'strong',
  'weak',
  'dry',
  'wet',
  'happy',
  'sad',
  'rich',
  'poor',
  'clean',
  'dirty',
  'heavy',
  'light',
  'fat',
  'thin',
  'busy',
  'idle',
];
const ADJECTIVES: readonly Concept[] = ANTONYMS.flatMap((p) =>
  [0, 1].map((i) => ({ en: p.en[i], fr: p.fr[i], zh: p.zh[i] })),
).filter((c) => ADJECTIVE_KEYS.includes(c.en));

function fillerSentence(
  lang: Language,
  kind: number,
  noun: Concept,
  adj: Concept,
  verb: Concept,
  place: Concept,
) {
  if (kind === 0) {
    if (lang === 'en') return `the ${adj.en} ${noun.en} ${verb.en} ${place.en}.`;
    if (lang === 'fr') return `le ${noun.fr} ${adj.fr} ${verb.fr} ${place.fr}.`;
    return `${adj.zh}的${noun.zh}${place.zh}${verb.zh}。`;
  }
  if (lang === 'en') return `the ${noun.en} is ${adj.en}.`;
  if (lang === 'fr') return `le ${noun.fr} est ${adj.fr}.`;
  return `${noun.zh}很${adj.zh}。`;
}

/**
 * General text in all three languages over the shared vocabulary, often as parallel translations of one
 * abstract sentence, so that a word's context and not just its task decides the next token.
 */
export function fillerDoc(rng: Rng): Doc {
  const sentences: string[] = [];
  const langs = new Set<Language>();
  const n = randInt(rng, 1, 3);
  const parallel = rng.next() < 0.35;
  const lang0 = rng.pick(LANGUAGES);
  for (let i = 0; i < n; i++) {
    if (rng.next() < 0.15) {
      const { city } = rng.pick(ALL_CITIES);
      sentences.push(`the weather in ${city} is ${rng.pick(['hot', 'cold', 'wet', 'dry'])}.`);
      langs.add('en');
      continue;
    }
    const kind = rng.int(2);
    const args = [rng.pick(NOUNS), rng.pick(ADJECTIVES), rng.pick(VERBS), rng.pick(PLACES)] as const;
    for (const lang of parallel ? LANGUAGES : [lang0]) {
      sentences.push(fillerSentence(lang, kind, ...args));
      langs.add(lang);
    }
  }
  return {
    family: 'filler',
    language: langs.size === 1 ? [...langs][0] : 'mixed',
    text: joinSentences(sentences),
  };
}

/**
 * Joins whole sentences while they fit in MAX_DOC_TOKENS. Latin sentences are separated by a space, which
 * the decoder puts back; Chinese ones need none.
 */
function joinSentences(sentences: readonly string[]): string {
  let text = '';
  let used = 0;
  for (const s of sentences) {
    const n = preTokenize(s).length;
    if (used > 0 && used + n > MAX_DOC_TOKENS) break;
    text += used > 0 && /^[A-Za-zÀ-ÿ]/.test(s) ? ` ${s}` : s;
    used += n;
  }
  return text;
}
