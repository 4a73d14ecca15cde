/**
 * Prints real curriculum examples as Markdown (the examples section of docs/organism.md is its output):
 * `pnpm exec tsx packages/organism/src/cli/examples.ts [--seed N]`.
 */
import { type Doc, evalSets, makeSplits, sampleDocuments } from '../curriculum/index.ts';
import { ANTONYMS } from '../curriculum/lexicon.ts';
import { buildTokenizerFiles, buildVocab, loadTokenizer } from '../tokenizer.ts';

function parseSeed(argv: readonly string[]): number {
  const i = argv.indexOf('--seed');
  if (i < 0) return 1;
  const seed = Number(argv[i + 1]);
  if (!Number.isInteger(seed) || seed < 0)
    throw new Error(`--seed must be a non-negative integer, got ${argv[i + 1]}`);
  return seed;
}

const seed = parseSeed(process.argv.slice(2));
const docs = sampleDocuments(2_000, seed);
const out: string[] = [];
const block = (text: string) => out.push('```text', text, '```', '');

const groups = [...new Set(docs.map((d) => `${d.family}/${d.language}`))].sort();
for (const key of groups) {
  const [family, language] = key.split('/');
  const examples = docs.filter((d: Doc) => d.family === family && d.language === language).slice(0, 2);
  out.push(`**${family}** (${language})`, '');
  block(examples.map((d) => d.text).join('\n\n'));
}

const splits = makeSplits(seed);
out.push('**Held out** (seed ' + seed + ')', '');
for (const lang of ['en', 'fr', 'zh'] as const) {
  const pairs = [...splits.heldOutAntonyms[lang]].map((i) => ANTONYMS[i][lang].join('/'));
  out.push(`- antonym pairs held out of ${lang}: ${pairs.join(', ')}`);
}
out.push(`- two-hop cities held out: ${[...splits.heldOutTwoHopCities].join(', ')}`);
out.push(`- unseen addition pairs: ${splits.heldOutAdditionPairs.size} unordered pairs`);
out.push(
  `- unknown names held out: ${splits.heldOutUnknownNames.size}; couplet first lines held out: ${splits.heldOutCouplets.size}`,
);
out.push('');

out.push('**Eval items** (prompt → accepted continuations)', '');
const sets = evalSets(seed, splits);
for (const items of Object.values(sets)) {
  const subtasks = new Set<string>();
  for (const item of items) {
    const key = `${item.subtask}/${item.language}`;
    if (subtasks.has(key)) continue;
    subtasks.add(key);
    const expected = item.expected.map((e) => JSON.stringify(e)).join(' | ');
    out.push(
      `- ${item.task} / ${item.subtask} / ${item.language}: \`${JSON.stringify(item.prompt)}\` → ${expected}`,
    );
  }
}
out.push('');

const tok = loadTokenizer(buildTokenizerFiles(buildVocab(seed)));
const ids = tok.encode('36+59=95');
out.push(
  `**Tokenizer**: ${tok.vocab.length} tokens. \`"36+59=95"\` → ${JSON.stringify(ids)} = ${JSON.stringify(ids.map((i) => tok.vocab[i]))}`,
);
console.log(out.join('\n'));
