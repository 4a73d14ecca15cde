/** Who has an investigation open: heartbeats kept per event bus, shared by every web process on the database. */
import { z } from 'zod';
import { channels, type EventBus } from '../bus.ts';
import { loadInvestigation } from '../investigation-access.ts';
import { router, userProcedure } from '../trpc.ts';

/** A heartbeat older than this no longer counts: a closed tab drops out within seconds without saying so. */
export const presenceTtlMs = 10_000;

type Presence = Map<string, Map<string, { name: string; at: number }>>;

/**
 * A visitor's heartbeat or leave, sent on the bus so every web process on the database keeps the same list.
 * Checked on arrival: on PostgreSQL it comes from another process.
 */
const presenceEvent = z.union([
  z.object({ investigationId: z.string(), userId: z.string(), name: z.string(), at: z.number() }),
  z.object({ investigationId: z.string(), userId: z.string(), left: z.literal(true) }),
]);

/**
 * Who has each investigation open, kept in memory beside the bus that serves it and fed by its presence events.
 * A process that starts late learns of each visitor at their next heartbeat, well within presenceTtlMs.
 */
const presenceByBus = new WeakMap<EventBus, Presence>();

function presenceStore(bus: EventBus): Presence {
  const known = presenceByBus.get(bus);
  if (known) return known;
  const store: Presence = new Map();
  bus.subscribe(channels.presence, (event) => {
    const parsed = presenceEvent.safeParse(event);
    if (parsed.success) applyPresence(store, parsed.data);
  });
  presenceByBus.set(bus, store);
  return store;
}

function applyPresence(all: Presence, event: z.infer<typeof presenceEvent>): void {
  let here = all.get(event.investigationId);
  if (!here) {
    here = new Map();
    all.set(event.investigationId, here);
  }
  if ('left' in event) here.delete(event.userId);
  else here.set(event.userId, { name: event.name, at: event.at });
}

/** The visitors still within the TTL, first arrival first; stale ones are forgotten on the way. */
function present(bus: EventBus, investigationId: string) {
  const all = presenceStore(bus);
  const here = all.get(investigationId) ?? new Map<string, { name: string; at: number }>();
  const cutoff = Date.now() - presenceTtlMs;
  for (const [userId, v] of here) if (v.at < cutoff) here.delete(userId);
  if (here.size === 0) all.delete(investigationId);
  return [...here].map(([userId, v]) => ({ userId, name: v.name }));
}

/** Tells every process on the bus, this one synchronously, that the visitor beat or left. */
function announcePresence(bus: EventBus, event: z.infer<typeof presenceEvent>): void {
  presenceStore(bus);
  bus.emit(channels.presence, event);
}

const presenceInput = z.object({ investigationId: z.uuid() });

export const presenceRouter = router({
  /** Marks the caller present on the investigation for the next presenceTtlMs and answers who is present. */
  heartbeat: userProcedure.input(presenceInput).mutation(async ({ ctx, input }) => {
    await loadInvestigation(ctx, input.investigationId, 'viewer');
    const user = await ctx.db.user.findUniqueOrThrow({ where: { id: ctx.userId }, select: { name: true } });
    announcePresence(ctx.bus, {
      investigationId: input.investigationId,
      userId: ctx.userId,
      name: user.name,
      at: Date.now(),
    });
    return { present: present(ctx.bus, input.investigationId), ttlMs: presenceTtlMs };
  }),

  /** The caller closed the investigation: gone at once for everyone's next heartbeat. */
  leave: userProcedure.input(presenceInput).mutation(async ({ ctx, input }) => {
    await loadInvestigation(ctx, input.investigationId, 'viewer');
    announcePresence(ctx.bus, { investigationId: input.investigationId, userId: ctx.userId, left: true });
    present(ctx.bus, input.investigationId);
    return { ok: true as const };
  }),
});
