/**
 * `pnpm case-study <name>|all [--update]`: builds each investigation from scratch on the shipped organisms,
 * judges its claims, and compares the outcome with the committed results its doc states. Any verdict that
 * flips, or value that drifts beyond tolerance, in either direction, exits 1. `--update` instead rewrites the
 * committed results, the doc's generated section, the README summary and the pictures. `export` writes the
 * committed results as the workspace's seeded Examples. `--organism-dir DIR` measures a retrained variant
 * in place of a shipped organism, without comparing or writing anything committed (see parseArgs).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ShippedOrganism } from '@loupe/organism/node';
import {
  type CaseResult,
  type Measurement,
  parseCaseResult,
  regressions,
  type SettingResult,
} from './claims.ts';
import type { CaseStudy } from './case.ts';
import { CASES } from './cases/index.ts';
import { currentResults, resultsMarkdown, spliceResults, summaryMarkdown, verdictCell } from './report.ts';
import { type ExampleSeed, exportCase, seedOf } from './seed-export.ts';
import { loadSubject, releaseSubject } from './subject.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const RESULTS = path.resolve(import.meta.dirname, '../results');
const DOCS = path.join(ROOT, 'docs/case-studies');
/** The seed the web server loads into the read-only Examples team at startup. */
const SEED = path.join(ROOT, 'packages/api/seed/examples.json');

/** Another checkpoint (with its own dictionaries) measured in place of one shipped organism. */
interface StandIn {
  dir: string;
  organism: ShippedOrganism;
}

async function runCase(
  c: CaseStudy,
  standIn?: StandIn,
): Promise<{ result: CaseResult; pictures: Map<string, string> }> {
  const settings: SettingResult[] = [];
  const pictures = new Map<string, string>();
  const chosen = standIn ? c.settings.filter(([o]) => o === standIn.organism) : c.settings;
  for (const [organism, kind] of chosen) {
    const t0 = performance.now();
    const s = await loadSubject(organism, kind, standIn?.dir);
    try {
      const m = await c.measure(s, (line) => console.log(`  [${c.name} ${s.name}] ${line}`));
      settings.push({ setting: s.name, measurements: m.measurements, tables: m.tables });
      if (m.svg && !standIn) pictures.set(`${c.name}-${organism}-${kind}.svg`, m.svg);
    } finally {
      await releaseSubject(s);
    }
    console.log(`  [${c.name} ${s.name}] ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  const bySetting = new Map<string, Record<string, Measurement>>(
    settings.map((s) => [s.setting, s.measurements]),
  );
  const across = standIn ? undefined : c.across?.(bySetting);
  return { result: { name: c.name, claims: c.claims, settings, ...(across ? { across } : {}) }, pictures };
}

async function readJson(file: string): Promise<CaseResult | undefined> {
  try {
    return parseCaseResult(await readFile(file, 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** `export [--fresh]`: every case's committed result as the workspace's seeded Examples (see seed-export.ts). */
async function exportSeed(fresh: boolean): Promise<number> {
  const before = await readFile(SEED, 'utf8').then(
    (text) => JSON.parse(text) as ExampleSeed,
    (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return undefined;
      throw e;
    },
  );
  const examples = [];
  for (const c of CASES) {
    const committed = await readJson(path.join(RESULTS, `${c.name}.json`));
    if (!committed) {
      console.error(`${c.name}: no committed results (run \`pnpm case-study ${c.name} --update\` first)`);
      return 1;
    }
    const previous = before?.investigations.find((ex) => ex.key === c.name);
    examples.push(await exportCase(c, committed, previous, fresh));
  }
  const seed = seedOf(examples);
  await mkdir(path.dirname(SEED), { recursive: true });
  await writeFile(SEED, `${JSON.stringify(seed, null, 1)}\n`);
  console.log(`${examples.length} examples, revision ${seed.revision}: ${path.relative(ROOT, SEED)}`);
  return 0;
}

/**
 * The arguments: one case name (or all / export) and the flags. `--organism-dir DIR` measures the checkpoint
 * in DIR (with its own `dictionaries/`) in place of `--as` (default organism-s), prints its results and
 * writes them to `--out FILE` if given; it never compares with or rewrites the committed results.
 */
interface Args {
  names: string[];
  update: boolean;
  fresh: boolean;
  standIn?: StandIn;
  out?: string;
}

function parseArgs(argv: readonly string[]): Args | string {
  const a: Args = { names: [], update: false, fresh: false };
  let dir: string | undefined;
  let as: string = 'organism-s';
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--update') a.update = true;
    else if (arg === '--fresh') a.fresh = true;
    else if (arg === '--organism-dir' || arg === '--as' || arg === '--out') {
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) return `${arg} needs a value`;
      if (arg === '--organism-dir') dir = path.resolve(v);
      else if (arg === '--as') as = v;
      else a.out = path.resolve(v);
    } else if (arg.startsWith('--')) return `unknown option ${arg}`;
    else a.names.push(arg);
  }
  if (as !== 'organism-s' && as !== 'organism-m') return `--as must be organism-s or organism-m, got ${as}`;
  if (dir) a.standIn = { dir, organism: as };
  if (a.standIn && a.update) return '--organism-dir cannot be combined with --update';
  if (a.out && !a.standIn) return '--out needs --organism-dir';
  return a;
}

