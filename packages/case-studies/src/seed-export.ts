/**
 * `pnpm case-study export [--fresh]`: the committed results as the workspace's seeded Examples, one read-only
 * investigation per case study on the graph setting: its graph prompt, the supernodes the study built by
 * query (members as feature keys, so a retrace finds them again), their feature labels, the claims with every
 * setting's verdict and numbers as notes, and the intervention tables as experiments. The graph record comes
 * from the committed results; where they predate it, from the seed written before (the same shipped
 * dictionaries give the same record), else from a run of that one setting; --fresh always runs it.
 */
import { createHash } from 'node:crypto';
import type { CaseStudy } from './case.ts';
import { type CaseResult, fmt, type GraphRecord, type Table } from './claims.ts';
import { verdictCell } from './report.ts';
import { loadSubject, releaseSubject } from './subject.ts';

/** The seed format the API reads; a change of shape bumps it. */
export const SEED_SCHEMA_VERSION = 1;
/** The setting whose graph each example opens with: the larger organism and its per-layer transcoder. */
export const GRAPH_SETTING = { organism: 'organism-m', kind: 'plt' } as const;

export interface FeatureKey {
  layer: number;
  pos: number;
  feature: number;
}

export interface ExampleInvestigation {
  /** The case study's name: the example's identity across seed revisions. */
  key: string;
  title: string;
  /** Catalogue keys of the instance model and dictionary the graph is traced with. */
  model: string;
  dictionary: string;
  prompt: string;
  supernodes: { id: string; name: string; members: FeatureKey[] }[];
  featureLabels: { layer: number; feature: number; label: string }[];
  notes: string;
  experiments: { name: string; spec: Record<string, unknown>; result: Record<string, unknown> }[];
}

export interface ExampleSeed {
  schemaVersion: number;
  /** A digest of everything below: a start with another revision replaces the examples. */
  revision: string;
  team: string;
  investigations: ExampleInvestigation[];
}

const graphSetting = `${GRAPH_SETTING.organism}/${GRAPH_SETTING.kind}`;
/** The tables that report interventions (ablations, patches, swaps) and their rates, in every case's words. */
const interventionTable = /^(Interventions|Ablations|Concept patches)\b/;

function parseKey(key: string): FeatureKey {
  const [layer, pos, feature] = key.split(':').map(Number);
  if (![layer, pos, feature].every(Number.isInteger))
    throw new Error(`'${key}' is not a layer:pos:feature key`);
  return { layer, pos, feature };
}

/** The graph record a setting's tables carry (the first-pass table's), if any. */
export function graphRecordOf(tables: readonly Table[]): GraphRecord | undefined {
  return tables.find((t) => t.graph !== undefined)?.graph;
}

function notesOf(title: string, r: CaseResult, graph: GraphRecord): string {
  const lines = [`# ${title}`, '', `Rebuilt by \`pnpm case-study ${r.name}\`; every verdict as found.`, ''];
  for (const c of r.claims) {
    lines.push(
      `## ${c.id}: ${c.statement}`,
      '',
      `Metric: ${c.metric}.`,
      `Criterion: ${c.op} ${c.threshold}.`,
      '',
    );
    const across = r.across?.[c.id];
    if (across) lines.push(`- across organisms: ${verdictCell(c, across)}`);
    else for (const s of r.settings) lines.push(`- ${s.setting}: ${verdictCell(c, s.measurements[c.id])}`);
    lines.push('');
  }
  lines.push(
    `## Supernodes on ${graphSetting}`,
    '',
    `Graph of ${JSON.stringify(graph.prompt)}, built by query:`,
  );
  for (const g of graph.supernodes) lines.push(`- ${g.label}: ${g.members.length} features`);
  lines.push('', `The full write-up: docs/case-studies/${r.name}.md.`);
  return lines.join('\n');
}

