import type { Prisma } from '@loupe/db';
import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { requireRole } from '../access.ts';
import { channels } from '../bus.ts';
import { checkCatalogRefs } from '../catalog-access.ts';
import { attributionOptions } from '../jobs/contract.ts';
import { createJob } from '../jobs/enqueue.ts';
import { publicJob, publish } from '../jobs/public.ts';
import { record } from '../history.ts';
import { announce, loadInvestigation } from '../investigation-access.ts';
import { pageArgs, pageInput, toPage } from '../pagination.ts';
import { conflict, notFound, router, userProcedure } from '../trpc.ts';
import type { ChangeEvent } from './catalog.ts';
import { recordWithin } from '../caps.ts';

const nodeId = z.string().min(1).max(200);
/** Node labels of one investigation: a graph's feature nodes are pruned to far fewer. */
export const maxNodeLabels = 10_000;

/**
 * A supernode: an id, a name and at most 10,000 members, at most 1,000 per investigation. The Examples seed's
 * members are feature keys, an investigation's node ids; a seed's supernodes become an investigation's one for
 * one, so both are bounded here.
 */
export const supernodeFields = { id: z.string().min(1).max(100), name: z.string().max(300) };
export const supernodeMembers = <M extends z.ZodType>(member: M) => z.array(member).max(10_000);
export const maxSupernodes = 1_000;

// The editable state of an investigation; history snapshots hold exactly these fields.
const editable = z.object({
  title: z.string().trim().min(1).max(300),
  prompt: z.string().max(20_000),
  modelId: z.uuid().nullable(),
  dictionaryId: z.uuid().nullable(),
  graphId: z.uuid().nullable(),
  pinnedNodes: z.array(nodeId).max(10_000),
  supernodes: z.array(z.object({ ...supernodeFields, nodeIds: supernodeMembers(nodeId) })).max(maxSupernodes),
  nodeLabels: recordWithin(z.record(nodeId, z.string().max(500)), maxNodeLabels, 'node labels'),
  thresholds: z.object({
    node: z.number().min(0).max(1).optional(),
    edge: z.number().min(0).max(1).optional(),
  }),
  notes: z.string().max(1_000_000),
  /** Ids of the automatic first pass's proposed supernodes someone accepted or discarded: not offered again. */
  reviewedSuggestions: z.array(z.string().min(1).max(100)).max(10_000),
});

type Editable = z.infer<typeof editable>;
// Snapshots recorded before suggestions were reviewed have none reviewed.
const restorable = editable.extend({ reviewedSuggestions: editable.shape.reviewedSuggestions.default([]) });
type InvestigationRow = Prisma.InvestigationGetPayload<object>;

export function snapshot(inv: InvestigationRow): Editable & { version: number } {
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
    reviewedSuggestions: inv.reviewedSuggestions as string[],
    version: inv.version,
  };
}

/** The history entry of an investigation's change: its team, its id and the state after it. */
function recordInvestigation(
  tx: Pick<Prisma.TransactionClient, 'historyEntry'>,
  inv: InvestigationRow,
  action: string,
  actorId: string,
) {
  return record(tx, {
    teamId: inv.teamId,
    entityType: 'investigation',
    entityId: inv.id,
    action,
    actorId,
    snapshot: snapshot(inv),
  });
}

function publicInvestigation(inv: InvestigationRow) {
  return {
    id: inv.id,
    teamId: inv.teamId,
    createdById: inv.createdById,
    createdAt: inv.createdAt,
    updatedAt: inv.updatedAt,
    updatedById: inv.updatedById,
    /** The attribute job tracing the prompt; graphId is set when it succeeds. */
    traceJobId: inv.traceJobId,
    ...snapshot(inv),
  };
}

