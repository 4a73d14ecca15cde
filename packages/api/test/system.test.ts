import { describe, expect, it } from 'vitest';
import { appRouter, createCallerFactory, EventBus } from '../src/index.ts';
import { newAuthLimiter } from '../src/rate-limit.ts';

describe('system router', () => {
  it('reports health with a current timestamp, without a session', async () => {
    const caller = createCallerFactory(appRouter)({
      // health never touches the database
      db: {} as never,
      bus: new EventBus(),
      headers: new Headers(),
      resHeaders: new Headers(),
      principal: null,
      secureCookies: false,
      dataDir: '/nonexistent',
      clientIp: '127.0.0.1',
      authLimiter: newAuthLimiter({
        perIp: { max: 1, windowMs: 1000 },
        perAccount: { max: 1, windowMs: 1000 },
      }),
      signup: 'open',
      adminEmails: [],
    });
    const before = Date.now();
    const h = await caller.system.health();
    expect(h.ok).toBe(true);
    expect(Date.parse(h.time)).toBeGreaterThanOrEqual(before - 1000);
  });
});
