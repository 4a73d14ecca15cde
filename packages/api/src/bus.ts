import { EventEmitter, on } from 'node:events';

/**
 * In-process fan-out of change events to subscriptions. One web process serves all subscribers in the
 * embedded setup; several processes on one PostgreSQL would need LISTEN/NOTIFY behind this interface.
 */
export class EventBus {
  private readonly emitter = new EventEmitter();

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  emit(channel: string, event: unknown): void {
    this.emitter.emit(channel, event);
  }

  /** Yields events on `channel` until `signal` aborts. */
  async *listen<T>(channel: string, signal: AbortSignal | undefined): AsyncGenerator<T> {
    try {
      for await (const [event] of on(this.emitter, channel, signal ? { signal } : {})) yield event as T;
    } catch (err) {
      if ((err as Error).name !== 'AbortError') throw err;
    }
  }
}

export const channels = {
  investigation: (id: string) => `investigation:${id}`,
  teamFeatures: (teamId: string, dictionaryId: string) => `features:${teamId}:${dictionaryId}`,
  teamJobs: (teamId: string) => `jobs:${teamId}`,
  instanceJobs: 'jobs:instance',
};
