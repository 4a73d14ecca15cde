/**
 * What docs/organism.md shows about the shipped organisms, derived only from the files shipped with them
 * (config.json, training-curve.json, eval.json), so the page and the models cannot drift apart: the loss
 * curves as hand-written SVG and the generated block of tables.
 */
import { type ModelConfig, parseHfConfig } from '@loupe/core';
import { z } from 'zod';
import type { AccuracyRow } from './eval/score.ts';
import { parameterCount, ORGANISM_N_CTX } from './sizes.ts';
import type { CurvePoint } from './train.ts';

const curveSchema = z
  .array(
    z.object({
      step: z.number().int().positive(),
      tokens: z.number().int().nonnegative(),
      lr: z.number(),
      trainLoss: z.number().finite(),
      validationLoss: z.number().finite().optional(),
      seconds: z.number().nonnegative(),
    }),
  )
  .min(1, 'the curve has no points');

const rowsSchema = z
  .array(
    z.object({
      task: z.string(),
      subtask: z.string(),
      language: z.string(),
      n: z.number().int().positive(),
      correct: z.number().int().nonnegative(),
      accuracy: z.number().min(0).max(1),
      goal: z.number().min(0).max(1).optional(),
      hallucinationRate: z.number().min(0).max(1).optional(),
    }),
  )
  .min(1, 'no rows');

function parseWith<T>(schema: z.ZodType<T>, json: unknown, where: string): T {
  const r = schema.safeParse(json);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new Error(`${where}: ${i.path.length > 0 ? `at ${i.path.join('.')}: ` : ''}${i.message}`);
  }
  return r.data;
}

export function parseCurve(json: unknown, where = 'training-curve.json'): CurvePoint[] {
  return parseWith(curveSchema, json, where);
}

export function parseEvalRows(json: unknown, where = 'eval.json'): AccuracyRow[] {
  return parseWith(rowsSchema, json, where);
}

/** One shipped organism as the docs see it. */
export interface ShippedReport {
  name: string;
  config: ModelConfig;
  curve: CurvePoint[];
  rows: AccuracyRow[];
}

export function shippedReport(
  name: string,
  files: { config: unknown; curve: unknown; eval: unknown },
): ShippedReport {
  return {
    name,
    config: parseHfConfig(files.config),
    curve: parseCurve(files.curve, `${name}/training-curve.json`),
    rows: parseEvalRows(files.eval, `${name}/eval.json`),
  };
}

// ---------------------------------------------------------------------------------------------- SVG ---

