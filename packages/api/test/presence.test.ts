import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { presenceTtlMs } from '../src/router/presence.ts';
import { backendNames, codeOf, Harness, teamWithRoles } from './harness.ts';

describe.each(backendNames)('presence on %s', (backend) => {
  let h: Harness;
  let fx: Awaited<ReturnType<typeof teamWithRoles>>;
  let investigationId: string;
  beforeAll(async () => {
    h = await Harness.open(backend);
    fx = await teamWithRoles(h);
    const inv = await fx.owner.caller.investigations.create({ teamId: fx.team.id, title: 'P', prompt: 'x' });
    investigationId = inv.id;
  }, 120_000);
  afterAll(async () => {
    vi.useRealTimers();
    await h?.close();
  });

  it('lists team members who beat, drops one who leaves, and refuses outsiders', async () => {
    const first = await fx.owner.caller.presence.heartbeat({ investigationId });
    expect(first.present.map((p) => p.userId)).toEqual([fx.owner.userId]);
    const both = await fx.viewer.caller.presence.heartbeat({ investigationId });
    expect(both.present.map((p) => p.userId)).toEqual([fx.owner.userId, fx.viewer.userId]);
    expect(both.present[1].name).toBe('viewer');
    // A second beat keeps the order of arrival.
    const again = await fx.owner.caller.presence.heartbeat({ investigationId });
    expect(again.present.map((p) => p.userId)).toEqual([fx.owner.userId, fx.viewer.userId]);

    await fx.viewer.caller.presence.leave({ investigationId });
    expect(
      (await fx.owner.caller.presence.heartbeat({ investigationId })).present.map((p) => p.userId),
    ).toEqual([fx.owner.userId]);
    expect(await codeOf(fx.outsider.caller.presence.heartbeat({ investigationId }))).toBe('NOT_FOUND');
    expect(await codeOf(h.caller().presence.heartbeat({ investigationId }))).toBe('UNAUTHORIZED');
  });

  it('forgets a visitor whose heartbeats stopped', async () => {
    await fx.editor.caller.presence.heartbeat({ investigationId });
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + presenceTtlMs + 1 });
    const after = await fx.owner.caller.presence.heartbeat({ investigationId });
    vi.useRealTimers();
    expect(after.present.map((p) => p.userId)).toEqual([fx.owner.userId]);
  });
});
