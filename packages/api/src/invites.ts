import type { Prisma } from '@loupe/db';
import { TRPCError } from '@trpc/server';
import { digest } from './auth.ts';
import type { Role } from './trpc.ts';

function deadInvite(): TRPCError {
  return new TRPCError({ code: 'NOT_FOUND', message: 'invite is invalid, used, revoked or expired' });
}

/**
 * Spends the invite `token` for `userId` inside `tx` and returns the membership it grants (an existing membership
 * is kept as it is). Unknown, used, revoked and expired invites all look the same.
 */
export async function claimInvite(
  tx: Prisma.TransactionClient,
  token: string,
  userId: string,
): Promise<{ teamId: string; role: Role }> {
  const invite = await tx.invite.findUnique({ where: { tokenHash: digest(token) } });
  const dead =
    !invite ||
    invite.revokedAt ||
    invite.usedAt ||
    (invite.expiresAt && invite.expiresAt.getTime() <= Date.now());
  if (dead) throw deadInvite();
  // Claim the invite first: a concurrent accept of the same token updates 0 rows and fails.
  const { count } = await tx.invite.updateMany({
    where: { id: invite.id, usedAt: null },
    data: { usedAt: new Date(), usedById: userId },
  });
  if (count === 0) throw deadInvite();
  const existing = await tx.membership.findUnique({
    where: { teamId_userId: { teamId: invite.teamId, userId } },
  });
  if (existing) return { teamId: invite.teamId, role: existing.role as Role };
  await tx.membership.create({ data: { teamId: invite.teamId, userId, role: invite.role } });
  return { teamId: invite.teamId, role: invite.role as Role };
}
