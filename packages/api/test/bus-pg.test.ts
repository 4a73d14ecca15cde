import { createScratchDatabase } from '@loupe/db';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgEventBus } from '../src/bus.ts';
import { createContext } from '../src/context.ts';
import { appRouter, createCallerFactory } from '../src/index.ts';
import { Harness, teamWithRoles } from './harness.ts';

const adminUrl = process.env.TEST_DATABASE_URL;
const createCaller = createCallerFactory(appRouter);

/** The next event on `channel`, or a rejection after `ms`. */
async function nextEvent(bus: PgEventBus, channel: string, ms = 5_000): Promise<unknown> {
  const signal = AbortSignal.timeout(ms);
  for await (const event of bus.listen(channel, signal)) return event;
  throw new Error(`no event on ${channel} within ${ms} ms`);
}

/** Emits on `from` every 100 ms until `to` hears it: the listener may still be reconnecting. */
async function emitUntilHeard(from: PgEventBus, to: PgEventBus, channel: string, event: unknown) {
  const heard = nextEvent(to, channel, 15_000);
  const timer = setInterval(() => from.emit(channel, event), 100);
  try {
    return await heard;
  } finally {
    clearInterval(timer);
  }
}

describe.skipIf(!adminUrl)('PgEventBus across two connections (needs TEST_DATABASE_URL)', () => {
  let scratch: Awaited<ReturnType<typeof createScratchDatabase>>;
  let a: PgEventBus;
  let b: PgEventBus;
  beforeAll(async () => {
    scratch = await createScratchDatabase(adminUrl as string);
    a = await PgEventBus.connect(scratch.url);
    b = await PgEventBus.connect(scratch.url);
  }, 60_000);
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await scratch?.drop();
  });

  it('delivers an event emitted on one bus to a listener on the other, and to its own listeners once', async () => {
    const remote = nextEvent(b, 'investigation:1');
    const local: unknown[] = [];
    const stop = a.subscribe('investigation:1', (e) => local.push(e));
    a.emit('investigation:1', { kind: 'pin', n: 1 });
    expect(await remote).toEqual({ kind: 'pin', n: 1 });
    // A's own listener had it synchronously, and the NOTIFY echo is not delivered a second time.
    await new Promise((r) => setTimeout(r, 300));
    stop();
    expect(local).toEqual([{ kind: 'pin', n: 1 }]);
  });

  it('carries an event larger than one notification, with characters outside the BMP, intact', async () => {
    const big = { text: '🔬é'.repeat(6_000), list: Array.from({ length: 500 }, (_, i) => `"${i}"\n`) };
    const remote = nextEvent(b, 'jobs:team');
    a.emit('jobs:team', big);
    expect(await remote).toEqual(big);
  });

  it('keeps the order of emits and ignores frames that are not the bus’s own', async () => {
    const seen: unknown[] = [];
    const stop = b.subscribe('order', (e) => seen.push(e));
    const client = new pg.Client({ connectionString: scratch.url });
    await client.connect();
    await client.query("SELECT pg_notify('loupe_events', 'not a frame'), pg_notify('loupe_events', $1)", [
      '00000000-0000-0000-0000-000000000000 1 0 1 {not json',
    ]);
    await client.end();
    for (let i = 0; i < 20; i++) a.emit('order', i);
    const deadline = Date.now() + 5_000;
    while (seen.length < 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    stop();
    expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('re-listens after its listening connection is terminated', async () => {
    const admin = new pg.Client({ connectionString: scratch.url });
    await admin.connect();
    const killed = await admin.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE datname = current_database() AND application_name = 'loupe bus listener'`,
    );
    await admin.end();
    expect(killed.rowCount).toBe(2);
    expect(await emitUntilHeard(a, b, 'investigation:2', { after: 'drop' })).toEqual({ after: 'drop' });
    expect(await emitUntilHeard(b, a, 'investigation:2', { back: true })).toEqual({ back: true });
  }, 30_000);

  it('tells a listener that asked for it that events may have been missed, once it listens again', async () => {
    const abort = new AbortController();
    const heard: unknown[] = [];
    const listening = (async () => {
      for await (const event of b.listen('investigation:3', abort.signal, { missed: true })) {
        heard.push(event);
        if ((event as { after?: string }).after === 'reconnect') abort.abort();
      }
    })();
    const admin = new pg.Client({ connectionString: scratch.url });
    await admin.connect();
    await admin.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE datname = current_database() AND application_name = 'loupe bus listener'`,
    );
    await admin.end();
    // Sent while b has no listening connection: it never arrives, and the marker stands in for it.
    a.emit('investigation:3', { lost: true });
    await emitUntilHeard(a, b, 'investigation:3', { after: 'reconnect' });
    await listening;
    const marker = heard.findIndex((e) => (e as { missed?: boolean }).missed === true);
    expect(marker).toBeGreaterThanOrEqual(0);
    expect(marker).toBeLessThan(heard.findIndex((e) => (e as { after?: string }).after === 'reconnect'));
  }, 30_000);
});

