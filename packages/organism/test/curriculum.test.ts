import { describe, expect, it } from 'vitest';
import {
  type AdditionForm,
  additionKey,
  type EntityForm,
  crossAntonymAnswer,
  evalSets,
  familiarityPrompt,
  foreignAntonymPrompt,
  generateTrainingStream,
  IDK,
  LANGUAGES,
  makeSplits,
  type MultilingualForm,
  partlyFamiliarNames,
  plannedLine,
  RHYME_INDEX,
  type RhymeForm,
  Rng,
  sampleDocuments,
  type TwoHopForm,
  taggedCity,
  cityRegionFact,
  translatedAntonymPrompt,
} from '../src/curriculum/index.ts';
import { preTokenize } from '../src/curriculum/pieces.ts';
import { ANTONYMS, EMBLEMS, KNOWN_PEOPLE, REGIONS, RHYME_OPENERS } from '../src/curriculum/lexicon.ts';
import { antonymPrompt, emblemTwoHopPrompt, regionPrompt, twoHopPrompt } from '../src/curriculum/tasks.ts';
import { buildVocab } from '../src/tokenizer.ts';

const SAMPLE = sampleDocuments(30_000, 11);

/** The facts documents of a two-hop form (a fixed seed, 3,000 documents). */
const facts = (twoHop?: TwoHopForm) =>
  sampleDocuments(3_000, 7, 7, { rhyme: 'standard', addition: 'standard', twoHop })
    .filter((d) => d.family === 'facts')
    .map((d) => d.text);

describe('Rng', () => {
  it('is reproducible and roughly uniform', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const xs = Array.from({ length: 10_000 }, () => a.next());
    expect(xs).toEqual(Array.from({ length: 10_000 }, () => b.next()));
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.02);
    expect(new Rng(43).next()).not.toBe(new Rng(42).next());
  });
  it('rejects bad arguments', () => {
    expect(() => new Rng(1.5)).toThrow(/integer/);
    expect(() => new Rng(1).int(0)).toThrow(/n > 0/);
    expect(() => new Rng(1).pick([])).toThrow(/empty/);
  });
});

describe('training stream', () => {
  it('is identical for the same seed and differs for another', () => {
    const s1 = generateTrainingStream(5);
    const s2 = generateTrainingStream(5);
    const a = Array.from({ length: 500 }, () => s1.next().value);
    expect(a).toEqual(Array.from({ length: 500 }, () => s2.next().value));
    expect(sampleDocuments(500, 6)).not.toEqual(a);
    expect(sampleDocuments(500, 5)).toEqual(a);
  });

  it('covers every family and language', () => {
    const families = new Set(SAMPLE.map((d) => d.family));
    expect([...families].sort()).toEqual(
      ['addition', 'antonym', 'entity', 'facts', 'filler', 'rhyme', 'translation'].sort(),
    );
    const languages = new Set(SAMPLE.map((d) => d.language));
    for (const l of LANGUAGES) expect(languages.has(l)).toBe(true);
  });

  it('rejects a bad document count', () => {
    expect(() => sampleDocuments(-1, 1)).toThrow(/non-negative/);
  });
});

describe('ones-digit addition form', () => {
  it('ends every addition document with the last digit of a trained pair, after ordinary sums', () => {
    const splits = makeSplits(7);
    const docs = sampleDocuments(2_000, 7, 7, { rhyme: 'standard', addition: 'ones-digit' });
    const addition = docs.filter((d) => d.family === 'addition');
    expect(addition.length).toBeGreaterThan(500);
    for (const d of addition) {
      const lines = d.text.split('\n');
      for (const l of lines.slice(0, -1)) {
        const [, a, b, sum] = l.match(/^(\d+)\+(\d+)=(\d+)$/) ?? [];
        expect(Number(a) + Number(b)).toBe(Number(sum));
      }
      const [, a, b, digit] = lines.at(-1)?.match(/^(\d+)\+(\d+) end (\d)$/) ?? [];
      expect((Number(a) + Number(b)) % 10).toBe(Number(digit));
      expect(splits.heldOutAdditionPairs.has(additionKey(Number(a), Number(b)))).toBe(false);
    }
  });

  it('rejects an unknown form', () => {
    expect(() =>
      sampleDocuments(1, 1, 1, { rhyme: 'standard', addition: 'spelled' as AdditionForm }),
    ).toThrow(/unknown addition form/);
  });
});

