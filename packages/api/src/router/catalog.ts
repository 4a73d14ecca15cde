import type { PrismaClient } from '@loupe/db';
import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { requireRole } from '../access.ts';
import { usableDictionary, visibleTo } from '../catalog-access.ts';
import { pageArgs, pageInput, toPage } from '../pagination.ts';
import { router, userProcedure, workerProcedure } from '../trpc.ts';
import {
  featureKeyInput,
  featureRecordInput,
  maxFeaturesPerChunk,
  storeFeatureRecords,
} from './feature-index.ts';

export type Scope = 'instance' | 'team';

function scopeOf(row: { teamId: string | null }): Scope {
  return row.teamId === null ? 'instance' : 'team';
}

const configNumber = (config: unknown, names: readonly string[]): number | null => {
  if (typeof config !== 'object' || config === null) return null;
  for (const n of names) {
    const v = (config as Record<string, unknown>)[n];
    if (typeof v === 'number' && Number.isInteger(v) && v > 0) return v;
  }
  return null;
};

/** A model as users see it: no path on the server's disk. Sizes come from its config.json (HF and GPT-2 names). */
export function publicModel(m: {
  id: string;
  teamId: string | null;
  key: string | null;
  name: string;
  config: unknown;
  createdAt: Date;
}) {
  return {
    id: m.id,
    teamId: m.teamId,
    key: m.key,
    name: m.name,
    scope: scopeOf(m),
    nLayers: configNumber(m.config, ['num_hidden_layers', 'n_layer', 'n_layers']),
    dModel: configNumber(m.config, ['hidden_size', 'n_embd', 'd_model']),
    createdAt: m.createdAt,
  };
}

export type DictionaryKind = 'plt' | 'clt' | 'sae';

/** A dictionary as users see it: no path on the server's disk. */
export function publicDictionary(d: {
  id: string;
  teamId: string | null;
  key: string | null;
  modelId: string;
  name: string;
  kind: string;
  createdAt: Date;
}) {
  return {
    id: d.id,
    teamId: d.teamId,
    key: d.key,
    modelId: d.modelId,
    name: d.name,
    kind: d.kind as DictionaryKind,
    scope: scopeOf(d),
    createdAt: d.createdAt,
  };
}

// Team rows and instance rows in one list, instance ones first, each by name.
const catalogOrder = [{ teamId: { sort: 'desc', nulls: 'first' } }, { name: 'asc' }, { id: 'asc' }] as const;

export const modelsRouter = router({
  list: userProcedure.input(z.object({ teamId: z.uuid(), ...pageInput })).query(async ({ ctx, input }) => {
    await requireRole(ctx, input.teamId, 'viewer');
    const rows = await ctx.db.model.findMany({
      where: visibleTo(input.teamId),
      orderBy: [...catalogOrder],
      ...pageArgs(input),
    });
    return toPage(rows.map(publicModel), input.limit);
  }),
});

