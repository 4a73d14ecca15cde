import { chooseByHash, hashKey } from './prng.ts';
import {
  ANTONYMS,
  COUPLET_SUBJECTS,
  COUPLET_VERBS,
  type Language,
  LANGUAGES,
  REGIONS,
  RHYMES,
  UNKNOWN_FIRST_NAMES,
  UNKNOWN_LAST_NAMES,
} from './lexicon.ts';

/**
 * What is held out of training, derived from the seed alone (by hashing item keys), so the training
 * stream and the eval sets of one seed always agree and no generation order can leak an item.
 */
export interface Splits {
  seed: number;
  /** Unordered operand pairs "a,b" (a ≤ b) never written in training, in either order. */
  heldOutAdditionPairs: ReadonlySet<string>;
  /** Per language: indices into ANTONYMS whose antonym statements are absent in that language only. */
  heldOutAntonyms: Readonly<Record<Language, ReadonlySet<number>>>;
  /** Cities whose capital two-hop question never appears in training (single-hop facts and the emblem composition do). */
  heldOutTwoHopCities: ReadonlySet<string>;
  /** Unknown "First Last" names never written in training (their parts are). */
  heldOutUnknownNames: ReadonlySet<string>;
  /** First lines (coupletKey) never written in training: the model must rhyme on a line it has not seen. */
  heldOutCouplets: ReadonlySet<string>;
}

export const HELD_OUT_ADDITION_FRACTION = 0.1;
export const HELD_OUT_ANTONYMS_PER_LANGUAGE = 6;
export const HELD_OUT_TWO_HOP_PER_REGION = 1;
export const HELD_OUT_UNKNOWN_NAMES = 60;
export const HELD_OUT_COUPLET_FRACTION = 0.1;

export const coupletKey = (subject: string, verb: string, word: string) => `${subject}|${verb}|${word}`;

export function additionKey(a: number, b: number): string {
  return a <= b ? `${a},${b}` : `${b},${a}`;
}

export function makeSplits(seed: number): Splits {
  const heldOutAdditionPairs = new Set<string>();
  const additionThreshold = Math.floor(HELD_OUT_ADDITION_FRACTION * 2 ** 32);
  for (let a = 0; a < 100; a++) {
    for (let b = a; b < 100; b++) {
      const key = additionKey(a, b);
      if (hashKey(seed, `add:${key}`) < additionThreshold) heldOutAdditionPairs.add(key);
    }
  }

  // Each language holds out different pairs, so every held-out pair is still taught in two other languages.
  const indices = ANTONYMS.map((_, i) => i);
  const taken = new Set<number>();
  const heldOutAntonyms = {} as Record<Language, Set<number>>;
  for (const lang of LANGUAGES) {
    const free = indices.filter((i) => !taken.has(i));
    const chosen = chooseByHash(seed, free, HELD_OUT_ANTONYMS_PER_LANGUAGE, (i) => `ant:${lang}:${i}`);
    for (const i of chosen) taken.add(i);
    heldOutAntonyms[lang] = new Set(chosen);
  }

  const heldOutTwoHopCities = new Set<string>();
  for (const region of REGIONS) {
    for (const city of chooseByHash(seed, region.cities, HELD_OUT_TWO_HOP_PER_REGION, (c) => `hop:${c}`)) {
      heldOutTwoHopCities.add(city);
    }
  }

  const allUnknown = UNKNOWN_FIRST_NAMES.flatMap((f) => UNKNOWN_LAST_NAMES.map((l) => `${f} ${l}`));
  const heldOutUnknownNames = new Set(
    chooseByHash(seed, allUnknown, HELD_OUT_UNKNOWN_NAMES, (n) => `unk:${n}`),
  );

  const heldOutCouplets = new Set<string>();
  const coupletThreshold = Math.floor(HELD_OUT_COUPLET_FRACTION * 2 ** 32);
  for (const subject of COUPLET_SUBJECTS) {
    for (const verb of COUPLET_VERBS) {
      for (const { word } of Object.values(RHYMES).flat()) {
        const key = coupletKey(subject, verb, word);
        if (hashKey(seed, `rhyme:${key}`) < coupletThreshold) heldOutCouplets.add(key);
      }
    }
  }

  return {
    seed,
    heldOutAdditionPairs,
    heldOutAntonyms,
    heldOutTwoHopCities,
    heldOutUnknownNames,
    heldOutCouplets,
  };
}
