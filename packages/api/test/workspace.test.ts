import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendNames, codeOf, Harness, teamWithRoles, tinyGraph } from './harness.ts';

describe.each(backendNames)('workspace on %s', (backend) => {
  let h: Harness;
  let fx: Awaited<ReturnType<typeof teamWithRoles>>;
  beforeAll(async () => {
    h = await Harness.open(backend);
    fx = await teamWithRoles(h);
  }, 120_000);
  afterAll(async () => h?.close());

  it('signs in with the password, rejects a wrong one, and signs out', async () => {
    const res = new Headers();
    const email = `login.${Date.now()}@example.com`;
    await h.caller().auth.signUp({ email, password: 'long enough pw', name: 'L' });
    expect(await codeOf(h.caller().auth.signIn({ email, password: 'wrong password' }))).toBe('UNAUTHORIZED');
    expect(await codeOf(h.caller().auth.signIn({ email: 'nobody@example.com', password: 'whatever1' }))).toBe(
      'UNAUTHORIZED',
    );
    await h.caller({}, res).auth.signIn({ email: email.toUpperCase(), password: 'long enough pw' });
    const setCookie = res.get('set-cookie') ?? '';
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Lax/);
    const cookie = setCookie.split(';')[0];
    expect((await h.caller({ cookie }).auth.me()).user?.email).toBe(email);
    await h.caller({ cookie }).auth.signOut();
    expect((await h.caller({ cookie }).auth.me()).user).toBeNull();
    expect(await codeOf(h.caller().auth.signUp({ email, password: 'another pw1', name: 'dup' }))).toBe(
      'CONFLICT',
    );
  });

  it('API tokens act as their user until revoked', async () => {
    const { token, id } = await fx.editor.caller.auth.createToken({ name: 'cli' });
    const viaToken = h.caller({ authorization: `Bearer ${token}` });
    expect((await viaToken.auth.me()).user?.id).toBe(fx.editor.userId);
    expect((await viaToken.teams.list()).map((t) => t.id)).toContain(fx.team.id);
    expect((await fx.editor.caller.auth.listTokens()).map((t) => t.id)).toContain(id);
    await fx.editor.caller.auth.revokeToken({ id });
    expect(await codeOf(viaToken.teams.list())).toBe('UNAUTHORIZED');
  });

  it('invites are single-use and revocable, and roles are managed by owners', async () => {
    const newcomer = await h.user('newcomer');
    const invite = await fx.owner.caller.teams.createInvite({ teamId: fx.team.id, role: 'viewer' });
    expect(await newcomer.caller.teams.acceptInvite({ token: invite.token })).toEqual({
      teamId: fx.team.id,
      role: 'viewer',
    });
    const late = await h.user('late');
    expect(await codeOf(late.caller.teams.acceptInvite({ token: invite.token }))).toBe('NOT_FOUND');
    const revoked = await fx.owner.caller.teams.createInvite({ teamId: fx.team.id, role: 'editor' });
    await fx.owner.caller.teams.revokeInvite({ teamId: fx.team.id, inviteId: revoked.id });
    expect(await codeOf(late.caller.teams.acceptInvite({ token: revoked.token }))).toBe('NOT_FOUND');
    await fx.owner.caller.teams.setRole({ teamId: fx.team.id, userId: newcomer.userId, role: 'editor' });
    const members = await fx.viewer.caller.teams.members({ teamId: fx.team.id });
    expect(members.find((m) => m.userId === newcomer.userId)?.role).toBe('editor');
    expect(
      await codeOf(
        fx.owner.caller.teams.setRole({ teamId: fx.team.id, userId: fx.owner.userId, role: 'viewer' }),
      ),
    ).toBe('BAD_REQUEST');
    await newcomer.caller.teams.removeMember({ teamId: fx.team.id, userId: newcomer.userId });
    expect(await codeOf(newcomer.caller.teams.get({ teamId: fx.team.id }))).toBe('NOT_FOUND');
  });

  it('two clients editing one investigation: the stale write gets CONFLICT and nothing is lost', async () => {
    const inv = await fx.owner.caller.investigations.create({
      teamId: fx.team.id,
      title: 'Rhymes',
      prompt: 'roses are red',
    });
    const [a, b] = await Promise.allSettled([
      fx.owner.caller.investigations.update({
        id: inv.id,
        version: inv.version,
        patch: { notes: 'from owner' },
      }),
      fx.editor.caller.investigations.update({
        id: inv.id,
        version: inv.version,
        patch: { title: 'from editor' },
      }),
    ]);
    const outcomes = [a, b]
      .map((r) => (r.status === 'fulfilled' ? 'OK' : (r.reason as { code: string }).code))
      .sort();
    expect(outcomes).toEqual(['CONFLICT', 'OK']);
    const now = await fx.viewer.caller.investigations.get({ id: inv.id });
    expect(now.version).toBe(2);
    const winner = a.status === 'fulfilled' ? 'owner' : 'editor';
    if (winner === 'owner') expect([now.notes, now.title]).toEqual(['from owner', 'Rhymes']);
    else expect([now.notes, now.title]).toEqual(['', 'from editor']);
    // The loser rebases on the current version and succeeds; both changes are now present.
    const rebased = await (winner === 'owner' ? fx.editor : fx.owner).caller.investigations.update({
      id: inv.id,
      version: now.version,
      patch: winner === 'owner' ? { title: 'from editor' } : { notes: 'from owner' },
    });
    expect([rebased.title, rebased.notes, rebased.version]).toEqual(['from editor', 'from owner', 3]);
  });

  it('records every change in history and restores an earlier state', async () => {
    const inv = await fx.editor.caller.investigations.create({
      teamId: fx.team.id,
      title: 'v1',
      prompt: 'p',
    });
    const v2 = await fx.editor.caller.investigations.update({
      id: inv.id,
      version: 1,
      patch: {
        title: 'v2',
        pinnedNodes: ['a', 'b'],
        nodeLabels: { a: 'say rabbit' },
        thresholds: { node: 0.8, edge: 0.98 },
      },
    });
    await fx.owner.caller.investigations.update({
      id: inv.id,
      version: v2.version,
      patch: { title: 'v3', pinnedNodes: [] },
    });
    const hist = await fx.viewer.caller.investigations.history({ id: inv.id, limit: 10 });
    expect(hist.items.map((e) => e.action)).toEqual(['update', 'update', 'create']);
    expect(hist.items.map((e) => e.actorId)).toEqual([fx.owner.userId, fx.editor.userId, fx.editor.userId]);
    const restored = await fx.editor.caller.investigations.restore({
      id: inv.id,
      historyId: hist.items[1].id,
      version: 3,
    });
    expect([restored.title, restored.pinnedNodes, restored.nodeLabels, restored.version]).toEqual([
      'v2',
      ['a', 'b'],
      { a: 'say rabbit' },
      4,
    ]);
    const after = await fx.viewer.caller.investigations.history({ id: inv.id, limit: 1 });
    expect(after.items[0].action).toMatch(/^restore:/);
    const teamLog = await fx.viewer.caller.teams.history({
      teamId: fx.team.id,
      entityType: 'investigation',
      limit: 4,
    });
    expect(teamLog.items.map((e) => [e.entityId, e.action])).toEqual(
      [after.items[0], ...hist.items].map((e) => [inv.id, e.action]),
    );
    expect(
      await codeOf(
        fx.editor.caller.investigations.restore({ id: inv.id, historyId: hist.items[2].id, version: 3 }),
      ),
    ).toBe('CONFLICT');
  });

  it('paginates investigations without gaps or repeats', async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 5; i++) {
      ids.add(
        (
          await fx.editor.caller.investigations
            .create({ teamId: fx.otherTeam.id, title: `p${i}`, prompt: '' })
            .catch(() =>
              fx.outsider.caller.investigations.create({
                teamId: fx.otherTeam.id,
                title: `p${i}`,
                prompt: '',
              }),
            )
        ).id,
      );
    }
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await fx.outsider.caller.investigations.list({
        teamId: fx.otherTeam.id,
        limit: 2,
        cursor,
      });
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((i) => i.id));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(seen.length).toBe(5);
    expect(new Set(seen)).toEqual(ids);
  });

  it('stores graphs compressed, serves node summaries and the payload on demand', async () => {
    const g = await fx.editor.caller.graphs.create({
      teamId: fx.team.id,
      prompt: 'roses',
      graph: tinyGraph(),
    });
    expect([g.nodeCount, g.linkCount]).toEqual([4, 2]);
    const blob = await h.db.prisma.blob.findFirstOrThrow({ where: { teamId: fx.team.id } });
    expect(blob.encoding).toBe('gzip');
    const top = await fx.viewer.caller.graphs.nodes({ graphId: g.id, kind: 'feature', limit: 10 });
    expect(top.items.map((n) => [n.nodeId, n.layer, n.featureIndex, n.label])).toEqual([
      ['n1_5_0', 1, 5, 'rhyme'],
      ['n2_7_1', 2, 7, null],
    ]);
    const { graph } = await fx.viewer.caller.graphs.payload({ graphId: g.id });
    expect(graph).toEqual(tinyGraph());
    expect(
      await codeOf(
        fx.editor.caller.graphs.create({
          teamId: fx.team.id,
          prompt: 'dup',
          graph: { nodes: [tinyGraph().nodes[0], tinyGraph().nodes[0]], links: [] },
        }),
      ),
    ).toBe('BAD_REQUEST');
    const inv = await fx.editor.caller.investigations.create({
      teamId: fx.team.id,
      title: 'g',
      prompt: 'roses',
      graphId: g.id,
    });
    expect(inv.graphId).toBe(g.id);
    expect(
      await codeOf(
        fx.outsider.caller.investigations.create({
          teamId: fx.otherTeam.id,
          title: 'steal',
          prompt: '',
          graphId: g.id,
        }),
      ),
    ).toBe('NOT_FOUND');
  });

  it('lists the investigations whose graph holds a feature, with its most influential node', async () => {
    const { model, dictionary: dict } = await h.catalogPair(fx.team.id, { kind: 'clt' });
    const graph = tinyGraph('');
    // The same feature at a second position, less influential: one investigation, two positions.
    graph.nodes.push({ ...graph.nodes[1], node_id: '1_5_1', ctx_idx: 1, influence: 0.2 });
    const g = await fx.editor.caller.graphs.create({
      teamId: fx.team.id,
      prompt: 'roses',
      modelId: model.id,
      dictionaryId: dict.id,
      graph,
    });
    const inv = await fx.editor.caller.investigations.create({
      teamId: fx.team.id,
      title: 'Rhymes',
      prompt: 'roses',
      modelId: model.id,
      dictionaryId: dict.id,
      graphId: g.id,
    });
    const find = (layer: number, featureIndex: number) =>
      fx.viewer.caller.features.investigations({
        teamId: fx.team.id,
        dictionaryId: dict.id,
        layer,
        featureIndex,
      });
    expect(await find(1, 5)).toEqual([
      expect.objectContaining({ id: inv.id, title: 'Rhymes', nodeId: '1_5_0', positions: 2 }),
    ]);
    expect((await find(2, 7)).map((i) => i.nodeId)).toEqual(['2_7_1']);
    // Layer 1 feature 7 and feature 51 (whose ids share the prefix 1_5) are not in the graph.
    expect(await find(1, 7)).toEqual([]);
    expect(await find(1, 51)).toEqual([]);
    expect(
      await codeOf(
        fx.outsider.caller.features.investigations({
          teamId: fx.team.id,
          dictionaryId: dict.id,
          layer: 1,
          featureIndex: 5,
        }),
      ),
    ).toBe('NOT_FOUND');
  });

  it('feature labels are team knowledge with optimistic concurrency', async () => {
    const { dictionary: dict } = await h.catalogPair(fx.team.id, { kind: 'clt' });
    const created = await fx.editor.caller.features.annotate({
      teamId: fx.team.id,
      dictionaryId: dict.id,
      layer: 1,
      featureIndex: 5,
      label: 'rhyme',
      version: 0,
    });
    expect(
      await codeOf(
        fx.owner.caller.features.annotate({
          teamId: fx.team.id,
          dictionaryId: dict.id,
          layer: 1,
          featureIndex: 5,
          label: 'x',
          version: 0,
        }),
      ),
    ).toBe('CONFLICT');
    const updated = await fx.owner.caller.features.annotate({
      teamId: fx.team.id,
      dictionaryId: dict.id,
      layer: 1,
      featureIndex: 5,
      notes: 'fires on -ed endings',
      version: created.version,
    });
    expect([updated.label, updated.notes, updated.version]).toEqual(['rhyme', 'fires on -ed endings', 2]);
    const many = await fx.viewer.caller.features.getMany({
      teamId: fx.team.id,
      dictionaryId: dict.id,
      keys: [
        { layer: 1, featureIndex: 5 },
        { layer: 9, featureIndex: 9 },
      ],
    });
    expect(many.map((f) => f.label)).toEqual(['rhyme']);
    expect(
      (await fx.viewer.caller.features.list({ teamId: fx.team.id, dictionaryId: dict.id })).items,
    ).toHaveLength(1);
  });

  it('comments on investigations and nodes; only authors edit, owners may delete', async () => {
    const inv = await fx.owner.caller.investigations.create({ teamId: fx.team.id, title: 'c', prompt: '' });
    const c1 = await fx.editor.caller.comments.add({ investigationId: inv.id, body: 'overall' });
    await fx.owner.caller.comments.add({ investigationId: inv.id, nodeId: 'n1_5_0', body: 'on a node' });
    expect(
      (await fx.viewer.caller.comments.list({ investigationId: inv.id, nodeId: 'n1_5_0' })).items.map(
        (c) => c.body,
      ),
    ).toEqual(['on a node']);
    expect(await codeOf(fx.owner.caller.comments.edit({ id: c1.id, version: 1, body: 'hijack' }))).toBe(
      'FORBIDDEN',
    );
    const edited = await fx.editor.caller.comments.edit({ id: c1.id, version: 1, body: 'overall, edited' });
    expect(await codeOf(fx.editor.caller.comments.edit({ id: c1.id, version: 1, body: 'stale' }))).toBe(
      'CONFLICT',
    );
    expect(edited.version).toBe(2);
    await fx.owner.caller.comments.delete({ id: c1.id });
    expect((await fx.viewer.caller.comments.list({ investigationId: inv.id })).items).toHaveLength(1);
  });

  it('experiments keep spec and result with versions', async () => {
    const inv = await fx.owner.caller.investigations.create({ teamId: fx.team.id, title: 'e', prompt: '' });
    const e = await fx.editor.caller.experiments.create({
      investigationId: inv.id,
      name: 'suppress rabbit',
      spec: { mode: 'constrained', set: [{ layer: 1, pos: 0, feature: 5, value: 0 }] },
    });
    const done = await fx.editor.caller.experiments.update({
      id: e.id,
      version: 1,
      result: { top: [['habit', 0.4]] },
    });
    expect(done.result).toEqual({ top: [['habit', 0.4]] });
    expect(await codeOf(fx.owner.caller.experiments.update({ id: e.id, version: 1, name: 'stale' }))).toBe(
      'CONFLICT',
    );
    expect(
      (await fx.viewer.caller.experiments.list({ investigationId: inv.id })).items.map((x) => x.version),
    ).toEqual([2]);
    const ran = await fx.editor.caller.experiments.create({
      investigationId: inv.id,
      name: 'ran in the browser',
      spec: { mode: 'constrained', set: [] },
      result: { top: [['rabbit', 0.9]] },
    });
    expect([ran.version, ran.result]).toEqual([1, { top: [['rabbit', 0.9]] }]);
    expect(
      await codeOf(
        fx.editor.caller.experiments.create({
          investigationId: inv.id,
          name: 'too big',
          spec: {},
          result: { pad: 'x'.repeat(3_000_000) },
        }),
      ),
    ).toBe('BAD_REQUEST');
  });

  it('share links are read-only views that stop working when revoked or expired', async () => {
    const g = await fx.editor.caller.graphs.create({
      teamId: fx.team.id,
      prompt: 'share',
      graph: tinyGraph('s'),
    });
    const { dictionary: dict } = await h.catalogPair(fx.team.id);
    await fx.editor.caller.features.annotate({
      teamId: fx.team.id,
      dictionaryId: dict.id,
      layer: 1,
      featureIndex: 5,
      label: 'rhyme',
      version: 0,
    });
    const inv = await fx.owner.caller.investigations.create({
      teamId: fx.team.id,
      title: 'shared',
      prompt: 'x',
      graphId: g.id,
      dictionaryId: dict.id,
    });
    const link = await fx.editor.caller.shares.create({ investigationId: inv.id });
    const anon = h.caller();
    const view = await anon.shares.open({ token: link.token });
    expect([view.investigation.title, view.graph?.id]).toEqual(['shared', g.id]);
    expect((await anon.shares.graphPayload({ token: link.token })).graph.nodes).toHaveLength(4);
    const labels = await anon.shares.features({ token: link.token, keys: [{ layer: 1, featureIndex: 5 }] });
    expect(labels.map((l) => l.label)).toEqual(['rhyme']);
    // A label of a feature the shared graph does not show stays private.
    await fx.editor.caller.features.annotate({
      teamId: fx.team.id,
      dictionaryId: dict.id,
      layer: 3,
      featureIndex: 9,
      label: 'private',
      version: 0,
    });
    expect(await anon.shares.features({ token: link.token, keys: [{ layer: 3, featureIndex: 9 }] })).toEqual(
      [],
    );
    expect(await codeOf(anon.investigations.get({ id: inv.id }))).toBe('UNAUTHORIZED');
    await fx.editor.caller.shares.revoke({ id: link.id });
    expect(await codeOf(anon.shares.open({ token: link.token }))).toBe('NOT_FOUND');
    expect(await codeOf(anon.shares.graphPayload({ token: link.token }))).toBe('NOT_FOUND');
    expect(await codeOf(anon.shares.features({ token: link.token, keys: [] }))).toBe('NOT_FOUND');

    const expiring = await fx.editor.caller.shares.create({ investigationId: inv.id, expiresInHours: 1 });
    expect((await anon.shares.open({ token: expiring.token })).investigation.id).toBe(inv.id);
    await h.db.prisma.shareLink.update({
      where: { id: expiring.id },
      data: { expiresAt: new Date(Date.now() - 1000) },
    });
    expect(await codeOf(anon.shares.open({ token: expiring.token }))).toBe('NOT_FOUND');
  });

  it('streams investigation changes to a subscriber within a second', async () => {
    const inv = await fx.owner.caller.investigations.create({
      teamId: fx.team.id,
      title: 'live',
      prompt: '',
    });
    const stream = await fx.viewer.caller.investigations.onChange({ id: inv.id });
    const it = stream[Symbol.asyncIterator]();
    const first = it.next();
    await new Promise((r) => setTimeout(r, 50));
    const t0 = Date.now();
    await fx.editor.caller.investigations.update({ id: inv.id, version: 1, patch: { notes: 'hello' } });
    const ev = await first;
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(ev.value).toMatchObject({
      entityType: 'investigation',
      entityId: inv.id,
      actorId: fx.editor.userId,
      version: 2,
    });
    await it.return?.(undefined);
  });
});
