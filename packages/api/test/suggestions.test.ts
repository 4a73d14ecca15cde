import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendNames, codeOf, Harness, teamWithRoles } from './harness.ts';

// The first pass's suggestions someone reviewed are part of the investigation's versioned state: accepting one
// adds the supernode and marks the suggestion in one write, so it is never offered again to anyone.
describe.each(backendNames)('reviewed suggestions on %s', (backend) => {
  let h: Harness;
  let fx: Awaited<ReturnType<typeof teamWithRoles>>;
  beforeAll(async () => {
    h = await Harness.open(backend);
    fx = await teamWithRoles(h);
  }, 120_000);
  afterAll(async () => h?.close());

  const create = () =>
    fx.owner.caller.investigations.create({ teamId: fx.team.id, title: 'Sums', prompt: '36+59=' });

  it('starts empty; an accept writes the supernode and the reviewed id together, recorded in history', async () => {
    const inv = await create();
    expect(inv.reviewedSuggestions).toEqual([]);
    const accepted = await fx.editor.caller.investigations.update({
      id: inv.id,
      version: inv.version,
      patch: {
        supernodes: [{ id: 'sn-1', name: 'ones digit', nodeIds: ['1_2_3', '2_5_3'] }],
        reviewedSuggestions: ['S1'],
      },
    });
    expect([accepted.supernodes.map((s) => s.name), accepted.reviewedSuggestions, accepted.version]).toEqual([
      ['ones digit'],
      ['S1'],
      2,
    ]);
    const discarded = await fx.owner.caller.investigations.update({
      id: inv.id,
      version: accepted.version,
      patch: { reviewedSuggestions: [...accepted.reviewedSuggestions, 'S2'] },
    });
    // A teammate reading afresh sees both reviewed.
    expect((await fx.viewer.caller.investigations.get({ id: inv.id })).reviewedSuggestions).toEqual([
      'S1',
      'S2',
    ]);
    const hist = await fx.viewer.caller.investigations.history({ id: inv.id, limit: 10 });
    expect(
      hist.items.map((e) => (e.snapshot as { reviewedSuggestions: string[] }).reviewedSuggestions),
    ).toEqual([['S1', 'S2'], ['S1'], []]);
    // Restoring the state before the discard offers the discarded suggestion again, as everything else restores.
    const restored = await fx.owner.caller.investigations.restore({
      id: inv.id,
      historyId: hist.items[1].id,
      version: discarded.version,
    });
    expect(restored.reviewedSuggestions).toEqual(['S1']);
  });

  it('a stale review gets CONFLICT and nothing is lost once it is re-applied', async () => {
    const inv = await create();
    const [a, b] = await Promise.allSettled([
      fx.owner.caller.investigations.update({
        id: inv.id,
        version: inv.version,
        patch: { reviewedSuggestions: ['S1'] },
      }),
      fx.editor.caller.investigations.update({
        id: inv.id,
        version: inv.version,
        patch: { reviewedSuggestions: ['S2'] },
      }),
    ]);
    const codes = [a, b].map((r) => (r.status === 'fulfilled' ? 'OK' : (r.reason as { code: string }).code));
    expect(codes.sort()).toEqual(['CONFLICT', 'OK']);
    const now = await fx.owner.caller.investigations.get({ id: inv.id });
    const lost = now.reviewedSuggestions[0] === 'S1' ? 'S2' : 'S1';
    const rebased = await fx.editor.caller.investigations.update({
      id: inv.id,
      version: now.version,
      patch: { reviewedSuggestions: [...now.reviewedSuggestions, lost] },
    });
    expect([...rebased.reviewedSuggestions].sort()).toEqual(['S1', 'S2']);
  });

  it('viewers cannot review, malformed ids are refused, and snapshots from before suggestions still restore', async () => {
    const inv = await create();
    expect(
      await codeOf(
        fx.viewer.caller.investigations.update({
          id: inv.id,
          version: 1,
          patch: { reviewedSuggestions: ['S1'] },
        }),
      ),
    ).toBe('FORBIDDEN');
    expect(
      await codeOf(
        fx.editor.caller.investigations.update({
          id: inv.id,
          version: 1,
          patch: { reviewedSuggestions: [''] },
        }),
      ),
    ).toBe('BAD_REQUEST');
    const old = await h.db.prisma.historyEntry.create({
      data: {
        teamId: fx.team.id,
        entityType: 'investigation',
        entityId: inv.id,
        action: 'update',
        actorId: fx.owner.userId,
        snapshot: {
          title: 'old',
          prompt: '36+59=',
          modelId: null,
          dictionaryId: null,
          graphId: null,
          pinnedNodes: [],
          supernodes: [],
          nodeLabels: {},
          thresholds: {},
          notes: '',
          version: 1,
        },
      },
    });
    const reviewed = await fx.editor.caller.investigations.update({
      id: inv.id,
      version: 1,
      patch: { reviewedSuggestions: ['S1'] },
    });
    const restored = await fx.editor.caller.investigations.restore({
      id: inv.id,
      historyId: old.id,
      version: reviewed.version,
    });
    expect([restored.title, restored.reviewedSuggestions]).toEqual(['old', []]);
  });
});
