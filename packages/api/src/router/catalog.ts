import { Prisma } from '@loupe/db';
import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { requireRole } from '../access.ts';
import { channels } from '../bus.ts';
import { record } from '../history.ts';
import { pageArgs, pageInput, toPage } from '../pagination.ts';
import { conflict, notFound, router, userProcedure, workerProcedure } from '../trpc.ts';
import {
  featureKeyInput,
  featureRecordInput,
  likePattern,
  maxFeaturesPerChunk,
  storedFeature,
  storeFeatureRecords,
} from './feature-index.ts';

const jsonObject = z.record(z.string(), z.unknown());
const diskPath = z.string().min(1).max(4096);

function isUniqueViolation(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: string }).code === 'P2002';
}

export const modelsRouter = router({
  register: userProcedure
    .input(
      z.object({
        teamId: z.uuid(),
        name: z.string().trim().min(1).max(200),
        path: diskPath,
        config: jsonObject.optional(),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      await requireRole(ctx, input.teamId, 'editor');
      try {
        return await ctx.db.model.create({
          data: {
            teamId: input.teamId,
            name: input.name,
            path: input.path,
            config: input.config as object | undefined,
          },
        });
      } catch (err) {
        if (isUniqueViolation(err))
          throw new TRPCError({ code: 'CONFLICT', message: `model "${input.name}" exists` });
        throw err;
      }
    }),

  list: userProcedure.input(z.object({ teamId: z.uuid(), ...pageInput })).query(async ({ ctx, input }) => {
    await requireRole(ctx, input.teamId, 'viewer');
    const rows = await ctx.db.model.findMany({
      where: { teamId: input.teamId },
      orderBy: [{ name: 'asc' }, { id: 'asc' }],
      ...pageArgs(input),
    });
    return toPage(rows, input.limit);
  }),
});

export const dictionariesRouter = router({
  register: userProcedure
    .input(
      z.object({
        teamId: z.uuid(),
        modelId: z.uuid(),
        name: z.string().trim().min(1).max(200),
        kind: z.enum(['plt', 'clt', 'sae']),
        path: diskPath,
        meta: jsonObject.optional(),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      await requireRole(ctx, input.teamId, 'editor');
      const model = await ctx.db.model.findFirst({ where: { id: input.modelId, teamId: input.teamId } });
      if (!model) throw notFound('model');
      try {
        return await ctx.db.dictionary.create({
          data: {
            teamId: input.teamId,
            modelId: input.modelId,
            name: input.name,
            kind: input.kind,
            path: input.path,
            meta: input.meta as object | undefined,
          },
        });
      } catch (err) {
        if (isUniqueViolation(err))
          throw new TRPCError({ code: 'CONFLICT', message: `dictionary "${input.name}" exists` });
        throw err;
      }
    }),

  list: userProcedure
    .input(z.object({ teamId: z.uuid(), modelId: z.uuid().optional(), ...pageInput }))
    .query(async ({ ctx, input }) => {
      await requireRole(ctx, input.teamId, 'viewer');
      const rows = await ctx.db.dictionary.findMany({
        where: { teamId: input.teamId, ...(input.modelId ? { modelId: input.modelId } : {}) },
        orderBy: [{ name: 'asc' }, { id: 'asc' }],
        ...pageArgs(input),
      });
      return toPage(rows, input.limit);
    }),

  /**
   * A worker loads one chunk of a built feature index (the records of layer_{l}.bin plus auto labels) into
   * the dictionary, under the lease of the job that built it: the dictionary must belong to the job's team.
   * Features already stored under the same keys are replaced, so a re-run index overwrites cleanly.
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
          select: { teamId: true },
        });
        if (!job) throw new TRPCError({ code: 'CONFLICT', message: 'the lease on this job was lost' });
        const dict = await tx.dictionary.findFirst({
          where: { id: input.dictionaryId, teamId: job.teamId },
          select: { id: true },
        });
        if (!dict) throw notFound('dictionary');
        return storeFeatureRecords(tx, input.dictionaryId, input.layer, input.features);
      });
      return { stored };
    }),
});

const featureKey = featureKeyInput;

async function dictionaryTeam(
  ctx: { db: import('@loupe/db').PrismaClient; userId: string },
  dictionaryId: string,
  min: 'viewer' | 'editor',
): Promise<string> {
  const d = await ctx.db.dictionary.findUnique({ where: { id: dictionaryId }, select: { teamId: true } });
  if (!d) throw notFound('dictionary');
  await requireRole(ctx, d.teamId, min, 'dictionary');
  return d.teamId;
}

export const featuresRouter = router({
  /**
   * The team's annotation (null until someone labels it) and, once an index was loaded, the feature's
   * circuit-tracer JSON (examples, histogram, logits) with its auto label; both null for an unknown feature.
   */
  get: userProcedure
    .input(z.object({ dictionaryId: z.uuid(), ...featureKey }))
    .query(async ({ ctx, input }) => {
      await dictionaryTeam(ctx, input.dictionaryId, 'viewer');
      const key = {
        dictionaryId_layer_featureIndex: {
          dictionaryId: input.dictionaryId,
          layer: input.layer,
          featureIndex: input.featureIndex,
        },
      };
      const [annotation, summary] = await Promise.all([
        ctx.db.featureAnnotation.findUnique({ where: key }),
        ctx.db.featureSummary.findUnique({ where: key, select: { autoLabel: true, record: true } }),
      ]);
      return {
        annotation,
        autoLabel: summary?.autoLabel ?? null,
        feature: summary ? storedFeature(summary.record) : null,
      };
    }),

  /**
   * The indexed features of a dictionary with the team's labels: filtered by layer and by text found in the
   * auto label or the team label (case-insensitive substring), ordered by density or by (layer, feature).
   */
  search: userProcedure
    .input(
      z.object({
        dictionaryId: z.uuid(),
        layer: featureKey.layer.optional(),
        text: z.string().trim().min(1).max(200).optional(),
        sort: z.enum(['density', 'feature']).default('feature'),
        order: z.enum(['asc', 'desc']).default('asc'),
        offset: z.number().int().min(0).max(1_000_000).default(0),
        limit: z.number().int().min(1).max(100).default(50),
      }),
    )
    .query(async ({ ctx, input }) => {
      await dictionaryTeam(ctx, input.dictionaryId, 'viewer');
      const dir = input.order === 'desc' ? Prisma.sql`DESC` : Prisma.sql`ASC`;
      const orderBy =
        input.sort === 'density'
          ? Prisma.sql`s.density ${dir}, s.layer ASC, s."featureIndex" ASC`
          : Prisma.sql`s.layer ${dir}, s."featureIndex" ${dir}`;
      const layer = input.layer !== undefined ? Prisma.sql`AND s.layer = ${input.layer}` : Prisma.empty;
      const pattern = input.text !== undefined ? likePattern(input.text) : null;
      const text =
        pattern !== null
          ? Prisma.sql`AND (s."autoLabel" ILIKE ${pattern} OR a.label ILIKE ${pattern})`
          : Prisma.empty;
      const rows = await ctx.db.$queryRaw<
        {
          layer: number;
          featureIndex: number;
          density: number;
          actMax: number;
          autoLabel: string;
          topLogits: string[];
          bottomLogits: string[];
          label: string | null;
        }[]
      >`
        SELECT s.layer, s."featureIndex", s.density, s."actMax", s."autoLabel", s."topLogits",
               s."bottomLogits", a.label
        FROM "FeatureSummary" s
        LEFT JOIN "FeatureAnnotation" a
          ON a."dictionaryId" = s."dictionaryId" AND a.layer = s.layer AND a."featureIndex" = s."featureIndex"
        WHERE s."dictionaryId" = ${input.dictionaryId} ${layer} ${text}
        ORDER BY ${orderBy}
        LIMIT ${input.limit + 1} OFFSET ${input.offset}`;
      const more = rows.length > input.limit;
      return {
        items: (more ? rows.slice(0, input.limit) : rows).map((r) => ({ ...r, label: r.label ?? '' })),
        nextOffset: more ? input.offset + input.limit : null,
      };
    }),

  getMany: userProcedure
    .input(z.object({ dictionaryId: z.uuid(), keys: z.array(z.object(featureKey)).max(1000) }))
    .query(async ({ ctx, input }) => {
      await dictionaryTeam(ctx, input.dictionaryId, 'viewer');
      if (input.keys.length === 0) return [];
      return ctx.db.featureAnnotation.findMany({
        where: {
          dictionaryId: input.dictionaryId,
          OR: input.keys.map((k) => ({ layer: k.layer, featureIndex: k.featureIndex })),
        },
      });
    }),

  list: userProcedure
    .input(z.object({ dictionaryId: z.uuid(), layer: featureKey.layer.optional(), ...pageInput }))
    .query(async ({ ctx, input }) => {
      await dictionaryTeam(ctx, input.dictionaryId, 'viewer');
      const rows = await ctx.db.featureAnnotation.findMany({
        where: {
          dictionaryId: input.dictionaryId,
          ...(input.layer !== undefined ? { layer: input.layer } : {}),
        },
        orderBy: [{ layer: 'asc' }, { featureIndex: 'asc' }, { id: 'asc' }],
        ...pageArgs(input),
      });
      return toPage(rows, input.limit);
    }),

  annotate: userProcedure
    .input(
      z.object({
        dictionaryId: z.uuid(),
        ...featureKey,
        label: z.string().max(500).optional(),
        notes: z.string().max(100_000).optional(),
        version: z.number().int().min(0),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      const teamId = await dictionaryTeam(ctx, input.dictionaryId, 'editor');
      const key = { dictionaryId: input.dictionaryId, layer: input.layer, featureIndex: input.featureIndex };
      const data = {
        ...(input.label !== undefined ? { label: input.label } : {}),
        ...(input.notes !== undefined ? { notes: input.notes } : {}),
        updatedById: ctx.userId,
      };
      const row = await ctx.db.$transaction(async (tx) => {
        let saved: Awaited<ReturnType<typeof tx.featureAnnotation.findUniqueOrThrow>>;
        if (input.version === 0) {
          // ON CONFLICT DO NOTHING: a concurrent creator wins cleanly instead of aborting this transaction.
          const { count } = await tx.featureAnnotation.createMany({
            data: [{ ...key, ...data }],
            skipDuplicates: true,
          });
          if (count === 0) throw conflict('feature annotation');
          saved = await tx.featureAnnotation.findUniqueOrThrow({
            where: { dictionaryId_layer_featureIndex: key },
          });
        } else {
          const { count } = await tx.featureAnnotation.updateMany({
            where: { ...key, version: input.version },
            data: { ...data, version: { increment: 1 } },
          });
          if (count === 0) throw conflict('feature annotation');
          saved = await tx.featureAnnotation.findUniqueOrThrow({
            where: { dictionaryId_layer_featureIndex: key },
          });
        }
        await record(tx, {
          teamId,
          entityType: 'feature',
          entityId: saved.id,
          action: input.version === 0 ? 'create' : 'update',
          actorId: ctx.userId,
          snapshot: { ...key, label: saved.label, notes: saved.notes, version: saved.version },
        });
        return saved;
      });
      ctx.bus.emit(channels.dictionary(input.dictionaryId), {
        entityType: 'feature',
        entityId: row.id,
        action: 'update',
        actorId: ctx.userId,
        version: row.version,
        at: new Date().toISOString(),
      });
      return row;
    }),

  onChange: userProcedure.input(z.object({ dictionaryId: z.uuid() })).subscription(async function* ({
    ctx,
    input,
    signal,
  }) {
    await dictionaryTeam(ctx, input.dictionaryId, 'viewer');
    yield* ctx.bus.listen<ChangeEvent>(channels.dictionary(input.dictionaryId), signal);
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
