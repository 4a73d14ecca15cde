import { describe, expect, it } from 'vitest';
import { appRouter, createCallerFactory } from '../src/index.ts';

describe('system router', () => {
  it('reports health with a current timestamp', async () => {
    const caller = createCallerFactory(appRouter)({ headers: new Headers() });
    const before = Date.now();
    const h = await caller.system.health();
    expect(h.ok).toBe(true);
    expect(Date.parse(h.time)).toBeGreaterThanOrEqual(before - 1000);
  });
});
