import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { requireRole } from '../access.ts';
import { checkCatalogRefs } from '../catalog-access.ts';
import { getJsonBlob } from '../blob.ts';
import { graphJson, publicGraph, storeGraph } from '../graph-store.ts';
import { pageArgs, pageInput, toPage } from '../pagination.ts';
import { notFound, router, userProcedure } from '../trpc.ts';

async function readableGraph(ctx: { db: import('@loupe/db').PrismaClient; userId: string }, graphId: string) {
  const g = await ctx.db.graph.findUnique({ where: { id: graphId } });
  if (!g) throw notFound('graph');
  await requireRole(ctx, g.teamId, 'viewer', 'graph');
  return g;
}

export const graphsRouter = router({
  create: userProcedure
    .input(
      z.object({
        teamId: z.uuid(),
        prompt: z.string().max(20_000),
        modelId: z.uuid().optional(),
        dictionaryId: z.uuid().optional(),
        slug: z.string().max(200).optional(),
        graph: graphJson,
      }),
    )
    .mutation(async ({ ctx, input }) => {
      await requireRole(ctx, input.teamId, 'editor');
      await checkCatalogRefs(ctx.db, input.teamId, input);
      try {
        const g = await ctx.db.$transaction(
          (tx) => storeGraph(tx, { ...input, createdById: ctx.userId }, input.graph),
          { timeout: 120_000 },
        );
        return publicGraph(g);
      } catch (err) {
        if ((err as Error).message.startsWith('graph has duplicate')) {
          throw new TRPCError({ code: 'BAD_REQUEST', message: (err as Error).message });
        }
        throw err;
      }
    }),

  get: userProcedure.input(z.object({ graphId: z.uuid() })).query(async ({ ctx, input }) => {
    return publicGraph(await readableGraph(ctx, input.graphId));
  }),

  payload: userProcedure.input(z.object({ graphId: z.uuid() })).query(async ({ ctx, input }) => {
    const g = await readableGraph(ctx, input.graphId);
    return { graph: (await getJsonBlob(ctx.db, g.blobId)) as z.infer<typeof graphJson> };
  }),

  nodes: userProcedure
    .input(
      z.object({
        graphId: z.uuid(),
        layer: z.number().int().min(0).optional(),
        kind: z.string().max(50).optional(),
        offset: z.number().int().min(0).max(1_000_000).default(0),
        limit: pageInput.limit,
      }),
    )
    .query(async ({ ctx, input }) => {
      await readableGraph(ctx, input.graphId);
      const rows = await ctx.db.graphNode.findMany({
        where: {
          graphId: input.graphId,
          ...(input.layer !== undefined ? { layer: input.layer } : {}),
          ...(input.kind ? { kind: input.kind } : {}),
        },
        orderBy: [{ influence: { sort: 'desc', nulls: 'last' } }, { nodeId: 'asc' }],
        skip: input.offset,
        take: input.limit + 1,
      });
      const more = rows.length > input.limit;
      return {
        items: rows.slice(0, input.limit),
        nextOffset: more ? input.offset + input.limit : null,
      };
    }),

  list: userProcedure.input(z.object({ teamId: z.uuid(), ...pageInput })).query(async ({ ctx, input }) => {
    await requireRole(ctx, input.teamId, 'viewer');
    const rows = await ctx.db.graph.findMany({
      where: { teamId: input.teamId },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      ...pageArgs(input),
    });
    return toPage(rows.map(publicGraph), input.limit);
  }),
});