async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  const usage = () => {
    console.error(`usage: pnpm case-study <${CASES.map((c) => c.name).join('|')}|all> [--update]`);
    console.error(
      '       pnpm case-study <name>|all --organism-dir DIR [--as organism-s|organism-m] [--out FILE]',
    );
    console.error('       pnpm case-study export [--fresh]');
  };
  if (typeof args === 'string') {
    console.error(args);
    usage();
    return 2;
  }
  const { names, update } = args;
  if (names.length === 1 && names[0] === 'export') return exportSeed(args.fresh);
  if (names.length !== 1) {
    usage();
    return 2;
  }
  const chosen = names[0] === 'all' ? CASES : CASES.filter((c) => c.name === names[0]);
  if (chosen.length === 0) {
    console.error(`unknown case study '${names[0]}': one of ${CASES.map((c) => c.name).join(', ')} or all`);
    return 2;
  }
  if (args.standIn) return standInRun(chosen, args.standIn, args.out);
  const t0 = performance.now();
  const problems: string[] = [];
  for (const c of chosen) {
    console.log(`${c.name}: ${c.title}`);
    const { result, pictures } = await runCase(c);
    for (const s of result.settings) {
      for (const claim of c.claims) {
        const m = s.measurements[claim.id];
        if (m)
          console.log(
            `  ${s.setting} ${claim.id}: ${m.value.toFixed(3)}${m.baseline === undefined ? '' : ` (baseline ${m.baseline.toFixed(3)})`} n=${m.n}`,
          );
      }
    }
    for (const [id, m] of Object.entries(result.across ?? {}))
      console.log(`  across ${id}: ${m.value.toFixed(3)}`);
    const jsonFile = path.join(RESULTS, `${c.name}.json`);
    const docFile = path.join(DOCS, `${c.name}.md`);
    if (update) {
      await mkdir(RESULTS, { recursive: true });
      await mkdir(path.join(DOCS, 'img'), { recursive: true });
      await writeFile(jsonFile, `${JSON.stringify(result, null, 1)}\n`);
      for (const [file, svg] of pictures) await writeFile(path.join(DOCS, 'img', file), svg);
      const doc = await readFile(docFile, 'utf8');
      await writeFile(docFile, spliceResults(doc, resultsMarkdown(result), docFile));
      continue;
    }
    const committed = await readJson(jsonFile);
    if (!committed) {
      problems.push(`${c.name}: no committed results in ${jsonFile} (run with --update)`);
      continue;
    }
    problems.push(...regressions(result, committed).map((p) => `${c.name}: ${p}`));
    const doc = await readFile(docFile, 'utf8').catch(() => '');
    if (currentResults(doc) !== resultsMarkdown(committed))
      problems.push(`${c.name}: ${docFile} does not state the committed results (run with --update)`);
  }
  if (update) {
    const all = (await Promise.all(CASES.map((c) => readJson(path.join(RESULTS, `${c.name}.json`))))).filter(
      (r): r is CaseResult => r !== undefined,
    );
    const readme = path.join(DOCS, 'README.md');
    await writeFile(readme, spliceResults(await readFile(readme, 'utf8'), summaryMarkdown(all), readme));
  }
  console.log(
    `${chosen.length} case stud${chosen.length === 1 ? 'y' : 'ies'} in ${((performance.now() - t0) / 1000).toFixed(0)} s`,
  );
  for (const p of problems) console.error(`REGRESSION ${p}`);
  if (problems.length > 0) return 1;
  console.log(update ? 'results, docs and pictures updated' : 'every result matches its doc');
  return 0;
}

/** Measures the stand-in and reports its results; the committed results and docs are left as they are. */
async function standInRun(chosen: readonly CaseStudy[], standIn: StandIn, out?: string): Promise<number> {
  const t0 = performance.now();
  const blocks: string[] = [];
  for (const c of chosen) {
    console.log(`${c.name}: ${c.title} (${standIn.dir} in place of ${standIn.organism})`);
    const { result } = await runCase(c, standIn);
    for (const s of result.settings)
      for (const claim of c.claims) {
        const m = s.measurements[claim.id];
        if (m) console.log(`  ${s.setting} ${claim.id}: ${verdictCell(claim, m)}`);
      }
    blocks.push(`## ${c.name}`, '', resultsMarkdown(result), '');
  }
  if (out) {
    await writeFile(out, blocks.join('\n'));
    console.log(`results: ${out}`);
  }
  console.log(
    `${chosen.length} case stud${chosen.length === 1 ? 'y' : 'ies'} in ${((performance.now() - t0) / 1000).toFixed(0)} s`,
  );
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