/** A referenced graph must be the team's; a model or dictionary the team's own or an instance one. */
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
  await checkCatalogRefs(db, teamId, refs);
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
      data: { ...patch, updatedById: actorId, version: { increment: 1 } },
    });
    if (count === 0) throw conflict('investigation');
    const saved = await tx.investigation.findUniqueOrThrow({ where: { id: inv.id } });
    await recordInvestigation(tx, saved, action, actorId);
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
        const created = await tx.investigation.create({
          data: { ...input, createdById: ctx.userId, updatedById: ctx.userId },
        });
        await recordInvestigation(tx, created, 'create', ctx.userId);
        return created;
      });
      return publicInvestigation(inv);
    }),

  get: userProcedure.input(z.object({ id: z.uuid() })).query(async ({ ctx, input }) => {
    const { inv } = await loadInvestigation(ctx, input.id, 'viewer');
    return publicInvestigation(inv);
  }),

  /**
   * The team's investigations, most recently changed first, with who changed them last: optionally only those
   * whose title or prompt contains `text` (case-insensitive) and only those on `modelId`.
   */
  list: userProcedure
    .input(
      z.object({
        teamId: z.uuid(),
        text: z.string().trim().min(1).max(200).optional(),
        modelId: z.uuid().optional(),
        ...pageInput,
      }),
    )
    .query(async ({ ctx, input }) => {
      await requireRole(ctx, input.teamId, 'viewer');
      const text = input.text
        ? {
            OR: [
              { title: { contains: input.text, mode: 'insensitive' as const } },
              { prompt: { contains: input.text, mode: 'insensitive' as const } },
            ],
          }
        : {};
      const rows = await ctx.db.investigation.findMany({
        where: { teamId: input.teamId, ...(input.modelId ? { modelId: input.modelId } : {}), ...text },
        orderBy: [{ updatedAt: 'desc' }, { id: 'desc' }],
        select: {
          id: true,
          title: true,
          prompt: true,
          modelId: true,
          dictionaryId: true,
          graphId: true,
          traceJobId: true,
          updatedById: true,
          updatedAt: true,
          createdAt: true,
          version: true,
        },
        ...pageArgs(input),
      });
      const page = toPage(rows, input.limit);
      const ids = [...new Set(page.items.flatMap((r) => (r.updatedById ? [r.updatedById] : [])))];
      const users = await ctx.db.user.findMany({
        where: { id: { in: ids } },
        select: { id: true, name: true },
      });
      const names = new Map(users.map((u) => [u.id, u.name]));
      return {
        items: page.items.map((r) => ({
          ...r,
          updatedBy: r.updatedById ? { id: r.updatedById, name: names.get(r.updatedById) ?? '' } : null,
        })),
        nextCursor: page.nextCursor,
      };
    }),

  /**
   * Creates an investigation and enqueues the attribute job that traces its prompt; when the job succeeds its
   * graph is linked to the investigation (graphId set, version bumped, a change announced on its channel).
   */
  trace: userProcedure
    .input(
      z.object({
        teamId: z.uuid(),
        title: editable.shape.title,
        prompt: z.string().min(1).max(20_000),
        modelId: z.uuid(),
        dictionaryId: z.uuid(),
        options: attributionOptions.partial().default({}),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      await requireRole(ctx, input.teamId, 'editor');
      const { inv, job } = await ctx.db.$transaction(async (tx) => {
        const job = await createJob(tx, {
          teamId: input.teamId,
          kind: 'attribute',
          params: {
            modelId: input.modelId,
            dictionaryId: input.dictionaryId,
            prompt: input.prompt,
            ...input.options,
          },
          createdById: ctx.userId,
        });
        const created = await tx.investigation.create({
          data: {
            teamId: input.teamId,
            title: input.title,
            prompt: input.prompt,
            modelId: input.modelId,
            dictionaryId: input.dictionaryId,
            traceJobId: job.id,
            createdById: ctx.userId,
            updatedById: ctx.userId,
          },
        });
        await recordInvestigation(tx, created, 'create', ctx.userId);
        return { inv: created, job };
      });
      publish(ctx.bus, job);
      return { investigation: publicInvestigation(inv), job: publicJob(job) };
    }),

  /**
   * A copy of an investigation the caller can read (an Examples one, say) in a team where they edit: its
   * state and experiments. The graph comes along when it is the target team's; otherwise its prompt is traced
   * again there, and the supernodes find their members by node id in the new trace.
   */
  copy: userProcedure.input(z.object({ id: z.uuid(), teamId: z.uuid() })).mutation(async ({ ctx, input }) => {
    const { inv: source } = await loadInvestigation(ctx, input.id, 'viewer');
    await requireRole(ctx, input.teamId, 'editor');
    const { inv, job } = await ctx.db.$transaction(async (tx) => {
      const { graphId, version: _, ...state } = snapshot(source);
      await checkCatalogRefs(tx, input.teamId, state);
      const sameTeam = source.teamId === input.teamId;
      const job =
        !sameTeam && state.modelId && state.dictionaryId && state.prompt
          ? await createJob(tx, {
              teamId: input.teamId,
              kind: 'attribute',
              params: { modelId: state.modelId, dictionaryId: state.dictionaryId, prompt: state.prompt },
              createdById: ctx.userId,
            })
          : null;
      const experiments = await tx.experiment.findMany({ where: { investigationId: source.id } });
      const created = await tx.investigation.create({
        data: {
          ...state,
          teamId: input.teamId,
          graphId: sameTeam ? graphId : null,
          traceJobId: job?.id ?? null,
          createdById: ctx.userId,
          updatedById: ctx.userId,
          experiments: {
            create: experiments.map((e) => ({
              name: e.name,
              spec: e.spec as Prisma.InputJsonValue,
              result: (e.result ?? undefined) as Prisma.InputJsonValue | undefined,
              createdById: ctx.userId,
            })),
          },
        },
      });
      await recordInvestigation(tx, created, 'create', ctx.userId);
      return { inv: created, job };
    });
    if (job) publish(ctx.bus, job);
    return { investigation: publicInvestigation(inv), job: job ? publicJob(job) : null };
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
        await recordInvestigation(tx, inv, 'delete', ctx.userId);
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
      const parsed = restorable.safeParse(entry.snapshot);
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
    // When this process may have missed changes (its bus was reconnecting), the subscriber is told to reload.
    const missed: ChangeEvent = {
      entityType: 'investigation',
      entityId: input.id,
      action: 'missed',
      actorId: null,
      version: 0,
      at: new Date().toISOString(),
    };
    yield* ctx.bus.listen<ChangeEvent>(channels.investigation(input.id), signal, missed);
  }),
});

export { publicInvestigation };
