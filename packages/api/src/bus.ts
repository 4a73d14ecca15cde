import { randomUUID } from 'node:crypto';
import { EventEmitter, on } from 'node:events';
import pg from 'pg';
import { z } from 'zod';

/**
 * In-process fan-out of change events to subscriptions: enough when one process serves every subscriber (the
 * embedded PGlite setup). `PgEventBus` carries the same events between processes on one PostgreSQL.
 */
export class EventBus {
  private readonly emitter = new EventEmitter();

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  emit(channel: string, event: unknown): void {
    this.deliver(channel, event);
  }

  /** Hands `event` to this process's listeners, synchronously: a caller's own next read already sees it. */
  protected deliver(channel: string, event: unknown): void {
    this.emitter.emit(channel, event);
  }

  /** Calls `fn` with each event on `channel` until the returned function is called. */
  subscribe(channel: string, fn: (event: unknown) => void): () => void {
    this.emitter.on(channel, fn);
    return () => this.emitter.off(channel, fn);
  }

  /**
   * Yields events on `channel` until `signal` aborts, and `missed` (when given) whenever this process may have
   * missed some of them, so a subscriber that gets it reloads instead of waiting for the next change.
   */
  async *listen<T>(channel: string, signal: AbortSignal | undefined, missed?: T): AsyncGenerator<T> {
    const events = new EventEmitter();
    const forward = (event: unknown) => events.emit('event', event);
    const stops = [this.subscribe(channel, forward)];
    if (missed !== undefined) stops.push(this.subscribe(missedChannel, () => forward(missed)));
    try {
      for await (const [event] of on(events, 'event', signal ? { signal } : {})) yield event as T;
    } catch (err) {
      if ((err as Error).name !== 'AbortError') throw err;
    } finally {
      for (const stop of stops) stop();
    }
  }

  async close(): Promise<void> {}
}

/** Where a bus says that events may have passed it by (its listening connection was lost and is back). */
const missedChannel = 'bus:missed';

/** The one PostgreSQL channel every Loupe event travels on; Loupe's own channel names ride inside the payload. */
export const pgChannel = 'loupe_events';

/**
 * Characters of event text per notification. PostgreSQL refuses payloads of 8000 bytes or more; a character is
 * at most 4 bytes in UTF-8 and the header under 100, so 1900 characters always fit.
 */
const chunkChars = 1900;

/** Parts of one message at most (about 19 MB of event text): bounds what a stray frame can make us hold. */
const maxParts = 10_000;

const reconnectMinMs = 250;
const reconnectMaxMs = 5_000;

/** `<origin> <message> <index> <count> <text>`: the text is a slice of the JSON body, sent unescaped. */
const framePattern = /^([0-9a-f-]{36}) (\d+) (\d+) (\d+) ([\s\S]*)$/;
const bodySchema = z.object({ c: z.string(), e: z.unknown() });

/** Cuts `text` into slices of at most `size` UTF-16 units without splitting a surrogate pair. */
function slices(text: string, size: number): string[] {
  const out: string[] = [];
  for (let at = 0; at < text.length; ) {
    let end = Math.min(at + size, text.length);
    const last = text.charCodeAt(end - 1);
    if (end < text.length && last >= 0xd800 && last <= 0xdbff) end -= 1;
    out.push(text.slice(at, end));
    at = end;
  }
  return out.length > 0 ? out : [''];
}

/**
 * The event bus for several web processes on one PostgreSQL: `emit` delivers to this process at once and
 * sends the event to the others with NOTIFY; one dedicated connection LISTENs and hands what other processes
 * sent to this process's listeners. Events go inline rather than as ids of stored rows: they stay as transient
 * as on the in-process bus (no table to fill and sweep), and one larger than a notification is split into
 * numbered parts sent in one statement, so they commit together, and joined on arrival.
 */
export class PgEventBus extends EventBus {
  /** Tells this process's notifications apart from the others', which it has already delivered itself. */
  private readonly origin = randomUUID();
  private readonly pool: pg.Pool;
  private listener: pg.Client | undefined;
  /** Set once the first LISTEN succeeded: every later one follows a gap in which events went unheard. */
  private listenedBefore = false;
  private closed = false;
  private retryMs = reconnectMinMs;
  private retryTimer: NodeJS.Timeout | undefined;
  private sent = 0;
  /** Sends in emit order: several statements in flight on the pool could commit out of order. */
  private sending: Promise<void> = Promise.resolve();
  private readonly partial = new Map<string, string[]>();

