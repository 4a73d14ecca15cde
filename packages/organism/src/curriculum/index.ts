import { Rng } from './prng.ts';
import { makeSplits, type Splits } from './splits.ts';
import {
  ADDITION_FORMS,
  type AdditionForm,
  additionDoc,
  antonymDoc,
  type Doc,
  ENTITY_FORMS,
  type EntityForm,
  entityDoc,
  factsDoc,
  fillerDoc,
  MULTILINGUAL_FORMS,
  type MultilingualForm,
  RHYME_FORMS,
  type RhymeForm,
  rhymeDoc,
  type TaskFamily,
  TWO_HOP_FORMS,
  type TwoHopForm,
  translationDoc,
} from './tasks.ts';

export { type EvalItem, type EvalSets, type EvalTask, evalSets, type Scoring } from './eval-sets.ts';
export { type Language, LANGUAGES } from './lexicon.ts';
export { Rng, hashKey } from './prng.ts';
export { additionKey, makeSplits, type Splits } from './splits.ts';
export {
  ADDITION_FORMS,
  type AdditionForm,
  crossAntonymAnswer,
  type Doc,
  type DocLanguage,
  ENTITY_FORMS,
  type EntityForm,
  familiarityPrompt,
  foreignAntonymPrompt,
  IDK,
  MULTILINGUAL_FORMS,
  type MultilingualForm,
  onesDigitLine,
  partlyFamiliarNames,
  plannedLine,
  RHYME_FORMS,
  RHYME_INDEX,
  type RhymeForm,
  type TaskFamily,
  TWO_HOP_FORMS,
  type TwoHopForm,
  taggedCity,
  cityRegionFact,
  translatedAntonymPrompt,
} from './tasks.ts';

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

/**
 * Opt-in changes to the curriculum; the default is the curriculum the shipped organisms were trained on.
 * `rhyme: 'planned'` writes every couplet's second line in the planned form (see `RhymeForm`);
 * `addition: 'ones-digit'` adds a last-digit question to each addition document (see `AdditionForm`);
 * `twoHop: 'region-tag'` names half the composed questions' cities with their region, and `region-at-city` states
 * a city's region only right after the city, and `region-only` also keeps the held-out cities out of every composed
 * question, `region-again` asks about the same region once more right after a composed question, and
 * `region-named` has half the composed questions name the region before their answer (see `TwoHopForm`);
 * `multilingual: 'cross-language'` adds antonym statements that cross languages (see `MultilingualForm`);
 * `entities: 'mixed-names'` builds unknown people from known name parts too, and `familiarity` also asks whether a
 * person is known (see `EntityForm`).
 */
export interface CurriculumOptions {
  rhyme: RhymeForm;
  addition: AdditionForm;
  /** Default `standard`. */
  twoHop?: TwoHopForm;
  /** Default `standard`. */
  multilingual?: MultilingualForm;
  /** Default `standard`. */
  entities?: EntityForm;
}

export const DEFAULT_CURRICULUM: CurriculumOptions = { rhyme: 'standard', addition: 'standard' };

/** Each task family's document generator (translation and filler documents ignore the held-out splits). */
function generators(o: CurriculumOptions): Record<TaskFamily, (rng: Rng, splits: Splits) => Doc> {
  return {
    addition: (rng, splits) => additionDoc(rng, splits, o.addition),
    antonym: (rng, splits) => antonymDoc(rng, splits, o.multilingual),
    translation: translationDoc,
    facts: (rng, splits) => factsDoc(rng, splits, o.twoHop),
    rhyme: (rng, splits) => rhymeDoc(rng, splits, o.rhyme),
    entity: (rng, splits) => entityDoc(rng, splits, o.entities),
    filler: fillerDoc,
  };
}

/**
 * The endless training stream of one seed. The held-out splits come from `splitSeed` (default: the same
 * seed), so a trainer can draw fresh documents with new seeds while keeping the eval split fixed.
 */
export function* generateTrainingStream(
  seed: number,
  splitSeed: number = seed,
  curriculum: CurriculumOptions = DEFAULT_CURRICULUM,
): Generator<Doc, never> {
  if (!RHYME_FORMS.includes(curriculum.rhyme))
    throw new Error(`unknown rhyme form '${curriculum.rhyme}'; one of ${RHYME_FORMS.join(', ')}`);
  if (!ADDITION_FORMS.includes(curriculum.addition))
    throw new Error(`unknown addition form '${curriculum.addition}'; one of ${ADDITION_FORMS.join(', ')}`);
  if (curriculum.twoHop !== undefined && !TWO_HOP_FORMS.includes(curriculum.twoHop))
    throw new Error(`unknown two-hop form '${curriculum.twoHop}'; one of ${TWO_HOP_FORMS.join(', ')}`);
  if (curriculum.multilingual !== undefined && !MULTILINGUAL_FORMS.includes(curriculum.multilingual))
    throw new Error(
      `unknown multilingual form '${curriculum.multilingual}'; one of ${MULTILINGUAL_FORMS.join(', ')}`,
    );
  if (curriculum.entities !== undefined && !ENTITY_FORMS.includes(curriculum.entities))
    throw new Error(`unknown entity form '${curriculum.entities}'; one of ${ENTITY_FORMS.join(', ')}`);
  const splits = makeSplits(splitSeed);
  const rng = new Rng(seed);
  const gen = generators(curriculum);
  for (;;) {
    const family = FAMILIES[rng.weighted(FAMILIES.map((f) => FAMILY_WEIGHTS[f]))];
    yield gen[family](rng, splits);
  }
}

export function sampleDocuments(
  n: number,
  seed: number,
  splitSeed: number = seed,
  curriculum: CurriculumOptions = DEFAULT_CURRICULUM,
): Doc[] {
  if (!Number.isInteger(n) || n < 0)
    throw new Error(`sampleDocuments: n must be a non-negative integer, got ${n}`);
  const stream = generateTrainingStream(seed, splitSeed, curriculum);
  return Array.from({ length: n }, () => stream.next().value);
}
