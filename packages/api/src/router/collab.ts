import type { Prisma, PrismaClient } from '@loupe/db';
import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { digest } from '../auth.ts';
import { newBearerLink } from '../bearer-link.ts';
import { getJsonBlob } from '../blob.ts';
import type { EventBus } from '../bus.ts';
import type { graphJson } from '../graph-store.ts';
import { publicGraph } from '../graph-store.ts';
import { record } from '../history.ts';
import { announce, loadInvestigation } from '../investigation-access.ts';
import { pageArgs, pageInput, toPage } from '../pagination.ts';
import { conflict, notFound, publicProcedure, type Role, router, userProcedure } from '../trpc.ts';
import { publicInvestigation } from './investigations.ts';
import { jsonWithin, maxExperimentJsonChars } from '../caps.ts';

const spec = jsonWithin(z.record(z.string(), z.unknown()), maxExperimentJsonChars, 'experiment spec');
const experimentResult = jsonWithin(z.unknown(), maxExperimentJsonChars, 'experiment result');
const version = z.number().int().min(1);

type Caller = { db: PrismaClient; userId: string };
type Investigation = { id: string; teamId: string };

/**
 * The investigation that holds a comment, experiment or share link, if the caller has at least `min` in its
 * team. A missing investigation or a non-member gets NOT_FOUND naming the child, so guessed ids reveal nothing.
 */
function loadParent(ctx: Caller, investigationId: string, min: Role, what: string) {
  return loadInvestigation(ctx, investigationId, min).catch((err: TRPCError) => {
    throw err.code === 'NOT_FOUND' ? notFound(what) : err;
  });
}

interface Tracked<Row> {
  entityType: 'comment' | 'experiment';
  snapshot: (row: Row) => Prisma.InputJsonValue;
}

/**
 * Runs `write` in one transaction with the history entry for the row it returns, then tells the
 * investigation's listeners at `announced(row)`. A delete returns the row as it was, so history keeps its last state.
 */
async function commit<Row extends { id: string; version: number }>(
  ctx: Caller & { bus: EventBus },
  inv: Investigation,
  kind: Tracked<Row>,
  action: 'create' | 'update' | 'delete',
  write: (tx: Prisma.TransactionClient) => Promise<Row>,
  announced: (row: Row) => number = (row) => row.version,
): Promise<Row> {
  const change = (r: Row) => ({ entityType: kind.entityType, entityId: r.id, action, actorId: ctx.userId });
  const row = await ctx.db.$transaction(async (tx) => {
    const written = await write(tx);
    await record(tx, { teamId: inv.teamId, ...change(written), snapshot: kind.snapshot(written) });
    return written;
  });
  announce(ctx.bus, inv.id, { ...change(row), version: announced(row) });
  return row;
}

type ExperimentRow = Prisma.ExperimentGetPayload<object>;

const experiments: Tracked<ExperimentRow> = {
  entityType: 'experiment',
  snapshot: (e) =>
    ({
      name: e.name,
      spec: e.spec,
      result: e.result,
      jobId: e.jobId,
      version: e.version,
    }) as Prisma.InputJsonValue,
};

/** An experiment may only point at a job of its own team. */
async function checkExperimentJob(db: PrismaClient, teamId: string, jobId: string | null | undefined) {
  if (!jobId) return;
  const job = await db.job.findFirst({ where: { id: jobId, teamId }, select: { id: true } });
  if (!job) throw notFound('job');
}

async function loadExperiment(ctx: Caller, id: string) {
  const exp = await ctx.db.experiment.findUnique({ where: { id } });
  if (!exp) throw notFound('experiment');
  const { inv } = await loadParent(ctx, exp.investigationId, 'editor', 'experiment');
  return { exp, inv };
}

