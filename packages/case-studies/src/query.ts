/**
 * Finding features by query instead of by id: by contrasting prompt sets, by how well an activation tracks a
 * label, and by influence in an attribution graph. Ids found here change with every retrained dictionary;
 * the queries do not.
 */
import {
  type AttributionGraph,
  activationsAt,
  attribute,
  contrastFeatures,
  type FeatureIntervention,
  type PositionActivations,
  type RankedGraphFeature,
  rankGraphFeatures,
} from '@loupe/core';
import { etaSquared, sampleWithout } from './stats.ts';
import type { Subject } from './subject.ts';

/** A dictionary feature, without a position. */
export interface FeatureRef {
  layer: number;
  feature: number;
}

export const featureKey = (f: FeatureRef) => `${f.layer}:${f.feature}`;

/**
 * Every dictionary layer's activations of each prompt at its own position (negative counts from the end):
 * one [nLayers · dTc] row per prompt.
 */
export async function activationRows(
  s: Subject,
  prompts: readonly Int32Array[],
  positions: readonly number[] | number,
): Promise<PositionActivations> {
  const layers = s.dict.layers.map((l) => l.layer);
  const rows: Float32Array[] = [];
  for (let i = 0; i < prompts.length; i++) {
    const pos = typeof positions === 'number' ? positions : positions[i];
    rows.push(activationsAt(await s.iv.activations(prompts[i], { layers }), pos));
  }
  return { layers, dTc: s.dict.dTc, rows };
}

/** The rows of `acts` whose index passes `keep`. */
export function subsetRows(acts: PositionActivations, keep: (i: number) => boolean): PositionActivations {
  return { ...acts, rows: acts.rows.filter((_, i) => keep(i)) };
}

/**
 * Features more active on set A than on set B: AUC ≥ minAuc, active on at least minActiveA of A's prompts,
 * optionally only in some layers, strongest first, at most `top`.
 */
export function contrastQuery(
  a: PositionActivations,
  b: PositionActivations,
  {
    minAuc,
    minActiveA = 0.5,
    top,
    layers,
  }: { minAuc: number; minActiveA?: number; top: number; layers?: readonly number[] },
): FeatureRef[] {
  return contrastFeatures(a, b, { top: a.layers.length * a.dTc })
    .filter((c) => c.auc >= minAuc && c.meanA > c.meanB && c.activeA >= minActiveA)
    .filter((c) => layers === undefined || layers.includes(c.layer))
    .slice(0, top)
    .map(({ layer, feature }) => ({ layer, feature }));
}

/** For each of `nClasses` classes, contrastQuery of its rows (by `classOf` row index) against all the others. */
export function classContrasts(
  acts: PositionActivations,
  nClasses: number,
  classOf: (row: number) => number,
  query: Parameters<typeof contrastQuery>[2],
): FeatureRef[][] {
  return Array.from({ length: nClasses }, (_, k) =>
    contrastQuery(
      subsetRows(acts, (i) => classOf(i) === k),
      subsetRows(acts, (i) => classOf(i) !== k),
      query,
    ),
  );
}

export interface EtaFeature extends FeatureRef {
  eta2: number;
  /** Fraction of prompts it is active on. */
  active: number;
}

/**
 * Every feature's η² against integer labels over the prompts' rows, for features active on at least
 * `minActive` of them, best first.
 */
export function etaQuery(
  acts: PositionActivations,
  labels: readonly number[],
  { minActive }: { minActive: number },
): EtaFeature[] {
  const out: EtaFeature[] = [];
  const n = acts.rows.length;
  const col = new Float32Array(n);
  for (let l = 0; l < acts.layers.length; l++) {
    for (let f = 0; f < acts.dTc; f++) {
      let active = 0;
      for (let i = 0; i < n; i++) {
        col[i] = acts.rows[i][l * acts.dTc + f];
        if (col[i] !== 0) active++;
      }
      if (active < minActive * n) continue;
      out.push({ layer: acts.layers[l], feature: f, eta2: etaSquared(col, labels), active: active / n });
    }
  }
  return out.sort((x, y) => y.eta2 - x.eta2);
}

