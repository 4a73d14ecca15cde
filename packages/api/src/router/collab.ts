import type { Prisma } from '@loupe/db';
import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { digest, newSecret } from '../auth.ts';
import { getJsonBlob } from '../blob.ts';
import type { graphJson } from '../graph-store.ts';
import { publicGraph } from '../graph-store.ts';
import { record } from '../history.ts';
import { announce, loadInvestigation } from '../investigation-access.ts';
import { pageArgs, pageInput, toPage } from '../pagination.ts';
import { conflict, notFound, publicProcedure, router, userProcedure } from '../trpc.ts';
import { publicInvestigation } from './investigations.ts';

const jsonObject = z.record(z.string(), z.unknown());
const version = z.number().int().min(1);

type ExperimentRow = Prisma.ExperimentGetPayload<object>;

function experimentSnapshot(e: ExperimentRow) {
  return {
    name: e.name,
    spec: e.spec,
    result: e.result,
    jobId: e.jobId,
    version: e.version,
  } as Prisma.InputJsonValue;
}

async function loadExperiment(ctx: { db: import('@loupe/db').PrismaClient; userId: string }, id: string) {
  const exp = await ctx.db.experiment.findUnique({ where: { id } });
  if (!exp) throw notFound('experiment');
  const { inv } = await loadInvestigation(ctx, exp.investigationId, 'editor').catch((err: TRPCError) => {
    throw err.code === 'NOT_FOUND' ? notFound('experiment') : err;
  });
  return { exp, inv };
}

