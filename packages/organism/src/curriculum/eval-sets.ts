import {
  ANTONYMS,
  COUPLET_SUBJECTS,
  COUPLET_VERBS,
  EMBLEMS,
  KNOWN_PEOPLE,
  LANGUAGES,
  REGIONS,
  RHYMES,
} from './lexicon.ts';
import { coupletKey, makeSplits, type Splits } from './splits.ts';
import {
  additionLine,
  antonymAnswer,
  antonymPrompt,
  capitalPrompt,
  coupletFirstLine,
  type DocLanguage,
  emblemTwoHopPrompt,
  IDK,
  partlyFamiliarNames,
  RHYME_INDEX,
  regionPrompt,
  sportPrompt,
  twoHopPrompt,
} from './tasks.ts';

export type EvalTask = 'addition' | 'antonym' | 'facts' | 'rhyme' | 'entity';

/** How a generation is judged: see eval/score.ts. */
export type Scoring = 'exact' | 'rhyme' | 'refusal';

export interface EvalItem {
  task: EvalTask;
  subtask: string;
  scoring: Scoring;
  /** Text the model is given (the tokenizer adds <bos>). */
  prompt: string;
  /** Acceptable continuations, in canonical spacing (a Latin word keeps its leading space). */
  expected: string[];
  language: DocLanguage;
}

export type EvalSets = Record<EvalTask, EvalItem[]>;

/**
 * Everything the acceptance criteria measure. Held-out items come from the seed's splits and are exactly
 * what training never writes; "seen" items measure recall of trained facts.
 */
export function evalSets(seed: number, splits: Splits = makeSplits(seed)): EvalSets {
  const addition: EvalItem[] = [];
  for (const key of [...splits.heldOutAdditionPairs].sort()) {
    const [a, b] = key.split(',').map(Number);
    for (const [x, y] of a === b
      ? [[a, b]]
      : [
          [a, b],
          [b, a],
        ]) {
      const [prompt, sum] = additionLine(x, y).split('=');
      addition.push(exact('addition', 'unseen-pairs', 'mixed', `${prompt}=`, [sum]));
    }
  }

  const antonym: EvalItem[] = [];
  for (const lang of LANGUAGES) {
    ANTONYMS.forEach((pair, i) => {
      const subtask = splits.heldOutAntonyms[lang].has(i) ? 'held-out-in-language' : 'seen';
      const [a, b] = pair[lang];
      antonym.push(exact('antonym', subtask, lang, antonymPrompt(lang, a), [antonymAnswer(lang, b)]));
      antonym.push(exact('antonym', subtask, lang, antonymPrompt(lang, b), [antonymAnswer(lang, a)]));
    });
  }

  const facts: EvalItem[] = [];
  for (const region of REGIONS) {
    facts.push(exact('facts', 'capital', 'en', capitalPrompt(region.name), [` ${region.capital}`]));
    for (const city of region.cities) {
      facts.push(exact('facts', 'city-region', 'en', regionPrompt(city), [` ${region.name}`]));
      const subtask = splits.heldOutTwoHopCities.has(city) ? 'two-hop-held-out' : 'two-hop-seen';
      facts.push(exact('facts', subtask, 'en', twoHopPrompt(city), [` ${region.capital}`]));
      facts.push(
        exact('facts', 'emblem-two-hop', 'en', emblemTwoHopPrompt(city), [` ${EMBLEMS[region.name]}`]),
      );
    }
  }

  const rhyme: EvalItem[] = [];
  for (const subject of COUPLET_SUBJECTS) {
    for (const verb of COUPLET_VERBS) {
      for (const word of RHYME_INDEX.keys()) {
        if (!splits.heldOutCouplets.has(coupletKey(subject, verb, word))) continue;
        const others = RHYMES[RHYME_INDEX.get(word)!.rhymeClass].filter((w) => w.word !== word);
        rhyme.push({
          task: 'rhyme',
          subtask: 'held-out-first-lines',
          scoring: 'rhyme',
          prompt: `${coupletFirstLine(subject, verb, word)}\n`,
          expected: others.map((w) => `${w.line}.`),
          language: 'en',
        });
      }
    }
  }

  const entity: EvalItem[] = [];
  for (const p of KNOWN_PEOPLE) {
    entity.push(exact('entity', 'known', 'en', sportPrompt(`${p.first} ${p.last}`), [` ${p.sport}`]));
  }
  for (const name of [...splits.heldOutUnknownNames].sort()) {
    entity.push(exact('entity', 'unknown', 'en', sportPrompt(name), [` ${IDK}`]));
  }
  for (const name of partlyFamiliarNames()) {
    entity.push({
      task: 'entity',
      subtask: 'partly-familiar',
      scoring: 'refusal',
      prompt: sportPrompt(name),
      expected: [` ${IDK}`],
      language: 'en',
    });
  }

  return { addition, antonym, facts, rhyme, entity };
}

function exact(
  task: EvalTask,
  subtask: string,
  language: DocLanguage,
  prompt: string,
  expected: string[],
): EvalItem {
  return { task, subtask, scoring: 'exact', prompt, expected, language };
}