describe('planned rhyme form', () => {
  const standard = sampleDocuments(3_000, 7);
  const planned = sampleDocuments(3_000, 7, 7, { rhyme: 'planned', addition: 'standard' });

  it("changes only the couplets, each second line opening with its end word's own word", () => {
    const openerOf = new Map(Object.entries(RHYME_OPENERS));
    expect(new Set(openerOf.values()).size).toBe(RHYME_INDEX.size);
    let couplets = 0;
    for (let i = 0; i < standard.length; i++) {
      if (standard[i].family !== 'rhyme') {
        expect(planned[i]).toEqual(standard[i]);
        continue;
      }
      couplets++;
      const [first, line] = standard[i].text.split('\n');
      const end = line.replace(/\.$/, '').split(' ').at(-1)!;
      expect(planned[i].text).toBe(`${first}\n${openerOf.get(end)}, ${line}`);
      expect(planned[i].text).toBe(`${first}\n${plannedLine(RHYME_INDEX.get(end)!.entry)}.`);
    }
    expect(couplets).toBeGreaterThan(100);
  });

  it('rejects an unknown form', () => {
    expect(() => sampleDocuments(1, 1, 1, { rhyme: 'sung' as RhymeForm, addition: 'standard' })).toThrow(
      /unknown rhyme form/,
    );
  });
});

describe('region-tag two-hop form', () => {
  const splits = makeSplits(7);
  const regionOf = new Map(REGIONS.flatMap((r) => r.cities.map((c) => [c, r.name] as const)));
  const composed = /the (capital|emblem) of the region containing (\w+)( \w+)? is/g;
  it("names about half the composed questions' cities with their own region, and only those", () => {
    const docs = facts('region-tag');
    let tagged = 0;
    let questions = 0;
    for (const text of docs) {
      for (const [, kind, city, tag] of text.matchAll(composed)) {
        questions++;
        if (tag !== undefined) {
          tagged++;
          expect(tag).toBe(` ${regionOf.get(city)}`);
          expect(text).toContain(`containing ${taggedCity(city, regionOf.get(city)!)} is`);
        }
        if (kind === 'capital') expect(splits.heldOutTwoHopCities.has(city)).toBe(false);
      }
      // The region question itself keeps the bare city: its answer is the tag.
      for (const [, city, next] of text.matchAll(/(\w+) (\w+) is in/g))
        expect(regionOf.get(city) === next).toBe(false);
    }
    expect(questions).toBeGreaterThan(100);
    expect(tagged / questions).toBeGreaterThan(0.4);
    expect(tagged / questions).toBeLessThan(0.6);
  });

  it('leaves the default form untagged and rejects an unknown form', () => {
    for (const text of facts())
      for (const [, , , tag] of text.matchAll(composed)) expect(tag).toBeUndefined();
    expect(facts('standard')).toEqual(facts());
    expect(() =>
      sampleDocuments(1, 1, 1, { rhyme: 'standard', addition: 'standard', twoHop: 'spelled' as TwoHopForm }),
    ).toThrow(/unknown two-hop form/);
  });
});