function experimentsOf(r: CaseResult): ExampleInvestigation['experiments'] {
  return r.settings.flatMap((s) =>
    s.tables
      .filter((t) => interventionTable.test(t.title))
      .map((t) => ({
        name: `${s.setting}: ${t.title}`.slice(0, 300),
        spec: { source: 'case-study', case: r.name, setting: s.setting, table: t.title, header: t.header },
        // Numbers as the report prints them, so NaN (no trials) stays readable as "n/a".
        result: { rows: t.rows.map((row) => row.map((c) => (typeof c === 'number' ? fmt(c) : c))) },
      })),
  );
}

/** One example from a case's committed result and the graph record of its graph setting. */
export function exampleOf(title: string, r: CaseResult, graph: GraphRecord): ExampleInvestigation {
  const labels = new Map<string, { layer: number; feature: number; label: string }>();
  const supernodes = graph.supernodes.map((g, i) => {
    const members = g.members.map(parseKey);
    for (const m of members) {
      const k = `${m.layer}:${m.feature}`;
      const seen = labels.get(k);
      // A feature in two supernodes carries both names.
      labels.set(k, {
        layer: m.layer,
        feature: m.feature,
        label: seen ? `${seen.label} / ${g.label}` : g.label,
      });
    }
    return { id: `${r.name}-${i + 1}`, name: g.label, members };
  });
  return {
    key: r.name,
    title: `${r.name[0].toUpperCase()}${r.name.slice(1)}: ${title} (${graphSetting})`,
    model: GRAPH_SETTING.organism,
    dictionary: graphSetting,
    prompt: graph.prompt,
    supernodes,
    featureLabels: [...labels.values()].sort((a, b) => a.layer - b.layer || a.feature - b.feature),
    notes: notesOf(title, r, graph),
    experiments: experimentsOf(r),
  };
}

export function seedOf(investigations: ExampleInvestigation[]): ExampleSeed {
  const body = { schemaVersion: SEED_SCHEMA_VERSION, team: 'Examples', investigations };
  const revision = createHash('sha256').update(JSON.stringify(body)).digest('hex').slice(0, 16);
  return { schemaVersion: body.schemaVersion, revision, team: body.team, investigations };
}

/** The graph setting's graph record, from a fresh run of that one setting. */
export async function measureGraphRecord(c: CaseStudy): Promise<GraphRecord> {
  const s = await loadSubject(GRAPH_SETTING.organism, GRAPH_SETTING.kind);
  try {
    const m = await c.measure(s, (line) => console.log(`  [${c.name} ${s.name}] ${line}`));
    const graph = graphRecordOf(m.tables);
    if (!graph) throw new Error(`${c.name}: the ${s.name} run traced no graph with supernodes`);
    return graph;
  } finally {
    await releaseSubject(s);
  }
}

/** The graph record an earlier export wrote for an example, back in the results' terms. */
export function graphRecordOfExample(ex: ExampleInvestigation): GraphRecord {
  return {
    prompt: ex.prompt,
    supernodes: ex.supernodes.map((s) => ({
      label: s.name,
      members: s.members.map((m) => `${m.layer}:${m.pos}:${m.feature}`).sort(),
    })),
  };
}

/**
 * The example of case `c` from its committed result; its graph record from there, else from `previous` (the
 * example the last export wrote, when it was on the same dictionary), else from a fresh run.
 */
export async function exportCase(
  c: CaseStudy,
  committed: CaseResult,
  previous: ExampleInvestigation | undefined,
  fresh: boolean,
): Promise<ExampleInvestigation> {
  const stored = committed.settings.find((s) => s.setting === graphSetting);
  if (!stored) throw new Error(`${c.name}: the committed results have no ${graphSetting} setting`);
  const earlier = previous?.dictionary === graphSetting ? graphRecordOfExample(previous) : undefined;
  const graph = fresh
    ? await measureGraphRecord(c)
    : (graphRecordOf(stored.tables) ?? earlier ?? (await measureGraphRecord(c)));
  return exampleOf(c.title, committed, graph);
}
