import type { PrismaClient } from '@loupe/db';
import { requireRole } from './access.ts';
import { channels, type EventBus } from './bus.ts';
import type { ChangeEvent } from './router/catalog.ts';
import { notFound, type Role } from './trpc.ts';

/** The investigation, if the caller has at least `min` in its team; NOT_FOUND otherwise. */
export async function loadInvestigation(ctx: { db: PrismaClient; userId: string }, id: string, min: Role) {
  const inv = await ctx.db.investigation.findUnique({ where: { id } });
  if (!inv) throw notFound('investigation');
  const role = await requireRole(ctx, inv.teamId, min, 'investigation');
  return { inv, role };
}

export function announce(bus: EventBus, investigationId: string, event: Omit<ChangeEvent, 'at'>): void {
  bus.emit(channels.investigation(investigationId), { ...event, at: new Date().toISOString() });
}
