import { Rng } from './prng.ts';
import { makeSplits, type Splits } from './splits.ts';
import {
  additionDoc,
  antonymDoc,
  type Doc,
  entityDoc,
  factsDoc,
  fillerDoc,
  rhymeDoc,
  type TaskFamily,
  translationDoc,
} from './tasks.ts';

export { type EvalItem, type EvalSets, type EvalTask, evalSets, type Scoring } from './eval-sets.ts';
export { type Language, LANGUAGES } from './lexicon.ts';
export { Rng, hashKey } from './prng.ts';
export { additionKey, makeSplits, type Splits } from './splits.ts';
export { type Doc, type DocLanguage, IDK, RHYME_INDEX, type TaskFamily } from './tasks.ts';

/** Share of each family in the training stream; filler keeps the organism a general next-token predictor. */
export const FAMILY_WEIGHTS: Readonly<Record<TaskFamily, number>> = {
  addition: 0.5,
  antonym: 0.1,
  translation: 0.09,
  facts: 0.08,
  rhyme: 0.08,
  entity: 0.07,
  filler: 0.08,
};

const FAMILIES = Object.keys(FAMILY_WEIGHTS) as TaskFamily[];

/** Each task family's document generator (translation and filler documents ignore the held-out splits). */
const GENERATORS: Record<TaskFamily, (rng: Rng, splits: Splits) => Doc> = {
  addition: additionDoc,
  antonym: antonymDoc,
  translation: translationDoc,
  facts: factsDoc,
  rhyme: rhymeDoc,
  entity: entityDoc,
  filler: fillerDoc,
};

function generateDoc(rng: Rng, splits: Splits): Doc {
  const family = FAMILIES[rng.weighted(FAMILIES.map((f) => FAMILY_WEIGHTS[f]))];
  return GENERATORS[family](rng, splits);
}

/**
 * The endless training stream of one seed. The held-out splits come from `splitSeed` (default: the same
 * seed), so a trainer can draw fresh documents with new seeds while keeping the eval split fixed.
 */
export function* generateTrainingStream(seed: number, splitSeed: number = seed): Generator<Doc, never> {
  const splits = makeSplits(splitSeed);
  const rng = new Rng(seed);
  for (;;) yield generateDoc(rng, splits);
}

export function sampleDocuments(n: number, seed: number, splitSeed: number = seed): Doc[] {
  if (!Number.isInteger(n) || n < 0)
    throw new Error(`sampleDocuments: n must be a non-negative integer, got ${n}`);
  const stream = generateTrainingStream(seed, splitSeed);
  return Array.from({ length: n }, () => stream.next().value);
}