  private constructor(private readonly url: string) {
    super();
    this.pool = new pg.Pool({ connectionString: url, max: 1, application_name: 'loupe bus' });
    // An idle pooled connection that drops is replaced on the next send; without a handler it would crash.
    this.pool.on('error', (err) => console.error(`[loupe] bus: sending connection lost: ${err.message}`));
  }

  /** A bus already LISTENing, so nothing emitted after it resolves is missed. */
  static async connect(url: string): Promise<PgEventBus> {
    const bus = new PgEventBus(url);
    await bus.startListening();
    return bus;
  }

  override emit(channel: string, event: unknown): void {
    this.deliver(channel, event);
    const body = JSON.stringify({ c: channel, e: event });
    const message = this.sent++;
    this.sending = this.sending.then(() =>
      this.send(body, message).catch((err: Error) =>
        console.error(`[loupe] bus: an event on ${channel} did not reach other processes: ${err.message}`),
      ),
    );
  }

  override async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    await this.sending;
    await this.listener?.end().catch(() => {});
    await this.pool.end();
  }

  private async send(body: string, message: number): Promise<void> {
    const parts = slices(body, chunkChars);
    const frames = parts.map((text, i) => `${this.origin} ${message} ${i} ${parts.length} ${text}`);
    await this.pool.query('SELECT pg_notify($1, frame) FROM unnest($2::text[]) AS frame', [
      pgChannel,
      frames,
    ]);
  }

  private async startListening(): Promise<void> {
    const client = new pg.Client({ connectionString: this.url, application_name: 'loupe bus listener' });
    const lost = () => this.listenerLost(client);
    client.on('error', lost);
    client.on('end', lost);
    client.on('notification', (n) => this.receive(n.payload ?? ''));
    try {
      await client.connect();
      await client.query(`LISTEN ${pgChannel}`);
    } catch (err) {
      await client.end().catch(() => {});
      throw err;
    }
    this.listener = client;
    this.retryMs = reconnectMinMs;
    if (this.listenedBefore) this.deliver(missedChannel, null);
    this.listenedBefore = true;
  }

  /**
   * Reconnects with growing pauses. Events sent while no connection listens never reach this process, so once
   * listening again it tells its listeners that they may have missed some.
   */
  private listenerLost(client: pg.Client): void {
    if (this.closed || this.listener !== client) return;
    this.listener = undefined;
    this.partial.clear();
    client.end().catch(() => {});
    console.error('[loupe] bus: listening connection lost; reconnecting');
    this.retryLater();
  }

  private retryLater(): void {
    this.retryTimer = setTimeout(() => {
      if (this.closed) return;
      this.startListening().catch((err: Error) => {
        console.error(`[loupe] bus: reconnecting failed: ${err.message}`);
        this.retryMs = Math.min(this.retryMs * 2, reconnectMaxMs);
        this.retryLater();
      });
    }, this.retryMs);
  }

  private receive(payload: string): void {
    const frame = framePattern.exec(payload);
    if (!frame || frame[1] === this.origin) return;
    const [, origin, message, index, count, text] = frame;
    // Any session on the database may NOTIFY this channel: a malformed frame is dropped, never trusted.
    if (Number(count) > maxParts || Number(index) >= Number(count)) return;
    const body = this.assemble(`${origin} ${message}`, Number(index), Number(count), text);
    if (body !== undefined) this.deliverBody(body);
  }

  private deliverBody(body: string): void {
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch {
      return;
    }
    const parsed = bodySchema.safeParse(json);
    if (parsed.success) this.deliver(parsed.data.c, parsed.data.e);
  }

  /** The whole body once every part of a message has arrived; parts may come in any order. */
  private assemble(key: string, index: number, count: number, text: string): string | undefined {
    if (count === 1) return text;
    const parts = this.partial.get(key) ?? new Array<string>(count);
    parts[index] = text;
    if (parts.filter((p) => p !== undefined).length < count) {
      this.partial.set(key, parts);
      return undefined;
    }
    this.partial.delete(key);
    return parts.join('');
  }
}

export const channels = {
  investigation: (id: string) => `investigation:${id}`,
  teamFeatures: (teamId: string, dictionaryId: string) => `features:${teamId}:${dictionaryId}`,
  teamJobs: (teamId: string) => `jobs:${teamId}`,
  instanceJobs: 'jobs:instance',
  presence: 'presence',
};
