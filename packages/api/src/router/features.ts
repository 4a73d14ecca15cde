import { Prisma, type PrismaClient } from '@loupe/db';
import { z } from 'zod';
import { requireRole } from '../access.ts';
import { usableDictionary } from '../catalog-access.ts';
import { channels } from '../bus.ts';
import { record } from '../history.ts';
import { pageArgs, pageInput, toPage } from '../pagination.ts';
import { conflict, router, userProcedure } from '../trpc.ts';
import type { ChangeEvent } from './catalog.ts';
import { featureKeyInput as featureKey, likePattern, storedFeature } from './feature-index.ts';

/** Every features procedure names the team whose knowledge it reads or writes, and a dictionary it may use. */
const scope = { teamId: z.uuid(), dictionaryId: z.uuid() };

/**
 * The caller has at least `min` in `teamId`, and the dictionary is the team's own or an instance one. Labels
 * are the team's: the same instance dictionary carries separate labels in every team.
 */
async function featureScope(
  ctx: { db: PrismaClient; userId: string },
  input: { teamId: string; dictionaryId: string },
  min: 'viewer' | 'editor',
): Promise<void> {
  await requireRole(ctx, input.teamId, min);
  await usableDictionary(ctx.db, input.teamId, input.dictionaryId);
}

function annotationKey(input: { teamId: string; dictionaryId: string; layer: number; featureIndex: number }) {
  return {
    teamId_dictionaryId_layer_featureIndex: {
      teamId: input.teamId,
      dictionaryId: input.dictionaryId,
      layer: input.layer,
      featureIndex: input.featureIndex,
    },
  };
}