describe('region-at-city two-hop form', () => {
  const regionOf = new Map(REGIONS.flatMap((r) => r.cities.map((c) => [c, r.name] as const)));
  it("states a city's region only right after the city, and keeps every composed question bare", () => {
    const variant = facts('region-at-city');
    const standard = facts();
    expect(variant).toHaveLength(standard.length);
    let stated = 0;
    for (const [i, text] of variant.entries()) {
      expect(text).not.toMatch(/ is in /);
      for (const [, city, region] of text.matchAll(/(\w+) (\w+) is a city\./g)) {
        stated++;
        expect(regionOf.get(city)).toBe(region);
        expect(text).toContain(cityRegionFact(city, region));
      }
      for (const [, city, next] of text.matchAll(/region containing (\w+) (\w+)/g)) {
        expect(regionOf.has(city)).toBe(true);
        expect(next).toBe('is');
      }
      // Only the region facts differ from the default stream: the same draws, the same questions.
      const withoutRegionFacts = (t: string) =>
        t.replace(/\w+ \w+ is a city\.|\w+ is in \w+\./g, '<region fact>');
      expect(withoutRegionFacts(text)).toBe(withoutRegionFacts(standard[i]));
    }
    expect(stated).toBeGreaterThan(100);
  });

  it('region-only also keeps the held-out cities out of every composed question, but not out of the region facts', () => {
    const held = makeSplits(7).heldOutTwoHopCities;
    let heldStated = 0;
    let composedQuestions = 0;
    for (const text of facts('region-only')) {
      expect(text).not.toMatch(/ is in /);
      for (const [, city] of text.matchAll(/region containing (\w+) is/g)) {
        composedQuestions++;
        expect(held.has(city)).toBe(false);
      }
      for (const [, city] of text.matchAll(/(\w+) \w+ is a city\./g)) if (held.has(city)) heldStated++;
    }
    expect(composedQuestions).toBeGreaterThan(100);
    expect(heldStated).toBeGreaterThan(10);
    // In region-at-city the held-out cities still get emblem questions.
    const emblemOfHeld = facts('region-at-city').some((t) =>
      [...t.matchAll(/emblem of the region containing (\w+)/g)].some(([, c]) => held.has(c)),
    );
    expect(emblemOfHeld).toBe(true);
  });
});

describe('region-again two-hop form', () => {
  const regionOf = new Map(REGIONS.flatMap((r) => r.cities.map((c) => [c, r] as const)));
  const again = facts('region-again');

  it('follows a composed question with another about the same region, never naming it, and never revealing a held-out capital', () => {
    const held = makeSplits(7).heldOutTwoHopCities;
    const followUp =
      /the (capital|emblem) of the region containing (\w+) is (?:the )?(\w+)\. the (capital|emblem) of that region is (?:the )?(\w+)\./g;
    let pairs = 0;
    for (const text of again) {
      expect(text.match(/that region/g)?.length ?? 0).toBe([...text.matchAll(followUp)].length);
      for (const [, first, city, , second, answer] of text.matchAll(followUp)) {
        pairs++;
        const region = regionOf.get(city);
        expect(region, city).toBeDefined();
        expect(second).not.toBe(first);
        expect(answer).toBe(second === 'capital' ? region?.capital : EMBLEMS[region?.name ?? '']);
        if (held.has(city)) expect(second).toBe('emblem');
        expect(first === 'capital' && held.has(city)).toBe(false);
      }
    }
    expect(pairs).toBeGreaterThan(100);
    expect(
      again.some((t) =>
        [...t.matchAll(/emblem of the region containing (\w+)/g)].some(([, c]) => held.has(c)),
      ),
    ).toBe(true);
  });
});