export const experimentsRouter = router({
  create: userProcedure
    .input(
      z.object({
        investigationId: z.uuid(),
        name: z.string().trim().min(1).max(300),
        spec,
        jobId: z.uuid().optional(),
        // A run that finished before it was saved (in the browser) lands in one write, so no one sees it
        // without its result.
        result: experimentResult.optional(),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      const { inv } = await loadInvestigation(ctx, input.investigationId, 'editor');
      await checkExperimentJob(ctx.db, inv.teamId, input.jobId);
      return commit(ctx, inv, experiments, 'create', (tx) =>
        tx.experiment.create({
          data: {
            investigationId: inv.id,
            name: input.name,
            spec: input.spec as Prisma.InputJsonValue,
            jobId: input.jobId ?? null,
            ...(input.result !== undefined ? { result: input.result as Prisma.InputJsonValue } : {}),
            createdById: ctx.userId,
          },
        }),
      );
    }),

  list: userProcedure
    .input(z.object({ investigationId: z.uuid(), ...pageInput }))
    .query(async ({ ctx, input }) => {
      await loadInvestigation(ctx, input.investigationId, 'viewer');
      const rows = await ctx.db.experiment.findMany({
        where: { investigationId: input.investigationId },
        orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
        ...pageArgs(input),
      });
      return toPage(rows, input.limit);
    }),

  update: userProcedure
    .input(
      z.object({
        id: z.uuid(),
        version,
        name: z.string().trim().min(1).max(300).optional(),
        spec: spec.optional(),
        result: experimentResult.optional(),
        jobId: z.uuid().nullable().optional(),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      const { exp, inv } = await loadExperiment(ctx, input.id);
      await checkExperimentJob(ctx.db, inv.teamId, input.jobId);
      return commit(ctx, inv, experiments, 'update', async (tx) => {
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
        return tx.experiment.findUniqueOrThrow({ where: { id: exp.id } });
      });
    }),

  delete: userProcedure.input(z.object({ id: z.uuid(), version })).mutation(async ({ ctx, input }) => {
    const { exp, inv } = await loadExperiment(ctx, input.id);
    await commit(ctx, inv, experiments, 'delete', async (tx) => {
      const { count } = await tx.experiment.deleteMany({ where: { id: exp.id, version: input.version } });
      if (count === 0) throw conflict('experiment');
      return exp;
    });
    return { ok: true as const };
  }),
});

const body = z.string().trim().min(1).max(20_000);

type CommentRow = Prisma.CommentGetPayload<object>;

const comments: Tracked<CommentRow> = {
  entityType: 'comment',
  snapshot: (c) => ({ nodeId: c.nodeId, body: c.body, version: c.version }),
};

function publicComment(c: CommentRow) {
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

/** A live comment and the caller's role in its team; any team member may see it, the procedure decides the rest. */
async function loadComment(ctx: Caller, id: string) {
  const c = await ctx.db.comment.findUnique({ where: { id } });
  if (!c || c.deletedAt) throw notFound('comment');
  const { inv, role } = await loadParent(ctx, c.investigationId, 'viewer', 'comment');
  return { c, inv, role };
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
      const c = await commit(ctx, inv, comments, 'create', (tx) =>
        tx.comment.create({
          data: {
            investigationId: inv.id,
            nodeId: input.nodeId ?? null,
            authorId: ctx.userId,
            body: input.body,
          },
        }),
      );
      return publicComment(c);
    }),

  edit: userProcedure.input(z.object({ id: z.uuid(), version, body })).mutation(async ({ ctx, input }) => {
    const { c, inv } = await loadComment(ctx, input.id);
    if (c.authorId !== ctx.userId)
      throw new TRPCError({ code: 'FORBIDDEN', message: 'only the author can edit a comment' });
    const saved = await commit(ctx, inv, comments, 'update', async (tx) => {
      const { count } = await tx.comment.updateMany({
        where: { id: c.id, version: input.version, deletedAt: null },
        data: { body: input.body, version: { increment: 1 } },
      });
      if (count === 0) throw conflict('comment');
      return tx.comment.findUniqueOrThrow({ where: { id: c.id } });
    });
    return publicComment(saved);
  }),

  delete: userProcedure.input(z.object({ id: z.uuid() })).mutation(async ({ ctx, input }) => {
    const { c, inv, role } = await loadComment(ctx, input.id);
    if (c.authorId !== ctx.userId && role !== 'owner') {
      throw new TRPCError({
        code: 'FORBIDDEN',
        message: 'only the author or a team owner can delete a comment',
      });
    }
    await commit(
      ctx,
      inv,
      comments,
      'delete',
      async (tx) => {
        await tx.comment.update({
          where: { id: c.id },
          data: { deletedAt: new Date(), version: { increment: 1 } },
        });
        return c;
      },
      // The row stays behind, soft-deleted, one version on: listeners get the version it now has.
      (row) => row.version + 1,
    );
    return { ok: true as const };
  }),
});

const shareToken = z.string().min(10).max(200);

/** The live share link for `token`, or NOT_FOUND (unknown, revoked and expired look the same). */
async function openShare(db: PrismaClient, token: string) {
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
      const { token, tokenHash, expiresAt } = newBearerLink('lps_', input.expiresInHours);
      const link = await ctx.db.shareLink.create({
        data: { investigationId: inv.id, tokenHash, createdById: ctx.userId, expiresAt },
      });
      return { id: link.id, token };
    }),

  list: userProcedure
    .input(z.object({ investigationId: z.uuid(), ...pageInput }))
    .query(async ({ ctx, input }) => {
      await loadInvestigation(ctx, input.investigationId, 'editor');
      const rows = await ctx.db.shareLink.findMany({
        where: { investigationId: input.investigationId },
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
        ...pageArgs(input),
      });
      const items = rows.map((l) => ({
        id: l.id,
        createdAt: l.createdAt,
        expiresAt: l.expiresAt,
        revokedAt: l.revokedAt,
      }));
      return toPage(items, input.limit);
    }),

  revoke: userProcedure.input(z.object({ id: z.uuid() })).mutation(async ({ ctx, input }) => {
    const link = await ctx.db.shareLink.findUnique({ where: { id: input.id } });
    if (!link) throw notFound('share link');
    await loadParent(ctx, link.investigationId, 'editor', 'share link');
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
      orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
      take: 1000,
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
      const { teamId, dictionaryId, graphId } = link.investigation;
      if (!dictionaryId || !graphId || input.keys.length === 0) return [];
      // Only features that appear in the shared graph: a link does not open the team's whole label book.
      const shown = await ctx.db.graphNode.findMany({
        where: {
          graphId,
          OR: input.keys.map((k) => ({ layer: k.layer, featureIndex: k.featureIndex })),
        },
        select: { layer: true, featureIndex: true },
        distinct: ['layer', 'featureIndex'],
      });
      if (shown.length === 0) return [];
      return ctx.db.featureAnnotation.findMany({
        where: {
          teamId,
          dictionaryId,
          OR: shown.map((k) => ({ layer: k.layer as number, featureIndex: k.featureIndex as number })),
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
