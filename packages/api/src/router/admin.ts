import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { provisionWorkerToken } from '../auth.ts';
import { type JobKind, jobKinds } from '../jobs/contract.ts';
import { pageArgs, pageInput, toPage } from '../pagination.ts';
import { adminProcedure, router } from '../trpc.ts';

const tokenListInput = z.object({ includeRevoked: z.boolean().default(false), ...pageInput });

/** Instance administration: the worker tokens that may claim every team's jobs. */
export const adminRouter = router({
  workerTokens: adminProcedure.input(tokenListInput.optional()).query(async ({ ctx, input }) => {
    const page = tokenListInput.parse(input ?? {});
    const rows = await ctx.db.apiToken.findMany({
      where: { scope: 'worker', ...(page.includeRevoked ? {} : { revokedAt: null }) },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      ...pageArgs(page),
    });
    const items = rows.map((r) => ({
      id: r.id,
      name: r.name,
      kinds: (r.kinds as string[] | null) ?? null,
      createdAt: r.createdAt,
      lastUsedAt: r.lastUsedAt,
      revokedAt: r.revokedAt,
    }));
    return toPage(items, page.limit);
  }),

  /** A worker token limited to `kinds` (every kind when omitted); the secret is shown once. */
  createWorkerToken: adminProcedure
    .input(
      z.object({
        name: z.string().trim().min(1).max(100),
        kinds: z
          .array(z.enum(jobKinds as [JobKind, ...JobKind[]]))
          .min(1)
          .max(jobKinds.length)
          .optional(),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      return { token: await provisionWorkerToken(ctx.db, input.name, input.kinds) };
    }),

  revokeWorkerToken: adminProcedure.input(z.object({ id: z.uuid() })).mutation(async ({ ctx, input }) => {
    const { count } = await ctx.db.apiToken.updateMany({
      where: { id: input.id, scope: 'worker', revokedAt: null },
      data: { revokedAt: new Date() },
    });
    if (count === 0) throw new TRPCError({ code: 'NOT_FOUND', message: 'worker token not found' });
    return { ok: true as const };
  }),
});
