/**
 * What the lab sends and reads back: the targets a user picked turned into the intervention request the CLI,
 * the worker and the browser all accept, and zod schemas for reports and saved experiments coming off the
 * network.
 */
import { INTERVENTION_MODES, type InterventionMode } from '@loupe/core';
import { z } from 'zod';

const member = z.object({
  layer: z.number().int().min(0),
  pos: z.number().int().min(0),
  feature: z.number().int().min(0),
});
export type Member = z.infer<typeof member>;

/** A feature node or a supernode's feature members, as picked in the lab. */
export const target = z.object({ label: z.string(), members: z.array(member).min(1) });
export type Target = z.infer<typeof target>;

/** Scale to factor × the clean activation, or set to an absolute value. */
export const change = z.object({ op: z.enum(['scale', 'set']), amount: z.number().finite() });
export type Change = z.infer<typeof change>;

const mode = z.enum(INTERVENTION_MODES as [InterventionMode, ...InterventionMode[]]);

export const runner = z.enum(['worker', 'browser']);
export type Runner = z.infer<typeof runner>;

/** The request as sent (and as `pnpm loupe intervene` takes it), so a saved experiment reruns exactly. */
const request = z.object({
  set: z.array(z.string()),
  scale: z.array(z.object({ group: z.unknown(), factor: z.number() })),
  mode,
  compare: z.boolean(),
  generate: z.number().int().min(1).optional(),
  topK: z.number().int().min(1).max(100),
});

/** An experiment's saved spec: what was picked, how it ran, and the exact request. */
export const experimentSpec = z.object({
  targets: z.array(target),
  change,
  /** The modes shown side by side (one or two); a second mode runs all three. */
  modes: z.array(mode).min(1).max(2),
  runner,
  prompt: z.string(),
  request,
});
export type ExperimentSpec = z.infer<typeof experimentSpec>;

const topToken = z.object({
  id: z.number(),
  token: z.string().optional(),
  logit: z.number(),
  prob: z.number(),
});
const logitDiff = z.object({
  id: z.number(),
  token: z.string().optional(),
  clean: z.number(),
  intervened: z.number(),
});
/** A token of either top-k list with both sides (reports written before this field have none). */
const unionToken = z.object({
  id: z.number(),
  token: z.string().optional(),
  clean: z.number(),
  intervened: z.number(),
  cleanProb: z.number(),
  intervenedProb: z.number(),
});
const continuation = z.object({ tokens: z.array(z.number()), text: z.string().optional() });

/** The parts of a run report the lab shows (the rest is kept as it came). */
export const runReport = z.looseObject({
  runs: z
    .array(
      z.looseObject({
        mode,
        applied: z.array(
          z.looseObject({
            layer: z.number(),
            pos: z.number(),
            feature: z.number(),
            value: z.number(),
            current: z.number(),
          }),
        ),
        positions: z
          .array(
            z.looseObject({
              pos: z.number(),
              clean: z.array(topToken),
              intervened: z.array(topToken),
              diffs: z.array(logitDiff),
              union: z.array(unionToken).optional(),
              kl: z.number(),
            }),
          )
          .min(1),
      }),
    )
    .min(1),
  generation: z.looseObject({ mode, clean: continuation, intervened: continuation }).optional(),
});
export type RunReport = z.infer<typeof runReport>;

/** The members a change reaches, deduplicated: a node picked alone and inside a supernode is changed once. */
function members(targets: readonly Target[]): Member[] {
  const seen = new Map<string, Member>();
  for (const t of targets) for (const m of t.members) seen.set(`${m.layer}:${m.pos}:${m.feature}`, m);
  return [...seen.values()];
}

/** The request for `targets` changed by `c`: sets become `L:P:F=V` strings, scales one inline group. */
export function buildRequest(
  targets: readonly Target[],
  c: Change,
  modes: readonly InterventionMode[],
  generate: number,
  topK: number,
): ExperimentSpec['request'] {
  const all = members(targets);
  return {
    set: c.op === 'set' ? all.map((m) => `${m.layer}:${m.pos}:${m.feature}=${c.amount}`) : [],
    scale: c.op === 'scale' ? [{ group: { label: 'lab', members: all }, factor: c.amount }] : [],
    mode: modes[0],
    compare: modes.length > 1,
    ...(generate > 0 ? { generate } : {}),
    topK,
  };
}

/** A short name for an experiment: what was changed, how, in which mode(s), and where it ran. */
export function experimentName(
  targets: readonly Target[],
  c: Change,
  modes: readonly InterventionMode[],
  where: Runner,
): string {
  const what = targets.map((t) => t.label).join(', ');
  const how = c.op === 'scale' ? `×${c.amount}` : `= ${c.amount}`;
  return `${what} ${how} (${modes.join(' vs ')}, ${where})`.slice(0, 300);
}

type Position = RunReport['runs'][number]['positions'][number];

/** A token's probability before and after; a side is missing only in reports without the union. */
export interface ProbabilityRow {
  id: number;
  token?: string;
  before?: number;
  after?: number;
}

/**
 * One row per token of either top-k list, clean top-k order first: from the union when the report has it,
 * else (experiments saved before it) from the two lists, where a token outside one list has no bar there.
 */
export function probabilityRows(p: Position): ProbabilityRow[] {
  if (p.union) {
    return p.union.map((t) => ({
      id: t.id,
      ...(t.token === undefined ? {} : { token: t.token }),
      before: t.cleanProb,
      after: t.intervenedProb,
    }));
  }
  const rows = new Map<number, ProbabilityRow>();
  for (const t of [...p.clean, ...p.intervened])
    if (!rows.has(t.id)) rows.set(t.id, { id: t.id, ...(t.token === undefined ? {} : { token: t.token }) });
  for (const t of p.clean) (rows.get(t.id) as ProbabilityRow).before = t.prob;
  for (const t of p.intervened) (rows.get(t.id) as ProbabilityRow).after = t.prob;
  return [...rows.values()];
}

/** The logit of `id` before and after, when the report holds both (top-k union, lists or largest changes). */
export function logitsOf(p: Position, id: number): { before: number; after: number } | null {
  const u = p.union?.find((x) => x.id === id);
  if (u) return { before: u.clean, after: u.intervened };
  const d = p.diffs.find((x) => x.id === id);
  if (d) return { before: d.clean, after: d.intervened };
  const before = p.clean.find((x) => x.id === id)?.logit;
  const after = p.intervened.find((x) => x.id === id)?.logit;
  return before === undefined || after === undefined ? null : { before, after };
}