describe.skipIf(!adminUrl)('presence across two processes’ buses (needs TEST_DATABASE_URL)', () => {
  let h: Harness;
  let busScratch: Awaited<ReturnType<typeof createScratchDatabase>>;
  let buses: PgEventBus[] = [];
  beforeAll(async () => {
    h = await Harness.open('pg');
    // The buses' own database: notifications are per database, and the harness keeps its URL to itself.
    busScratch = await createScratchDatabase(adminUrl as string);
    buses = [await PgEventBus.connect(busScratch.url), await PgEventBus.connect(busScratch.url)];
  }, 120_000);
  afterAll(async () => {
    for (const bus of buses) await bus.close();
    await busScratch?.drop();
    await h?.close();
  });

  /** A caller as one web process would serve it: the shared database, and that process's bus. */
  function callerOn(bus: PgEventBus, cookie: string) {
    return createCaller(() =>
      createContext({ db: h.db.prisma, bus, headers: new Headers({ cookie }), dataDir: h.dataDir }),
    );
  }

  /**
   * Beats as `caller` until the present users are `want` (in any order), or 5 s pass. The `others` keep beating
   * meanwhile, as their open pages do: a beat sent before the other process listens reaches it with the next one.
   */
  async function presentUntil(
    caller: ReturnType<typeof callerOn>,
    investigationId: string,
    want: string[],
    others: ReturnType<typeof callerOn>[] = [],
  ) {
    const deadline = Date.now() + 5_000;
    let seen: string[] = [];
    while (Date.now() < deadline) {
      for (const other of others) await other.presence.heartbeat({ investigationId });
      seen = (await caller.presence.heartbeat({ investigationId })).present.map((p) => p.userId).sort();
      if (seen.join() === [...want].sort().join()) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    return seen;
  }

  it('lists visitors whose heartbeats went to either process, and drops one who leaves', async () => {
    const fx = await teamWithRoles(h);
    const { id: investigationId } = await fx.owner.caller.investigations.create({
      teamId: fx.team.id,
      title: 'P',
      prompt: 'x',
    });
    const ownerOnA = callerOn(buses[0], fx.owner.cookie);
    const viewerOnB = callerOn(buses[1], fx.viewer.cookie);
    await ownerOnA.presence.heartbeat({ investigationId });
    const both = [fx.owner.userId, fx.viewer.userId].sort();
    expect(await presentUntil(viewerOnB, investigationId, both, [ownerOnA])).toEqual(both);
    expect(await presentUntil(ownerOnA, investigationId, both, [viewerOnB])).toEqual(both);
    await viewerOnB.presence.leave({ investigationId });
    expect(await presentUntil(ownerOnA, investigationId, [fx.owner.userId])).toEqual([fx.owner.userId]);
  }, 30_000);
});
