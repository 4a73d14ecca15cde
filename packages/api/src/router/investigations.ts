import type { Prisma } from '@loupe/db';
import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { requireRole } from '../access.ts';
import { channels } from '../bus.ts';
import { record } from '../history.ts';
import { announce, loadInvestigation } from '../investigation-access.ts';
import { pageArgs, pageInput, toPage } from '../pagination.ts';
import { conflict, notFound, router, userProcedure } from '../trpc.ts';
import type { ChangeEvent } from './catalog.ts';

const nodeId = z.string().min(1).max(200);

// The editable state of an investigation; history snapshots hold exactly these fields.
const editable = z.object({
  title: z.string().trim().min(1).max(300),
  prompt: z.string().max(20_000),
  modelId: z.uuid().nullable(),
  dictionaryId: z.uuid().nullable(),
  graphId: z.uuid().nullable(),
  pinnedNodes: z.array(nodeId).max(10_000),
  supernodes: z
    .array(
      z.object({
        id: z.string().min(1).max(100),
        name: z.string().max(300),
        nodeIds: z.array(nodeId).max(10_000),
      }),
    )
    .max(1_000),
  nodeLabels: z.record(nodeId, z.string().max(500)),
  thresholds: z.object({
    node: z.number().min(0).max(1).optional(),
    edge: z.number().min(0).max(1).optional(),
  }),
  notes: z.string().max(1_000_000),
});

type Editable = z.infer<typeof editable>;
type InvestigationRow = Prisma.InvestigationGetPayload<object>;

function snapshot(inv: InvestigationRow): Editable & { version: number } {
  return {
    title: inv.title,
    prompt: inv.prompt,
    modelId: inv.modelId,
    dictionaryId: inv.dictionaryId,
    graphId: inv.graphId,
    pinnedNodes: inv.pinnedNodes as string[],
    supernodes: inv.supernodes as Editable['supernodes'],
    nodeLabels: inv.nodeLabels as Record<string, string>,
    thresholds: inv.thresholds as Editable['thresholds'],
    notes: inv.notes,
    version: inv.version,
  };
}

function publicInvestigation(inv: InvestigationRow) {
  return {
    id: inv.id,
    teamId: inv.teamId,
    createdById: inv.createdById,
    createdAt: inv.createdAt,
    updatedAt: inv.updatedAt,
    ...snapshot(inv),
  };
}

/** A referenced graph/model/dictionary must belong to the investigation's team. */
async function checkRefs(
  db: Prisma.TransactionClient,
  teamId: string,
  refs: { graphId?: string | null; modelId?: string | null; dictionaryId?: string | null },
) {
  if (
    refs.graphId &&
    !(await db.graph.findFirst({ where: { id: refs.graphId, teamId }, select: { id: true } }))
  ) {
    throw notFound('graph');
  }
  if (
    refs.modelId &&
    !(await db.model.findFirst({ where: { id: refs.modelId, teamId }, select: { id: true } }))
  ) {
    throw notFound('model');
  }
  if (
    refs.dictionaryId &&
    !(await db.dictionary.findFirst({ where: { id: refs.dictionaryId, teamId }, select: { id: true } }))
  ) {
    throw notFound('dictionary');
  }
}

/** Applies `patch` if the row is still at `version`; CONFLICT otherwise. Records history in the same transaction. */
async function applyPatch(
  db: import('@loupe/db').PrismaClient,
  inv: InvestigationRow,
  version: number,
  patch: Partial<Editable>,
  actorId: string,
  action: string,
) {
  return db.$transaction(async (tx) => {
    await checkRefs(tx, inv.teamId, patch);
    const { count } = await tx.investigation.updateMany({
      where: { id: inv.id, version },
      data: { ...patch, version: { increment: 1 } },
    });
    if (count === 0) throw conflict('investigation');
    const saved = await tx.investigation.findUniqueOrThrow({ where: { id: inv.id } });
    await record(tx, {
      teamId: inv.teamId,
      entityType: 'investigation',
      entityId: inv.id,
      action,
      actorId,
      snapshot: snapshot(saved),
    });
    return saved;
  });
}