const escapeXml = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** About `target` evenly spaced round values (1, 2, 2.5 or 5 × 10^k apart) covering [0, max]. */
export function niceTicks(max: number, target = 6): number[] {
  if (!(max > 0)) throw new Error(`niceTicks: max must be positive, got ${max}`);
  const raw = max / target;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * p).find((s) => s >= raw) ?? 10 * p;
  const ticks: number[] = [];
  for (let v = 0; v <= max + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

const LOG_TICKS = [0.5, 0.6, 0.8, 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10, 15, 20];

const fmtNum = (v: number) => (Number.isInteger(v) ? v.toLocaleString('en-US') : String(v));

/**
 * Train and validation loss against step, log-scaled loss axis (the first hundred steps fall from ≈7 to ≈2,
 * the rest of training happens between 2 and 1 and would be a flat line on a linear axis).
 */
export function lossCurveSvg(r: ShippedReport): string {
  const W = 820;
  const H = 480;
  const m = { l: 72, r: 24, t: 56, b: 62 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const pts = r.curve;
  const maxStep = pts[pts.length - 1].step;
  const losses = pts.flatMap((p) =>
    p.validationLoss === undefined ? [p.trainLoss] : [p.trainLoss, p.validationLoss],
  );
  const lo = Math.min(...losses) * 0.92;
  const hi = Math.max(...losses) * 1.08;
  if (!(lo > 0)) throw new Error(`${r.name}: a loss is not positive, the log axis cannot show it`);
  const x = (step: number) => m.l + (pw * step) / maxStep;
  const y = (loss: number) => m.t + (ph * (Math.log(hi) - Math.log(loss))) / (Math.log(hi) - Math.log(lo));
  const f = (v: number) => v.toFixed(1);
  const path = (vals: [number, number][]) =>
    vals.map(([s, l], i) => `${i === 0 ? 'M' : 'L'}${f(x(s))},${f(y(l))}`).join(' ');

  const out: string[] = [];
  const text = (tx: number, ty: number, s: string, attrs = '') =>
    out.push(`<text x="${f(tx)}" y="${f(ty)}"${attrs ? ` ${attrs}` : ''}>${escapeXml(s)}</text>`);
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="13">`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
  );
  const batch = pts[pts.length - 1].tokens / maxStep / ORGANISM_N_CTX;
  text(m.l, 26, `${r.name}: loss during training`, 'font-size="17" font-weight="bold"');
  text(
    m.l,
    44,
    `${r.config.nLayers} layers, d_model ${r.config.dModel}, ${(parameterCount(r.config) / 1e6).toFixed(2)} M parameters; batch ${batch} × ${ORGANISM_N_CTX} tokens`,
    'fill="#555555"',
  );

  out.push('<g stroke="#e4e4e4" stroke-width="1">');
  const xTicks = niceTicks(maxStep);
  const yTicks = LOG_TICKS.filter((v) => v >= lo && v <= hi);
  for (const s of xTicks) out.push(`<line x1="${f(x(s))}" y1="${m.t}" x2="${f(x(s))}" y2="${m.t + ph}"/>`);
  for (const v of yTicks) out.push(`<line x1="${m.l}" y1="${f(y(v))}" x2="${m.l + pw}" y2="${f(y(v))}"/>`);
  out.push('</g>');
  out.push(
    `<g stroke="#333333" stroke-width="1"><line x1="${m.l}" y1="${m.t + ph}" x2="${m.l + pw}" y2="${m.t + ph}"/><line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${m.t + ph}"/>`,
  );
  for (const s of xTicks)
    out.push(`<line x1="${f(x(s))}" y1="${m.t + ph}" x2="${f(x(s))}" y2="${m.t + ph + 5}"/>`);
  for (const v of yTicks) out.push(`<line x1="${m.l - 5}" y1="${f(y(v))}" x2="${m.l}" y2="${f(y(v))}"/>`);
  out.push('</g>');
  for (const s of xTicks) text(x(s), m.t + ph + 20, fmtNum(s), 'text-anchor="middle"');
  for (const v of yTicks) text(m.l - 9, y(v) + 4, fmtNum(v), 'text-anchor="end"');
  text(m.l + pw / 2, H - 16, 'optimizer step', 'text-anchor="middle"');
  text(
    18,
    m.t + ph / 2,
    'cross-entropy (nats / token, log scale)',
    `text-anchor="middle" transform="rotate(-90 18 ${f(m.t + ph / 2)})"`,
  );

  const train = pts.map((p): [number, number] => [p.step, p.trainLoss]);
  const val = pts.flatMap((p): [number, number][] =>
    p.validationLoss === undefined ? [] : [[p.step, p.validationLoss]],
  );
  const colours = { train: '#1f77b4', validation: '#e8590c' };
  out.push(`<path d="${path(train)}" fill="none" stroke="${colours.train}" stroke-width="2"/>`);
  if (val.length > 0)
    out.push(
      `<path d="${path(val)}" fill="none" stroke="${colours.validation}" stroke-width="2" stroke-dasharray="6 3"/>`,
    );

  const last = pts[pts.length - 1];
  const legend: [string, string, string][] = [
    [colours.train, '', `train (mean over each 25 steps), final ${last.trainLoss.toFixed(3)}`],
    ...(last.validationLoss === undefined
      ? []
      : ([
          [
            colours.validation,
            '6 3',
            `validation (fixed unseen batch), final ${last.validationLoss.toFixed(3)}`,
          ],
        ] as [string, string, string][])),
  ];
  const lx = m.l + pw - 370;
  const ly = m.t + 14;
  out.push(
    `<rect x="${lx - 10}" y="${ly - 14}" width="370" height="${legend.length * 22 + 8}" fill="#ffffff" stroke="#cccccc"/>`,
  );
  legend.forEach(([c, dash, label], i) => {
    const yy = ly + i * 22;
    out.push(
      `<line x1="${lx}" y1="${yy}" x2="${lx + 28}" y2="${yy}" stroke="${c}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`,
    );
    text(lx + 36, yy + 4, label);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

// ----------------------------------------------------------------------------------------- Markdown ---

export const GENERATED_BEGIN =
  '<!-- organism:generated begin (written by packages/organism/src/cli/docs.ts) -->';
export const GENERATED_END = '<!-- organism:generated end -->';

const pct = (v: number) => `${(100 * v).toFixed(1)}%`;

function duration(seconds: number): string {
  const min = Math.round(seconds / 60);
  return min < 60 ? `${min} min` : `${Math.floor(min / 60)} h ${min % 60} min`;
}

export function sizesTable(reports: readonly ShippedReport[]): string {
  const lines = [
    '| organism | layers | d_model | heads | d_mlp | vocabulary | parameters | steps | batch (sequences × tokens) | tokens seen | training wall time | final train / validation loss |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of reports) {
    const c = r.config;
    const last = r.curve[r.curve.length - 1];
    const batch = last.tokens / last.step / ORGANISM_N_CTX;
    lines.push(
      `| ${r.name} | ${c.nLayers} | ${c.dModel} | ${c.nHeads} | ${c.dMlp} | ${c.dVocab} | ${(parameterCount(c) / 1e6).toFixed(2)} M | ${last.step.toLocaleString('en-US')} | ${batch} × ${ORGANISM_N_CTX} | ${(last.tokens / 1e6).toFixed(2)} M | ${duration(last.seconds)} | ${last.trainLoss.toFixed(3)} / ${last.validationLoss?.toFixed(3) ?? '–'} |`,
    );
  }
  return lines.join('\n');
}

const rowKey = (r: AccuracyRow) => `${r.task}\t${r.subtask}\t${r.language}`;

/** One row per (task, subtask, language), one column per organism; ✓/✗ against the goal where there is one. */
export function accuracyMarkdown(reports: readonly ShippedReport[]): string {
  const keys: string[] = [];
  const byModel = reports.map((r) => new Map(r.rows.map((row) => [rowKey(row), row])));
  for (const r of reports) for (const row of r.rows) if (!keys.includes(rowKey(row))) keys.push(rowKey(row));
  const lines = [
    `| task | subtask | lang | n | ${reports.map((r) => r.name).join(' | ')} | goal |`,
    `|---|---|---|---|${reports.map(() => '---|').join('')}---|`,
  ];
  for (const key of keys) {
    const rows = byModel.map((m) => m.get(key));
    const first = rows.find((x) => x !== undefined) as AccuracyRow;
    const ns = new Set(rows.flatMap((x) => (x ? [x.n] : [])));
    if (ns.size > 1)
      throw new Error(`${key.replace(/\t/g, '/')}: the organisms were scored on different item counts`);
    const cells = rows.map((row) => {
      if (!row) return '–';
      const mark = row.goal === undefined ? '' : row.accuracy >= row.goal ? ' ✓' : ' ✗';
      const h = row.hallucinationRate === undefined ? '' : ` (hallucination ${pct(row.hallucinationRate)})`;
      return `${pct(row.accuracy)}${mark}${h}`;
    });
    const goal = first.goal === undefined ? 'reported' : `≥ ${Math.round(100 * first.goal)}%`;
    lines.push(
      `| ${first.task} | ${first.subtask} | ${first.language} | ${first.n} | ${cells.join(' | ')} | ${goal} |`,
    );
  }
  return lines.join('\n');
}

/** The generated block of docs/organism.md, markers included. */
export function generatedDocs(reports: readonly ShippedReport[], imageDir = 'img'): string {
  if (reports.length === 0) throw new Error('no shipped organisms to document');
  return [
    GENERATED_BEGIN,
    '',
    sizesTable(reports),
    '',
    ...reports.flatMap((r) => [
      `![${r.name}: train and validation loss against step](${imageDir}/${r.name}-loss.svg)`,
      '',
    ]),
    'Greedy decoding on the eval sets of seed 1 (`pnpm organism:eval --model NAME`); ✓/✗ compare with the goal of',
    'issue #4. For the entity rows the accuracy is the share answered "I don\'t know"; the hallucination rate is the',
    'share answered with a sport instead.',
    '',
    accuracyMarkdown(reports),
    '',
    GENERATED_END,
  ].join('\n');
}

/** The generated block currently in `markdown`, markers included. */
export function extractGenerated(markdown: string): string {
  const a = markdown.indexOf(GENERATED_BEGIN);
  const b = markdown.indexOf(GENERATED_END);
  if (a < 0 || b < a)
    throw new Error('docs/organism.md has no generated block (its begin/end markers are missing)');
  return markdown.slice(a, b + GENERATED_END.length);
}

export function replaceGenerated(markdown: string, block: string): string {
  const current = extractGenerated(markdown);
  return markdown.replace(current, () => block);
}
