import { TRPCError } from '@trpc/server';
import { notFound, type Context, type Role } from './trpc.ts';

const rank: Record<Role, number> = { viewer: 0, editor: 1, owner: 2 };

/** What every write to a read-only team (the seeded Examples) is told. */
export function readOnlyTeam(): TRPCError {
  return new TRPCError({
    code: 'FORBIDDEN',
    message: 'the Examples team is read-only: copy the investigation to one of your teams to change it',
  });
}

/**
 * The caller's role in `teamId`, at least `min`. A non-member gets NOT_FOUND naming `what`, so guessed ids
 * reveal nothing; a member below `min` gets FORBIDDEN. A read-only team is read by every signed-in user as a
 * viewer, and anything above viewer there is FORBIDDEN for everyone.
 */
export async function requireRole(
  ctx: Pick<Context, 'db'> & { userId: string },
  teamId: string,
  min: Role,
  what = 'team',
): Promise<Role> {
  const team = await ctx.db.team.findUnique({
    where: { id: teamId },
    select: { readOnly: true, members: { where: { userId: ctx.userId }, select: { role: true } } },
  });
  if (!team) throw notFound(what);
  if (team.readOnly) {
    if (min !== 'viewer') throw readOnlyTeam();
    return 'viewer';
  }
  const m = team.members[0];
  if (!m) throw notFound(what);
  const role = m.role as Role;
  if (rank[role] < rank[min]) {
    throw new TRPCError({ code: 'FORBIDDEN', message: `this needs the ${min} role; you are ${role}` });
  }
  return role;
}

/** Refuses changes to the membership of a read-only team, which has none to change. */
export async function refuseIfReadOnly(ctx: Pick<Context, 'db'>, teamId: string): Promise<void> {
  const team = await ctx.db.team.findUnique({ where: { id: teamId }, select: { readOnly: true } });
  if (team?.readOnly) throw readOnlyTeam();
}
