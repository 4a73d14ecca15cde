import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { refuseIfReadOnly, requireRole } from '../access.ts';
import { rotateSession } from '../auth.ts';
import { newBearerLink } from '../bearer-link.ts';
import { claimInvite } from '../invites.ts';
import { pageArgs, pageInput, toPage } from '../pagination.ts';
import { conflict, type Role, router, userProcedure } from '../trpc.ts';

const role = z.enum(['owner', 'editor', 'viewer']);
const teamId = z.uuid();
/**
 * Lists the settings page shows whole answer plain arrays of at most `limit` rows after the row named by
 * `cursor`; a full page means the next one may hold more.
 */
const teamArrayPage = z.object({
  teamId,
  cursor: z.uuid().optional(),
  limit: z.number().int().min(1).max(200).default(100),
});

/** findMany arguments for one such array page: `limit` rows after the row whose unique `key` is `cursor`. */
function afterCursor<K>(
  limit: number,
  cursor: string | undefined,
  key: (cursor: string) => K,
): { take: number; cursor?: K; skip?: number } {
  return cursor === undefined ? { take: limit } : { take: limit, cursor: key(cursor), skip: 1 };
}

const teamFields = { id: true, name: true, createdAt: true, version: true, readOnly: true } as const;

export const teamsRouter = router({
  create: userProcedure
    .input(z.object({ name: z.string().trim().min(1).max(100) }))
    .mutation(async ({ ctx, input }) => {
      return ctx.db.team.create({
        data: { name: input.name, members: { create: { userId: ctx.userId, role: 'owner' } } },
        select: teamFields,
      });
    }),

  /** The caller's teams, oldest membership first, then the read-only teams every user reads (Examples). */
  list: userProcedure.query(async ({ ctx }) => {
    const [rows, readOnly] = await Promise.all([
      ctx.db.membership.findMany({
        where: { userId: ctx.userId, team: { readOnly: false } },
        include: { team: { select: teamFields } },
        orderBy: { createdAt: 'asc' },
      }),
      ctx.db.team.findMany({ where: { readOnly: true }, select: teamFields, orderBy: { createdAt: 'asc' } }),
    ]);
    return [
      ...rows.map((m) => ({ ...m.team, role: m.role as Role })),
      ...readOnly.map((t) => ({ ...t, role: 'viewer' as Role })),
    ];
  }),

  get: userProcedure.input(z.object({ teamId })).query(async ({ ctx, input }) => {
    const r = await requireRole(ctx, input.teamId, 'viewer');
    const team = await ctx.db.team.findUniqueOrThrow({ where: { id: input.teamId }, select: teamFields });
    return { ...team, role: r };
  }),

  rename: userProcedure
    .input(z.object({ teamId, name: z.string().trim().min(1).max(100), version: z.number().int().min(1) }))
    .mutation(async ({ ctx, input }) => {
      await requireRole(ctx, input.teamId, 'owner');
      const { count } = await ctx.db.team.updateMany({
        where: { id: input.teamId, version: input.version },
        data: { name: input.name, version: { increment: 1 } },
      });
      if (count === 0) throw conflict('team');
      return ctx.db.team.findUniqueOrThrow({
        where: { id: input.teamId },
        select: teamFields,
      });
    }),

  /** At most `limit` members, oldest first; the next page starts after `cursor` (the last member's userId). */
  members: userProcedure.input(teamArrayPage).query(async ({ ctx, input }) => {
    await requireRole(ctx, input.teamId, 'viewer');
    const rows = await ctx.db.membership.findMany({
      where: { teamId: input.teamId },
      include: { user: { select: { email: true, name: true } } },
      orderBy: [{ createdAt: 'asc' }, { userId: 'asc' }],
      ...afterCursor(input.limit, input.cursor, (userId) => ({
        teamId_userId: { teamId: input.teamId, userId },
      })),
    });
    return rows.map((m) => ({
      userId: m.userId,
      email: m.user.email,
      name: m.user.name,
      role: m.role as Role,
    }));
  }),

  setRole: userProcedure
    .input(z.object({ teamId, userId: z.uuid(), role }))
    .mutation(async ({ ctx, input }) => {
      await requireRole(ctx, input.teamId, 'owner');
      await ctx.db.$transaction(async (tx) => {
        const m = await tx.membership.findUnique({
          where: { teamId_userId: { teamId: input.teamId, userId: input.userId } },
        });
        if (!m) throw new TRPCError({ code: 'NOT_FOUND', message: 'member not found' });
        if (m.role === 'owner' && input.role !== 'owner') {
          const owners = await tx.membership.count({ where: { teamId: input.teamId, role: 'owner' } });
          if (owners <= 1)
            throw new TRPCError({ code: 'BAD_REQUEST', message: 'a team needs at least one owner' });
        }
        await tx.membership.update({
          where: { teamId_userId: { teamId: input.teamId, userId: input.userId } },
          data: { role: input.role },
        });
      });
      return { ok: true as const };
    }),

  removeMember: userProcedure
    .input(z.object({ teamId, userId: z.uuid() }))
    .mutation(async ({ ctx, input }) => {
      // Leaving needs only a viewer's role, which every user has in a read-only team: refuse that first.
      await refuseIfReadOnly(ctx, input.teamId);
      await requireRole(ctx, input.teamId, input.userId === ctx.userId ? 'viewer' : 'owner');
      await ctx.db.$transaction(async (tx) => {
        const m = await tx.membership.findUnique({
          where: { teamId_userId: { teamId: input.teamId, userId: input.userId } },
        });
        if (!m) throw new TRPCError({ code: 'NOT_FOUND', message: 'member not found' });
        if (m.role === 'owner') {
          const owners = await tx.membership.count({ where: { teamId: input.teamId, role: 'owner' } });
          if (owners <= 1)
            throw new TRPCError({ code: 'BAD_REQUEST', message: 'a team needs at least one owner' });
        }
        await tx.membership.delete({
          where: { teamId_userId: { teamId: input.teamId, userId: input.userId } },
        });
      });
      return { ok: true as const };
    }),

  createInvite: userProcedure
    .input(
      z.object({
        teamId,
        role,
        expiresInHours: z
          .number()
          .positive()
          .max(24 * 365)
          .optional(),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      await requireRole(ctx, input.teamId, 'owner');
      const { token, tokenHash, expiresAt } = newBearerLink('lpi_', input.expiresInHours);
      const invite = await ctx.db.invite.create({
        data: { teamId: input.teamId, role: input.role, tokenHash, createdById: ctx.userId, expiresAt },
      });
      return { id: invite.id, token };
    }),

  history: userProcedure
    .input(
      z.object({
        teamId,
        entityType: z.enum(['investigation', 'comment', 'experiment', 'feature']).optional(),
        ...pageInput,
      }),
    )
    .query(async ({ ctx, input }) => {
      await requireRole(ctx, input.teamId, 'viewer');
      const rows = await ctx.db.historyEntry.findMany({
        where: { teamId: input.teamId, ...(input.entityType ? { entityType: input.entityType } : {}) },
        orderBy: [{ seq: 'desc' }],
        ...pageArgs(input),
      });
      return toPage(rows, input.limit);
    }),

  /** At most `limit` invites, newest first; the next page starts after `cursor` (the last invite's id). */
  listInvites: userProcedure.input(teamArrayPage).query(async ({ ctx, input }) => {
    await requireRole(ctx, input.teamId, 'owner');
    const rows = await ctx.db.invite.findMany({
      where: { teamId: input.teamId },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      ...afterCursor(input.limit, input.cursor, (id) => ({ id })),
    });
    return rows.map((i) => ({
      id: i.id,
      role: i.role as Role,
      createdAt: i.createdAt,
      expiresAt: i.expiresAt,
      revokedAt: i.revokedAt,
      usedAt: i.usedAt,
    }));
  }),

  revokeInvite: userProcedure
    .input(z.object({ teamId, inviteId: z.uuid() }))
    .mutation(async ({ ctx, input }) => {
      await requireRole(ctx, input.teamId, 'owner');
      const { count } = await ctx.db.invite.updateMany({
        where: { id: input.inviteId, teamId: input.teamId, revokedAt: null },
        data: { revokedAt: new Date() },
      });
      if (count === 0) throw new TRPCError({ code: 'NOT_FOUND', message: 'invite not found' });
      return { ok: true as const };
    }),

  acceptInvite: userProcedure
    .input(z.object({ token: z.string().min(10).max(200) }))
    .mutation(async ({ ctx, input }) => {
      const joined = await ctx.db.$transaction((tx) => claimInvite(tx, input.token, ctx.userId));
      // Joining a team is a privilege change: the session that gained it gets a fresh id.
      await rotateSession(ctx);
      return joined;
    }),
});
