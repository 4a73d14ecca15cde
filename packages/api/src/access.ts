import { TRPCError } from '@trpc/server';
import { notFound, type Context, type Role } from './trpc.ts';

const rank: Record<Role, number> = { viewer: 0, editor: 1, owner: 2 };

/**
 * The caller's role in `teamId`, at least `min`. A non-member gets NOT_FOUND naming `what`, so guessed ids
 * reveal nothing; a member below `min` gets FORBIDDEN.
 */
export async function requireRole(
  ctx: Pick<Context, 'db'> & { userId: string },
  teamId: string,
  min: Role,
  what = 'team',
): Promise<Role> {
  const m = await ctx.db.membership.findUnique({ where: { teamId_userId: { teamId, userId: ctx.userId } } });
  if (!m) throw notFound(what);
  const role = m.role as Role;
  if (rank[role] < rank[min]) {
    throw new TRPCError({ code: 'FORBIDDEN', message: `this needs the ${min} role; you are ${role}` });
  }
  return role;
}