export const investigationsRouter = router({
  create: userProcedure
    .input(
      z.object({
        teamId: z.uuid(),
        title: editable.shape.title,
        prompt: editable.shape.prompt,
        modelId: z.uuid().optional(),
        dictionaryId: z.uuid().optional(),
        graphId: z.uuid().optional(),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      await requireRole(ctx, input.teamId, 'editor');
      const inv = await ctx.db.$transaction(async (tx) => {
        await checkRefs(tx, input.teamId, input);
        const created = await tx.investigation.create({ data: { ...input, createdById: ctx.userId } });
        await record(tx, {
          teamId: input.teamId,
          entityType: 'investigation',
          entityId: created.id,
          action: 'create',
          actorId: ctx.userId,
          snapshot: snapshot(created),
        });
        return created;
      });
      return publicInvestigation(inv);
    }),

  get: userProcedure.input(z.object({ id: z.uuid() })).query(async ({ ctx, input }) => {
    const { inv } = await loadInvestigation(ctx, input.id, 'viewer');
    return publicInvestigation(inv);
  }),

  list: userProcedure.input(z.object({ teamId: z.uuid(), ...pageInput })).query(async ({ ctx, input }) => {
    await requireRole(ctx, input.teamId, 'viewer');
    const rows = await ctx.db.investigation.findMany({
      where: { teamId: input.teamId },
      orderBy: [{ updatedAt: 'desc' }, { id: 'desc' }],
      select: {
        id: true,
        title: true,
        prompt: true,
        graphId: true,
        updatedAt: true,
        createdAt: true,
        version: true,
      },
      ...pageArgs(input),
    });
    return toPage(rows, input.limit);
  }),

  update: userProcedure
    .input(z.object({ id: z.uuid(), version: z.number().int().min(1), patch: editable.partial() }))
    .mutation(async ({ ctx, input }) => {
      const { inv } = await loadInvestigation(ctx, input.id, 'editor');
      const saved = await applyPatch(ctx.db, inv, input.version, input.patch, ctx.userId, 'update');
      announce(ctx.bus, inv.id, {
        entityType: 'investigation',
        entityId: inv.id,
        action: 'update',
        actorId: ctx.userId,
        version: saved.version,
      });
      return publicInvestigation(saved);
    }),

  delete: userProcedure
    .input(z.object({ id: z.uuid(), version: z.number().int().min(1) }))
    .mutation(async ({ ctx, input }) => {
      const { inv } = await loadInvestigation(ctx, input.id, 'editor');
      await ctx.db.$transaction(async (tx) => {
        const { count } = await tx.investigation.deleteMany({
          where: { id: inv.id, version: input.version },
        });
        if (count === 0) throw conflict('investigation');
        await record(tx, {
          teamId: inv.teamId,
          entityType: 'investigation',
          entityId: inv.id,
          action: 'delete',
          actorId: ctx.userId,
          snapshot: snapshot(inv),
        });
      });
      announce(ctx.bus, inv.id, {
        entityType: 'investigation',
        entityId: inv.id,
        action: 'delete',
        actorId: ctx.userId,
        version: inv.version,
      });
      return { ok: true as const };
    }),

  history: userProcedure.input(z.object({ id: z.uuid(), ...pageInput })).query(async ({ ctx, input }) => {
    await loadInvestigation(ctx, input.id, 'viewer');
    const rows = await ctx.db.historyEntry.findMany({
      where: { entityId: input.id },
      orderBy: [{ seq: 'desc' }],
      ...pageArgs(input),
    });
    return toPage(rows, input.limit);
  }),

  restore: userProcedure
    .input(z.object({ id: z.uuid(), historyId: z.uuid(), version: z.number().int().min(1) }))
    .mutation(async ({ ctx, input }) => {
      const { inv } = await loadInvestigation(ctx, input.id, 'editor');
      const entry = await ctx.db.historyEntry.findFirst({
        where: { id: input.historyId, entityType: 'investigation', entityId: inv.id },
      });
      if (!entry) throw notFound('history entry');
      const parsed = editable.safeParse(entry.snapshot);
      if (!parsed.success) {
        throw new TRPCError({
          code: 'INTERNAL_SERVER_ERROR',
          message: 'history entry has an unreadable snapshot',
        });
      }
      // A graph deleted since cannot be restored as a reference; keep the rest of the state.
      const graphGone =
        parsed.data.graphId &&
        !(await ctx.db.graph.findFirst({ where: { id: parsed.data.graphId, teamId: inv.teamId } }));
      const patch = graphGone ? { ...parsed.data, graphId: null } : parsed.data;
      const saved = await applyPatch(ctx.db, inv, input.version, patch, ctx.userId, `restore:${entry.seq}`);
      announce(ctx.bus, inv.id, {
        entityType: 'investigation',
        entityId: inv.id,
        action: 'restore',
        actorId: ctx.userId,
        version: saved.version,
      });
      return publicInvestigation(saved);
    }),

  onChange: userProcedure.input(z.object({ id: z.uuid() })).subscription(async function* ({
    ctx,
    input,
    signal,
  }) {
    await loadInvestigation(ctx, input.id, 'viewer');
    yield* ctx.bus.listen<ChangeEvent>(channels.investigation(input.id), signal);
  }),
});

export { publicInvestigation };