export const dictionariesRouter = router({
  list: userProcedure
    .input(z.object({ teamId: z.uuid(), modelId: z.uuid().optional(), ...pageInput }))
    .query(async ({ ctx, input }) => {
      await requireRole(ctx, input.teamId, 'viewer');
      const rows = await ctx.db.dictionary.findMany({
        where: { ...visibleTo(input.teamId), ...(input.modelId ? { modelId: input.modelId } : {}) },
        orderBy: [...catalogOrder],
        ...pageArgs(input),
      });
      return toPage(rows.map(publicDictionary), input.limit);
    }),

  /**
   * A worker loads one chunk of a built feature index (the records of layer_{l}.bin plus auto labels) under
   * the lease of the index-features job that built it: only into that job's dictionary. Features already
   * stored under the same keys are replaced, so a re-run index overwrites cleanly.
   */
  putFeatureIndex: workerProcedure
    .input(
      z.object({
        jobId: z.uuid(),
        leaseToken: z.uuid(),
        dictionaryId: z.uuid(),
        layer: featureKeyInput.layer,
        features: z.array(featureRecordInput).min(1).max(maxFeaturesPerChunk),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      const stored = await ctx.db.$transaction(async (tx) => {
        const job = await tx.job.findFirst({
          where: { id: input.jobId, leaseToken: input.leaseToken, status: 'running' },
          select: { teamId: true, params: true },
        });
        if (!job) throw new TRPCError({ code: 'CONFLICT', message: 'the lease on this job was lost' });
        const target = (job.params as { dictionaryId?: unknown }).dictionaryId;
        if (target !== input.dictionaryId) {
          throw new TRPCError({ code: 'NOT_FOUND', message: 'dictionary not found for this job' });
        }
        await usableDictionary(tx, job.teamId, input.dictionaryId);
        return storeFeatureRecords(tx, input.dictionaryId, input.layer, input.features);
      });
      return { stored };
    }),
});

export type IndexStatus = 'missing' | 'queued' | 'running' | 'ready' | 'failed';

export interface FeatureIndexState {
  status: IndexStatus;
  jobId: string | null;
  percent: number | null;
}

interface IndexJob {
  id: string;
  status: string;
  progressPercent: number | null;
  queuedAt: Date;
  params: unknown;
}

/**
 * One dictionary's index state from its index-features jobs (newest first) and whether features are stored.
 * Only the newest job per layer set counts: a failure fixed by a later run is not a failure any more. Any
 * running job makes it running, else any queued one queued, else a failed one failed; stored features with
 * nothing pending are ready. percent averages the current jobs (finished ones count 100).
 */
export function indexState(jobs: readonly IndexJob[], stored: boolean): FeatureIndexState {
  const current = new Map<string, IndexJob>();
  for (const j of jobs) {
    const layers = (j.params as { layers?: number[] }).layers;
    const key = layers ? [...layers].sort((a, b) => a - b).join(',') : 'all';
    if (!current.has(key)) current.set(key, j);
  }
  const live = [...current.values()].filter((j) => j.status !== 'cancelled');
  const percent = (j: IndexJob) => (j.status === 'succeeded' ? 100 : (j.progressPercent ?? 0));
  const mean = live.length ? live.reduce((s, j) => s + percent(j), 0) / live.length : null;
  for (const status of ['running', 'queued', 'failed'] as const) {
    const hit = live.find((j) => j.status === status);
    if (hit) return { status, jobId: hit.id, percent: status === 'failed' ? null : mean };
  }
  const done = live.find((j) => j.status === 'succeeded');
  if (stored || done) return { status: 'ready', jobId: done?.id ?? null, percent: 100 };
  return { status: 'missing', jobId: null, percent: null };
}

/** Index jobs read per catalogue listing: plenty for a team's dictionaries, bounded whatever happens. */
const maxIndexJobs = 2_000;

async function indexStates(
  db: PrismaClient,
  teamId: string,
  dictionaryIds: readonly string[],
): Promise<Map<string, FeatureIndexState>> {
  const [jobs, stored] = await Promise.all([
    db.job.findMany({
      where: { kind: 'index-features', OR: [{ teamId }, { teamId: null }] },
      select: { id: true, status: true, progressPercent: true, queuedAt: true, params: true },
      orderBy: [{ queuedAt: 'desc' }, { id: 'desc' }],
      take: maxIndexJobs,
    }),
    db.featureSummary.groupBy({ by: ['dictionaryId'], where: { dictionaryId: { in: [...dictionaryIds] } } }),
  ]);
  const indexed = new Set(stored.map((s) => s.dictionaryId));
  return new Map(
    dictionaryIds.map((id) => [
      id,
      indexState(
        jobs.filter((j) => (j.params as { dictionaryId?: unknown }).dictionaryId === id),
        indexed.has(id),
      ),
    ]),
  );
}

export const catalogRouter = router({
  /**
   * Every model the team may use (its own and the instance's) with its dictionaries and each dictionary's
   * feature index state: what the model and dictionary pickers show. No paths.
   */
  list: userProcedure.input(z.object({ teamId: z.uuid() })).query(async ({ ctx, input }) => {
    await requireRole(ctx, input.teamId, 'viewer');
    const where = visibleTo(input.teamId);
    const [models, dicts] = await Promise.all([
      ctx.db.model.findMany({ where, orderBy: [...catalogOrder], take: 1_000 }),
      ctx.db.dictionary.findMany({ where, orderBy: [...catalogOrder], take: 5_000 }),
    ]);
    const states = await indexStates(
      ctx.db,
      input.teamId,
      dicts.map((d) => d.id),
    );
    return {
      models: models.map((m) => {
        const { id, key, name, scope, nLayers, dModel } = publicModel(m);
        return {
          id,
          key,
          name,
          scope,
          nLayers,
          dModel,
          dictionaries: dicts
            .filter((d) => d.modelId === m.id)
            .map((d) => {
              const p = publicDictionary(d);
              return {
                id: p.id,
                key: p.key,
                name: p.name,
                kind: p.kind,
                scope: p.scope,
                featureIndex: states.get(d.id) as FeatureIndexState,
              };
            }),
        };
      }),
    };
  }),
});

export interface ChangeEvent {
  entityType: 'investigation' | 'comment' | 'experiment' | 'feature';
  entityId: string;
  action: string;
  actorId: string | null;
  version: number;
  at: string;
}