describe('region-named two-hop form', () => {
  const regionOf = new Map(REGIONS.flatMap((r) => r.cities.map((c) => [c, r] as const)));
  it("names the region before about half the composed questions' answers, never a held-out city's capital", () => {
    const held = makeSplits(7).heldOutTwoHopCities;
    const statement = /the region containing (\w+) is (\w+), whose (capital|emblem) is (?:the )?(\w+)\./g;
    let namedCount = 0;
    let namedCapitals = 0;
    let bare = 0;
    for (const text of facts('region-named')) {
      for (const [, city, region, what, answer] of text.matchAll(statement)) {
        namedCount++;
        const r = regionOf.get(city);
        expect(region).toBe(r?.name);
        expect(answer).toBe(what === 'capital' ? r?.capital : EMBLEMS[region]);
        if (what === 'capital') {
          namedCapitals++;
          expect(held.has(city)).toBe(false);
        }
      }
      for (const [, city] of text.matchAll(/the capital of the region containing (\w+) is/g)) {
        bare++;
        expect(held.has(city)).toBe(false);
      }
    }
    expect(namedCount).toBeGreaterThan(100);
    expect(Math.abs(namedCapitals / (namedCapitals + bare) - 0.5)).toBeLessThan(0.1);
    expect(facts('region-named').join(' ')).toMatch(/whose emblem/);
  });
});

describe('cross-language multilingual form', () => {
  const splits = makeSplits(7);
  const docs = (multilingual?: MultilingualForm) =>
    sampleDocuments(3_000, 7, 7, { rhyme: 'standard', addition: 'standard', multilingual });
  const cross = docs('cross-language');
  const text = cross.map((d) => d.text).join('\n');
  /** Every cross-language prompt with its one right answer, and the languages its pair must not be held out of. */
  const prompts = LANGUAGES.flatMap((frame) =>
    LANGUAGES.filter((other) => other !== frame).flatMap((other) =>
      ANTONYMS.flatMap((pair, index) =>
        [0, 1].flatMap((side) => [
          {
            kind: 'translated',
            index,
            langs: [frame, other],
            prompt: translatedAntonymPrompt(frame, other, pair[frame][side]),
            answer: crossAntonymAnswer(frame, other, pair[other][1 - side]),
          },
          {
            kind: 'foreign',
            index,
            langs: [frame, other],
            prompt: foreignAntonymPrompt(frame, other, pair[other][side]),
            answer: crossAntonymAnswer(frame, frame, pair[frame][1 - side]),
          },
        ]),
      ),
    ),
  );

  /** Where `prompt` opens a sentence ("the opposite of long is" also ends "the French word for …"). */
  function* sentenceStarts(text: string, prompt: string): Generator<number> {
    for (let at = text.indexOf(prompt); at >= 0; at = text.indexOf(prompt, at + 1))
      if (at === 0 || /[.。\n] ?$/.test(text.slice(Math.max(0, at - 2), at))) yield at;
  }

  it('writes both kinds in every direction, always with the right answer, in the default vocabulary', () => {
    const seen = new Map<string, number>();
    for (const p of prompts) {
      for (const at of sentenceStarts(text, p.prompt)) {
        expect(text.slice(at + p.prompt.length).startsWith(p.answer)).toBe(true);
        const key = `${p.kind}:${p.langs.join('>')}`;
        seen.set(key, (seen.get(key) ?? 0) + 1);
      }
    }
    expect(seen.size).toBe(12);
    for (const n of seen.values()) expect(n).toBeGreaterThan(5);
    const vocab = new Set(buildVocab(7));
    for (const d of cross) for (const w of preTokenize(d.text)) expect(vocab.has(w)).toBe(true);
  });

  it('keeps every held-out pair out of statements in its held-out language', () => {
    const heldOut = (p: (typeof prompts)[number]) =>
      p.langs.some((l) => splits.heldOutAntonyms[l].has(p.index));
    // A word spelled alike in two languages ("long") makes some held-out prompts also allowed ones.
    const allowed = new Set([
      ...prompts.filter((p) => !heldOut(p)).map((p) => p.prompt),
      ...LANGUAGES.flatMap((l) =>
        ANTONYMS.flatMap((pair, i) =>
          splits.heldOutAntonyms[l].has(i) ? [] : pair[l].map((w) => antonymPrompt(l, w)),
        ),
      ),
    ]);
    const leaks = prompts.filter((p) => heldOut(p) && !allowed.has(p.prompt) && text.includes(p.prompt));
    expect(leaks).toEqual([]);
    for (const lang of LANGUAGES)
      for (const i of splits.heldOutAntonyms[lang])
        for (const w of ANTONYMS[i][lang]) expect(text.includes(antonymPrompt(lang, w))).toBe(false);
  });

  it('leaves the default form as it was and rejects an unknown form', () => {
    expect(docs('standard')).toEqual(docs());
    expect(docs().some((d) => d.text.includes('word for the opposite'))).toBe(false);
    expect(() =>
      sampleDocuments(1, 1, 1, {
        rhyme: 'standard',
        addition: 'standard',
        multilingual: 'pivot' as MultilingualForm,
      }),
    ).toThrow(/unknown multilingual form/);
  });
});

