/**
 * Claims as data: each is written down, with its metric, threshold and baseline, before the run that judges
 * it, and the verdict is a plain comparison of the measured value with the threshold.
 */
import { rate } from './stats.ts';

export interface Claim {
  id: string;
  /** The published mechanism, in one sentence. */
  statement: string;
  /** What is measured, including the baseline it is compared against. */
  metric: string;
  op: '>=' | '<=';
  threshold: number;
}

export interface Measurement {
  value: number;
  /** The same measure under the baseline condition, where the claim has one. */
  baseline?: number;
  /** Trials behind the value (prompts, pairs, couplets). */
  n: number;
}

/** A rate over trials against the same rate under a baseline intervention on the same trials: the value is the excess. */
export function excessRate(trials: readonly boolean[], baseline: readonly boolean[]): Measurement {
  return { value: rate(trials) - rate(baseline), baseline: rate(baseline), n: trials.length };
}

export interface Table {
  title: string;
  header: string[];
  rows: (string | number)[][];
  /** The traced graph a table is about, with its supernodes, for the workspace's seeded Examples. */
  graph?: GraphRecord;
}

/** A graph's prompt and the supernodes a study built on it, members as `layer:pos:feature` keys. */
export interface GraphRecord {
  prompt: string;
  supernodes: { label: string; members: string[] }[];
}

/** What one organism and dictionary gave: the claims' measurements and the tables behind them. */
export interface SettingResult {
  setting: string;
  measurements: Record<string, Measurement>;
  tables: Table[];
}

export interface CaseResult {
  name: string;
  claims: Claim[];
  settings: SettingResult[];
  /** Claims that compare settings (the larger organism against the smaller one), measured across them. */
  across?: Record<string, Measurement>;
}

export function supported(claim: Claim, m: Measurement | undefined): boolean {
  if (m === undefined || Number.isNaN(m.value)) return false;
  return claim.op === '>=' ? m.value >= claim.threshold : m.value <= claim.threshold;
}

/** How far a rerun's value may drift from the committed one before it counts as a regression. */
export function withinTolerance(now: number, then: number): boolean {
  if (Number.isNaN(now) || Number.isNaN(then)) return Number.isNaN(now) === Number.isNaN(then);
  return Math.abs(now - then) <= 0.02 + 0.05 * Math.abs(then);
}

/** Every difference between a fresh result and the committed one: verdicts must match, values stay close. */
export function regressions(fresh: CaseResult, committed: CaseResult): string[] {
  const out: string[] = [];
  const check = (
    where: string,
    claim: Claim,
    now: Measurement | undefined,
    then: Measurement | undefined,
  ) => {
    if (now === undefined || then === undefined) {
      if (now !== then) out.push(`${where} ${claim.id}: measured in only one of the runs`);
      return;
    }
    if (supported(claim, now) !== supported(claim, then))
      out.push(
        `${where} ${claim.id}: verdict changed (${fmt(then.value)} → ${fmt(now.value)}, threshold ${claim.op} ${claim.threshold})`,
      );
    else if (!withinTolerance(now.value, then.value))
      out.push(`${where} ${claim.id}: value moved ${fmt(then.value)} → ${fmt(now.value)}`);
    if (
      now.baseline !== undefined &&
      then.baseline !== undefined &&
      !withinTolerance(now.baseline, then.baseline)
    )
      out.push(`${where} ${claim.id}: baseline moved ${fmt(then.baseline)} → ${fmt(now.baseline)}`);
  };
  const claimsThen = JSON.stringify(committed.claims);
  if (JSON.stringify(fresh.claims) !== claimsThen)
    out.push('the claims differ from the committed ones: rerun with --update and revise the doc');
  for (const s of fresh.settings) {
    const t = committed.settings.find((x) => x.setting === s.setting);
    if (!t) {
      out.push(`${s.setting}: not in the committed results`);
      continue;
    }
    for (const c of fresh.claims) check(s.setting, c, s.measurements[c.id], t.measurements[c.id]);
  }
  for (const c of fresh.claims) {
    if (fresh.across?.[c.id] !== undefined || committed.across?.[c.id] !== undefined)
      check('across organisms', c, fresh.across?.[c.id], committed.across?.[c.id]);
  }
  return out;
}

/**
 * Reads a results file. JSON writes NaN (a measure with no trials) as null, which is read back as NaN so that
 * it never passes a threshold.
 */
export function parseCaseResult(text: string): CaseResult {
  return JSON.parse(text, (key, v) =>
    v === null && (key === 'value' || key === 'baseline' || /^\d+$/.test(key)) ? Number.NaN : v,
  );
}

export function fmt(x: number): string {
  if (Number.isNaN(x)) return 'n/a';
  if (Number.isInteger(x)) return String(x);
  return Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(3);
}