/** The activation of a feature in a row of `acts`. */
export function valueIn(acts: PositionActivations, row: number, f: FeatureRef): number {
  return acts.rows[row][acts.layers.indexOf(f.layer) * acts.dTc + f.feature];
}

/** Mean activation of each feature over the rows (inactive rows count as 0). */
export function meanValues(acts: PositionActivations, fs: readonly FeatureRef[]): number[] {
  return fs.map((f) => {
    let s = 0;
    for (let i = 0; i < acts.rows.length; i++) s += valueIn(acts, i, f);
    return acts.rows.length === 0 ? 0 : s / acts.rows.length;
  });
}

/** Set each feature at `pos` to a value (default 0: ablation). */
export function setFeatures(
  fs: readonly FeatureRef[],
  pos: number,
  values: readonly number[] | number = 0,
): FeatureIntervention[] {
  return fs.map((f, i) => ({ ...f, pos, value: typeof values === 'number' ? values : values[i] }));
}

/** The features of `candidates` active in one prompt's row. */
export function activeIn(
  acts: PositionActivations,
  row: number,
  candidates: readonly FeatureRef[],
): FeatureRef[] {
  return candidates.filter((f) => valueIn(acts, row, f) !== 0);
}

/** Every active feature of a row, as refs (the pool random baselines draw from). */
export function activeFeatures(acts: PositionActivations, row: number): FeatureRef[] {
  const out: FeatureRef[] = [];
  const r = acts.rows[row];
  for (let i = 0; i < r.length; i++) {
    if (r[i] !== 0) out.push({ layer: acts.layers[Math.floor(i / acts.dTc)], feature: i % acts.dTc });
  }
  return out;
}

/** Every feature active on at least `minShare` of the rows (a set's typical features, whatever else they fire on). */
export function activeOnShare(acts: PositionActivations, minShare: number): FeatureRef[] {
  const out: FeatureRef[] = [];
  const n = acts.rows.length;
  for (let i = 0; i < acts.layers.length * acts.dTc; i++) {
    let active = 0;
    for (const r of acts.rows) if (r[i] !== 0) active++;
    if (n > 0 && active >= minShare * n)
      out.push({ layer: acts.layers[Math.floor(i / acts.dTc)], feature: i % acts.dTc });
  }
  return out;
}

/** A set's typical site: every feature active on at least `minShare` of its rows, at its mean over them. */
export interface TypicalSite {
  fs: FeatureRef[];
  values: number[];
}

export function typicalSite(acts: PositionActivations, minShare: number): TypicalSite {
  const fs = activeOnShare(acts, minShare);
  return { fs, values: meanValues(acts, fs) };
}

/** A typical site set at `pos`: each of its features at its mean. */
export const setSite = (site: TypicalSite, pos: number): FeatureIntervention[] =>
  setFeatures(site.fs, pos, site.values);

/**
 * The random control for an intervention on `chosen`: `n` features drawn with `random` from those active in
 * one row of `acts` that are not among `chosen`.
 */
export function randomActiveFeatures(
  acts: PositionActivations,
  row: number,
  chosen: readonly FeatureRef[],
  n: number,
  random: () => number,
): FeatureRef[] {
  const keys = new Set(chosen.map(featureKey));
  return sampleWithout(
    activeFeatures(acts, row).filter((f) => !keys.has(featureKey(f))),
    n,
    random,
  );
}

export type GraphFeature = RankedGraphFeature;

export interface TracedGraph {
  graph: AttributionGraph;
  /** Every feature node, most influential first. */
  features: GraphFeature[];
  influence: Float64Array;
}

/** Attribution graph of a prompt onto the given target tokens, its feature nodes ranked by influence. */
export async function traceGraph(
  s: Subject,
  tokens: Int32Array,
  targets: readonly number[],
): Promise<TracedGraph> {
  const graph = await attribute(s.model, s.dict, { tokens }, { targets: { kind: 'ids', ids: targets } });
  return { graph, ...rankGraphFeatures(graph) };
}