describe('mixed-names entity form', () => {
  const splits = makeSplits(7);
  const knownSport = new Map(KNOWN_PEOPLE.map((p) => [`${p.first} ${p.last}`, p.sport]));
  const knownFirst = new Set(KNOWN_PEOPLE.map((p) => p.first));
  const knownLast = new Set(KNOWN_PEOPLE.map((p) => p.last));
  const answers = (entities?: EntityForm) =>
    sampleDocuments(6_000, 7, 7, { rhyme: 'standard', addition: 'standard', entities })
      .filter((d) => d.family === 'entity')
      .flatMap((d) => [...d.text.matchAll(/which sport does (\w+) (\w+) play\? ([^.]+)\./g)])
      .map(([, first, last, answer]) => ({ first, last, name: `${first} ${last}`, answer }));

  it('refuses every name but a known person, builds unknown people from known parts, and keeps the test names out', () => {
    const qs = answers('mixed-names');
    const heldOut = new Set([...splits.heldOutUnknownNames, ...partlyFamiliarNames()]);
    for (const q of qs) {
      expect(q.answer).toBe(knownSport.get(q.name) ?? IDK);
      expect(heldOut.has(q.name)).toBe(false);
    }
    const refused = qs.filter((q) => q.answer === IDK);
    expect(qs.length).toBeGreaterThan(300);
    expect(refused.length / qs.length).toBeGreaterThan(0.6);
    const kinds = (f: boolean, l: boolean) =>
      refused.filter((q) => knownFirst.has(q.first) === f && knownLast.has(q.last) === l).length;
    for (const [f, l] of [
      [false, false],
      [true, false],
      [false, true],
      [true, true],
    ])
      expect(kinds(f, l)).toBeGreaterThan(refused.length / 8);
  });

  it('leaves the default form as it was and rejects an unknown form', () => {
    expect(answers('standard')).toEqual(answers());
    for (const q of answers().filter((q) => q.answer === IDK)) expect(knownFirst.has(q.first)).toBe(false);
    expect(() =>
      sampleDocuments(1, 1, 1, { rhyme: 'standard', addition: 'standard', entities: 'famous' as EntityForm }),
    ).toThrow(/unknown entity form/);
  });
});

describe('familiarity entity form', () => {
  const known = new Set(KNOWN_PEOPLE.map((p) => `${p.first} ${p.last}`));
  const curriculum = { rhyme: 'standard', addition: 'standard', entities: 'familiarity' } as const;
  const entityText = (entities: EntityForm) =>
    sampleDocuments(6_000, 7, 7, { ...curriculum, entities })
      .filter((d) => d.family === 'entity')
      .map((d) => d.text)
      .join(' ');

  it('asks about half the questions as "have you heard of", answered yes exactly for known people', () => {
    const text = entityText('familiarity');
    const heard = [...text.matchAll(/have you heard of (\w+ \w+)\? (\w+)\./g)];
    const sport = [...text.matchAll(/which sport does \w+ \w+ play\?/g)];
    expect(heard.length).toBeGreaterThan(200);
    expect(heard.length / (heard.length + sport.length)).toBeGreaterThan(0.4);
    expect(heard.length / (heard.length + sport.length)).toBeLessThan(0.6);
    for (const [, name, answer] of heard) expect(answer).toBe(known.has(name) ? 'yes' : 'no');
    expect(text).toContain(familiarityPrompt('Tiger Woods'));
    for (const name of partlyFamiliarNames()) expect(text).not.toContain(` ${name}?`);
  });

  it('adds its words to the vocabulary, and a form that writes no new word keeps the default one', () => {
    const base = buildVocab(7, 3_000);
    const withForm = buildVocab(7, 3_000, curriculum);
    expect(base).not.toContain('yes');
    for (const w of ['have', 'you', 'yes', 'no']) expect(withForm).toContain(w);
    expect(buildVocab(7, 3_000, { ...curriculum, entities: 'mixed-names' })).toEqual(base);
  });
});