export const experimentsRouter = router({
  create: userProcedure
    .input(
      z.object({
        investigationId: z.uuid(),
        name: z.string().trim().min(1).max(300),
        spec: jsonObject,
        jobId: z.uuid().optional(),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      const { inv } = await loadInvestigation(ctx, input.investigationId, 'editor');
      const exp = await ctx.db.$transaction(async (tx) => {
        const created = await tx.experiment.create({
          data: {
            investigationId: inv.id,
            name: input.name,
            spec: input.spec as Prisma.InputJsonValue,
            jobId: input.jobId ?? null,
            createdById: ctx.userId,
          },
        });
        await record(tx, {
          teamId: inv.teamId,
          entityType: 'experiment',
          entityId: created.id,
          action: 'create',
          actorId: ctx.userId,
          snapshot: experimentSnapshot(created),
        });
        return created;
      });
      announce(ctx.bus, inv.id, {
        entityType: 'experiment',
        entityId: exp.id,
        action: 'create',
        actorId: ctx.userId,
        version: exp.version,
      });
      return exp;
    }),

  list: userProcedure.input(z.object({ investigationId: z.uuid() })).query(async ({ ctx, input }) => {
    await loadInvestigation(ctx, input.investigationId, 'viewer');
    return ctx.db.experiment.findMany({
      where: { investigationId: input.investigationId },
      orderBy: { createdAt: 'asc' },
    });
  }),

  update: userProcedure
    .input(
      z.object({
        id: z.uuid(),
        version,
        name: z.string().trim().min(1).max(300).optional(),
        spec: jsonObject.optional(),
        result: z.unknown().optional(),
        jobId: z.uuid().nullable().optional(),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      const { exp, inv } = await loadExperiment(ctx, input.id);
      const saved = await ctx.db.$transaction(async (tx) => {
        const { count } = await tx.experiment.updateMany({
          where: { id: exp.id, version: input.version },
          data: {
            ...(input.name !== undefined ? { name: input.name } : {}),
            ...(input.spec !== undefined ? { spec: input.spec as Prisma.InputJsonValue } : {}),
            ...(input.result !== undefined ? { result: input.result as Prisma.InputJsonValue } : {}),
            ...(input.jobId !== undefined ? { jobId: input.jobId } : {}),
            version: { increment: 1 },
          },
        });
        if (count === 0) throw conflict('experiment');
        const row = await tx.experiment.findUniqueOrThrow({ where: { id: exp.id } });
        await record(tx, {
          teamId: inv.teamId,
          entityType: 'experiment',
          entityId: exp.id,
          action: 'update',
          actorId: ctx.userId,
          snapshot: experimentSnapshot(row),
        });
        return row;
      });
      announce(ctx.bus, inv.id, {
        entityType: 'experiment',
        entityId: exp.id,
        action: 'update',
        actorId: ctx.userId,
        version: saved.version,
      });
      return saved;
    }),

  delete: userProcedure.input(z.object({ id: z.uuid(), version })).mutation(async ({ ctx, input }) => {
    const { exp, inv } = await loadExperiment(ctx, input.id);
    await ctx.db.$transaction(async (tx) => {
      const { count } = await tx.experiment.deleteMany({ where: { id: exp.id, version: input.version } });
      if (count === 0) throw conflict('experiment');
      await record(tx, {
        teamId: inv.teamId,
        entityType: 'experiment',
        entityId: exp.id,
        action: 'delete',
        actorId: ctx.userId,
        snapshot: experimentSnapshot(exp),
      });
    });
    announce(ctx.bus, inv.id, {
      entityType: 'experiment',
      entityId: exp.id,
      action: 'delete',
      actorId: ctx.userId,
      version: exp.version,
    });
    return { ok: true as const };
  }),
});

const body = z.string().trim().min(1).max(20_000);

function publicComment(c: Prisma.CommentGetPayload<object>) {
  return {
    id: c.id,
    investigationId: c.investigationId,
    nodeId: c.nodeId,
    authorId: c.authorId,
    body: c.body,
    createdAt: c.createdAt,
    updatedAt: c.updatedAt,
    version: c.version,
  };
}

export const commentsRouter = router({
  list: userProcedure
    .input(
      z.object({ investigationId: z.uuid(), nodeId: z.string().min(1).max(200).optional(), ...pageInput }),
    )
    .query(async ({ ctx, input }) => {
      await loadInvestigation(ctx, input.investigationId, 'viewer');
      const rows = await ctx.db.comment.findMany({
        where: {
          investigationId: input.investigationId,
          deletedAt: null,
          ...(input.nodeId ? { nodeId: input.nodeId } : {}),
        },
        orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
        ...pageArgs(input),
      });
      return toPage(rows.map(publicComment), input.limit);
    }),

  add: userProcedure
    .input(z.object({ investigationId: z.uuid(), nodeId: z.string().min(1).max(200).optional(), body }))
    .mutation(async ({ ctx, input }) => {
      const { inv } = await loadInvestigation(ctx, input.investigationId, 'editor');
      const c = await ctx.db.$transaction(async (tx) => {
        const created = await tx.comment.create({
          data: {
            investigationId: inv.id,
            nodeId: input.nodeId ?? null,
            authorId: ctx.userId,
            body: input.body,
          },
        });
        await record(tx, {
          teamId: inv.teamId,
          entityType: 'comment',
          entityId: created.id,
          action: 'create',
          actorId: ctx.userId,
          snapshot: { nodeId: created.nodeId, body: created.body, version: created.version },
        });
        return created;
      });
      announce(ctx.bus, inv.id, {
        entityType: 'comment',
        entityId: c.id,
        action: 'create',
        actorId: ctx.userId,
        version: c.version,
      });
      return publicComment(c);
    }),

  edit: userProcedure.input(z.object({ id: z.uuid(), version, body })).mutation(async ({ ctx, input }) => {
    const c = await ctx.db.comment.findUnique({ where: { id: input.id } });
    if (!c || c.deletedAt) throw notFound('comment');
    const { inv } = await loadInvestigation(ctx, c.investigationId, 'viewer').catch(() => {
      throw notFound('comment');
    });
    if (c.authorId !== ctx.userId)
      throw new TRPCError({ code: 'FORBIDDEN', message: 'only the author can edit a comment' });
    const saved = await ctx.db.$transaction(async (tx) => {
      const { count } = await tx.comment.updateMany({
        where: { id: c.id, version: input.version, deletedAt: null },
        data: { body: input.body, version: { increment: 1 } },
      });
      if (count === 0) throw conflict('comment');
      const row = await tx.comment.findUniqueOrThrow({ where: { id: c.id } });
      await record(tx, {
        teamId: inv.teamId,
        entityType: 'comment',
        entityId: c.id,
        action: 'update',
        actorId: ctx.userId,
        snapshot: { nodeId: row.nodeId, body: row.body, version: row.version },
      });
      return row;
    });
    announce(ctx.bus, inv.id, {
      entityType: 'comment',
      entityId: c.id,
      action: 'update',
      actorId: ctx.userId,
      version: saved.version,
    });
    return publicComment(saved);
  }),

  delete: userProcedure.input(z.object({ id: z.uuid() })).mutation(async ({ ctx, input }) => {
    const c = await ctx.db.comment.findUnique({ where: { id: input.id } });
    if (!c || c.deletedAt) throw notFound('comment');
    const { inv, role } = await loadInvestigation(ctx, c.investigationId, 'viewer').catch(() => {
      throw notFound('comment');
    });
    if (c.authorId !== ctx.userId && role !== 'owner') {
      throw new TRPCError({
        code: 'FORBIDDEN',
        message: 'only the author or a team owner can delete a comment',
      });
    }
    await ctx.db.$transaction(async (tx) => {
      await tx.comment.update({
        where: { id: c.id },
        data: { deletedAt: new Date(), version: { increment: 1 } },
      });
      await record(tx, {
        teamId: inv.teamId,
        entityType: 'comment',
        entityId: c.id,
        action: 'delete',
        actorId: ctx.userId,
        snapshot: { nodeId: c.nodeId, body: c.body, version: c.version },
      });
    });
    announce(ctx.bus, inv.id, {
      entityType: 'comment',
      entityId: c.id,
      action: 'delete',
      actorId: ctx.userId,
      version: c.version + 1,
    });
    return { ok: true as const };
  }),
});

const shareToken = z.string().min(10).max(200);

/** The live share link for `token`, or NOT_FOUND (unknown, revoked and expired look the same). */
async function openShare(db: import('@loupe/db').PrismaClient, token: string) {
  const link = await db.shareLink.findUnique({
    where: { tokenHash: digest(token) },
    include: { investigation: true },
  });
  if (!link || link.revokedAt || (link.expiresAt && link.expiresAt.getTime() <= Date.now())) {
    throw new TRPCError({ code: 'NOT_FOUND', message: 'share link is invalid, revoked or expired' });
  }
  return link;
}

export const sharesRouter = router({
  create: userProcedure
    .input(
      z.object({
        investigationId: z.uuid(),
        expiresInHours: z
          .number()
          .positive()
          .max(24 * 365 * 10)
          .optional(),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      const { inv } = await loadInvestigation(ctx, input.investigationId, 'editor');
      const token = newSecret('lps_');
      const link = await ctx.db.shareLink.create({
        data: {
          investigationId: inv.id,
          tokenHash: digest(token),
          createdById: ctx.userId,
          expiresAt: input.expiresInHours ? new Date(Date.now() + input.expiresInHours * 3_600_000) : null,
        },
      });
      return { id: link.id, token };
    }),

  list: userProcedure.input(z.object({ investigationId: z.uuid() })).query(async ({ ctx, input }) => {
    await loadInvestigation(ctx, input.investigationId, 'editor');
    const rows = await ctx.db.shareLink.findMany({
      where: { investigationId: input.investigationId },
      orderBy: { createdAt: 'desc' },
    });
    return rows.map((l) => ({
      id: l.id,
      createdAt: l.createdAt,
      expiresAt: l.expiresAt,
      revokedAt: l.revokedAt,
    }));
  }),

  revoke: userProcedure.input(z.object({ id: z.uuid() })).mutation(async ({ ctx, input }) => {
    const link = await ctx.db.shareLink.findUnique({ where: { id: input.id } });
    if (!link) throw notFound('share link');
    await loadInvestigation(ctx, link.investigationId, 'editor').catch((err: TRPCError) => {
      throw err.code === 'NOT_FOUND' ? notFound('share link') : err;
    });
    await ctx.db.shareLink.update({
      where: { id: link.id },
      data: { revokedAt: link.revokedAt ?? new Date() },
    });
    return { ok: true as const };
  }),

  open: publicProcedure.input(z.object({ token: shareToken })).query(async ({ ctx, input }) => {
    const link = await openShare(ctx.db, input.token);
    const inv = link.investigation;
    const graph = inv.graphId ? await ctx.db.graph.findUnique({ where: { id: inv.graphId } }) : null;
    const comments = await ctx.db.comment.findMany({
      where: { investigationId: inv.id, deletedAt: null },
      orderBy: [{ createdAt: 'asc' }],
      take: 1000,
    });
    const experiments = await ctx.db.experiment.findMany({
      where: { investigationId: inv.id },
      orderBy: { createdAt: 'asc' },
    });
    return {
      investigation: publicInvestigation(inv),
      graph: graph ? publicGraph(graph) : null,
      comments: comments.map(publicComment),
      experiments,
    };
  }),

  features: publicProcedure
    .input(
      z.object({
        token: shareToken,
        keys: z
          .array(
            z.object({ layer: z.number().int().min(0).max(10_000), featureIndex: z.number().int().min(0) }),
          )
          .max(1000),
      }),
    )
    .query(async ({ ctx, input }) => {
      const link = await openShare(ctx.db, input.token);
      const dictionaryId = link.investigation.dictionaryId;
      if (!dictionaryId || input.keys.length === 0) return [];
      return ctx.db.featureAnnotation.findMany({
        where: {
          dictionaryId,
          OR: input.keys.map((k) => ({ layer: k.layer, featureIndex: k.featureIndex })),
        },
        select: { layer: true, featureIndex: true, label: true, notes: true },
      });
    }),

  graphPayload: publicProcedure.input(z.object({ token: shareToken })).query(async ({ ctx, input }) => {
    const link = await openShare(ctx.db, input.token);
    const graphId = link.investigation.graphId;
    const graph = graphId ? await ctx.db.graph.findUnique({ where: { id: graphId } }) : null;
    if (!graph) throw notFound('graph');
    return { graph: (await getJsonBlob(ctx.db, graph.blobId)) as z.infer<typeof graphJson> };
  }),
});