export const featuresRouter = router({
  /**
   * The team's annotation (null until someone labels it) and, once an index was loaded, the feature's
   * circuit-tracer JSON (examples, histogram, logits) with its auto label; both null for an unknown feature.
   */
  get: userProcedure.input(z.object({ ...scope, ...featureKey })).query(async ({ ctx, input }) => {
    await featureScope(ctx, input, 'viewer');
    const [annotation, summary] = await Promise.all([
      ctx.db.featureAnnotation.findUnique({ where: annotationKey(input) }),
      ctx.db.featureSummary.findUnique({
        where: {
          dictionaryId_layer_featureIndex: {
            dictionaryId: input.dictionaryId,
            layer: input.layer,
            featureIndex: input.featureIndex,
          },
        },
        select: { autoLabel: true, record: true },
      }),
    ]);
    return {
      annotation,
      autoLabel: summary?.autoLabel ?? null,
      feature: summary ? storedFeature(summary.record) : null,
    };
  }),

  /**
   * The indexed features of a dictionary with the team's labels: filtered by layer, by activation density
   * (fraction of tokens, bounds inclusive) and by text found in the auto label or the team label
   * (case-insensitive substring), ordered by density or by (layer, feature).
   */
  search: userProcedure
    .input(
      z
        .object({
          ...scope,
          layer: featureKey.layer.optional(),
          text: z.string().trim().min(1).max(200).optional(),
          minDensity: z.number().min(0).max(1).optional(),
          maxDensity: z.number().min(0).max(1).optional(),
          sort: z.enum(['density', 'feature']).default('feature'),
          order: z.enum(['asc', 'desc']).default('asc'),
          offset: z.number().int().min(0).max(1_000_000).default(0),
          limit: z.number().int().min(1).max(100).default(50),
        })
        .refine(
          (i) => i.minDensity === undefined || i.maxDensity === undefined || i.minDensity <= i.maxDensity,
          {
            message: 'minDensity must not exceed maxDensity',
            path: ['minDensity'],
          },
        ),
    )
    .query(async ({ ctx, input }) => {
      await featureScope(ctx, input, 'viewer');
      const dir = input.order === 'desc' ? Prisma.sql`DESC` : Prisma.sql`ASC`;
      const orderBy =
        input.sort === 'density'
          ? Prisma.sql`s.density ${dir}, s.layer ASC, s."featureIndex" ASC`
          : Prisma.sql`s.layer ${dir}, s."featureIndex" ${dir}`;
      const layer = input.layer !== undefined ? Prisma.sql`AND s.layer = ${input.layer}` : Prisma.empty;
      const density = Prisma.sql`${
        input.minDensity !== undefined ? Prisma.sql`AND s.density >= ${input.minDensity}` : Prisma.empty
      } ${input.maxDensity !== undefined ? Prisma.sql`AND s.density <= ${input.maxDensity}` : Prisma.empty}`;
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
          ON a."teamId" = ${input.teamId} AND a."dictionaryId" = s."dictionaryId" AND a.layer = s.layer
            AND a."featureIndex" = s."featureIndex"
        WHERE s."dictionaryId" = ${input.dictionaryId} ${layer} ${density} ${text}
        ORDER BY ${orderBy}
        LIMIT ${input.limit + 1} OFFSET ${input.offset}`;
      const more = rows.length > input.limit;
      return {
        items: (more ? rows.slice(0, input.limit) : rows).map((r) => ({ ...r, label: r.label ?? '' })),
        nextOffset: more ? input.offset + input.limit : null,
      };
    }),

  /**
   * The team's investigations whose graph holds this feature (at any position), most recently changed first,
   * each with the feature's most influential node there, so a link can open the graph on it.
   */
  investigations: userProcedure.input(z.object({ ...scope, ...featureKey })).query(async ({ ctx, input }) => {
    await featureScope(ctx, input, 'viewer');
    // Node ids are `{layer}_{feature}_{pos}`; the stored feature column holds the graph JSON's own numbering
    // (circuit-tracer's Cantor pair), so the id is what names the feature within its layer.
    const rows = await ctx.db.$queryRaw<
      { id: string; title: string; prompt: string; updatedAt: Date; nodeId: string }[]
    >`
        SELECT i.id, i.title, i.prompt, i."updatedAt", n."nodeId"
        FROM "Investigation" i
        JOIN "GraphNode" n ON n."graphId" = i."graphId"
        WHERE i."teamId" = ${input.teamId} AND i."dictionaryId" = ${input.dictionaryId}
          AND n.layer = ${input.layer} AND n.kind = 'feature'
          AND split_part(n."nodeId", '_', 1) = ${String(input.layer)}
          AND split_part(n."nodeId", '_', 2) = ${String(input.featureIndex)}
        ORDER BY i."updatedAt" DESC, i.id, n.influence DESC NULLS LAST
        LIMIT 2000`;
    const byId = new Map<
      string,
      { id: string; title: string; prompt: string; updatedAt: Date; nodeId: string; positions: number }
    >();
    for (const r of rows) {
      const seen = byId.get(r.id);
      if (seen) seen.positions += 1;
      else byId.set(r.id, { ...r, positions: 1 });
    }
    return [...byId.values()].slice(0, 50);
  }),

  getMany: userProcedure
    .input(z.object({ ...scope, keys: z.array(z.object(featureKey)).max(1000) }))
    .query(async ({ ctx, input }) => {
      await featureScope(ctx, input, 'viewer');
      if (input.keys.length === 0) return [];
      return ctx.db.featureAnnotation.findMany({
        where: {
          teamId: input.teamId,
          dictionaryId: input.dictionaryId,
          OR: input.keys.map((k) => ({ layer: k.layer, featureIndex: k.featureIndex })),
        },
      });
    }),

  list: userProcedure
    .input(z.object({ ...scope, layer: featureKey.layer.optional(), ...pageInput }))
    .query(async ({ ctx, input }) => {
      await featureScope(ctx, input, 'viewer');
      const rows = await ctx.db.featureAnnotation.findMany({
        where: {
          teamId: input.teamId,
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
        ...scope,
        ...featureKey,
        label: z.string().max(500).optional(),
        notes: z.string().max(100_000).optional(),
        version: z.number().int().min(0),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      await featureScope(ctx, input, 'editor');
      const key = {
        teamId: input.teamId,
        dictionaryId: input.dictionaryId,
        layer: input.layer,
        featureIndex: input.featureIndex,
      };
      const data = {
        ...(input.label !== undefined ? { label: input.label } : {}),
        ...(input.notes !== undefined ? { notes: input.notes } : {}),
        updatedById: ctx.userId,
      };
      const row = await ctx.db.$transaction(async (tx) => {
        if (input.version === 0) {
          // ON CONFLICT DO NOTHING: a concurrent creator wins cleanly instead of aborting this transaction.
          const { count } = await tx.featureAnnotation.createMany({
            data: [{ ...key, ...data }],
            skipDuplicates: true,
          });
          if (count === 0) throw conflict('feature annotation');
        } else {
          const { count } = await tx.featureAnnotation.updateMany({
            where: { ...key, version: input.version },
            data: { ...data, version: { increment: 1 } },
          });
          if (count === 0) throw conflict('feature annotation');
        }
        const saved = await tx.featureAnnotation.findUniqueOrThrow({ where: annotationKey(input) });
        await record(tx, {
          teamId: input.teamId,
          entityType: 'feature',
          entityId: saved.id,
          action: input.version === 0 ? 'create' : 'update',
          actorId: ctx.userId,
          snapshot: {
            dictionaryId: key.dictionaryId,
            layer: key.layer,
            featureIndex: key.featureIndex,
            label: saved.label,
            notes: saved.notes,
            version: saved.version,
          },
        });
        return saved;
      });
      ctx.bus.emit(channels.teamFeatures(input.teamId, input.dictionaryId), {
        entityType: 'feature',
        entityId: row.id,
        action: 'update',
        actorId: ctx.userId,
        version: row.version,
        at: new Date().toISOString(),
      } satisfies ChangeEvent);
      return row;
    }),

  /** Label and notes edits of the team on this dictionary, for every open investigation. */
  onChange: userProcedure.input(z.object(scope)).subscription(async function* ({ ctx, input, signal }) {
    await featureScope(ctx, input, 'viewer');
    yield* ctx.bus.listen<ChangeEvent>(channels.teamFeatures(input.teamId, input.dictionaryId), signal);
  }),
});