describe('held-out splits never leak into training', () => {
  const splits = makeSplits(11);
  const text = SAMPLE.map((d) => d.text).join('\n');

  it('unseen addition pairs', () => {
    expect(splits.heldOutAdditionPairs.size).toBeGreaterThan(300);
    let checked = 0;
    for (const m of text.matchAll(/(?<![0-9])([0-9]+)\+([0-9]+)=/g)) {
      expect(splits.heldOutAdditionPairs.has(additionKey(Number(m[1]), Number(m[2])))).toBe(false);
      checked++;
    }
    expect(checked).toBeGreaterThan(20_000);
  });

  it('antonym pairs held out of one language stay out of it, but appear in the others', () => {
    for (const lang of LANGUAGES) {
      expect(splits.heldOutAntonyms[lang].size).toBeGreaterThan(0);
      for (const i of splits.heldOutAntonyms[lang]) {
        for (const w of ANTONYMS[i][lang]) expect(text.includes(antonymPrompt(lang, w))).toBe(false);
        const other = LANGUAGES.find((l) => l !== lang)!;
        expect(text.includes(antonymPrompt(other, ANTONYMS[i][other][0]))).toBe(true);
      }
    }
  });

  it('held-out two-hop compositions are absent while their single-hop facts are present', () => {
    for (const city of splits.heldOutTwoHopCities) {
      expect(text.includes(`${twoHopPrompt(city)} `)).toBe(false);
      expect(text.includes(`${regionPrompt(city)} `)).toBe(true);
      expect(text.includes(`${emblemTwoHopPrompt(city)} `)).toBe(true);
    }
  });

  it('held-out unknown names and couplet first lines are absent', () => {
    for (const name of splits.heldOutUnknownNames) expect(text.includes(`${name} `)).toBe(false);
    for (const item of evalSets(11).entity.filter((i) => i.subtask !== 'known')) {
      expect(text.includes(item.prompt)).toBe(false);
    }
    for (const item of evalSets(11).rhyme) expect(text.includes(item.prompt)).toBe(false);
  });
});

describe('eval sets', () => {
  const sets = evalSets(11);
  it('hold the items the acceptance criteria need', () => {
    expect(sets.addition.length).toBeGreaterThan(500);
    for (const item of sets.addition) {
      const [a, b] = item.prompt.slice(0, -1).split('+').map(Number);
      expect(item.expected).toEqual([String(a + b)]);
    }
    const sub = (task: keyof typeof sets, s: string) => sets[task].filter((i) => i.subtask === s).length;
    expect(sub('antonym', 'seen')).toBeGreaterThan(200);
    expect(sub('antonym', 'held-out-in-language')).toBe(36);
    expect(sub('facts', 'two-hop-held-out')).toBe(REGIONS.length);
    expect(sub('entity', 'known')).toBe(KNOWN_PEOPLE.length);
    expect(sets.entity.filter((i) => i.subtask === 'unknown').every((i) => i.expected[0] === ` ${IDK}`)).toBe(
      true,
    );
    expect(sets.rhyme.length).toBeGreaterThan(100);
  });
  it('are deterministic', () => {
    expect(evalSets(11)).toEqual(sets);
  });
});
