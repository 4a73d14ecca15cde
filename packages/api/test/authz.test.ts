import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ZodError } from 'zod';
import { appRouter, provisionWorkerToken } from '../src/index.ts';
import { featureRecordBase64 } from './feature-fixtures.ts';
import { backendNames, type Caller, codeOf, Harness, teamWithRoles, tinyGraph } from './harness.ts';

type Level = 'public' | 'user' | 'viewer' | 'editor' | 'owner' | 'worker';
type Fixtures = Awaited<ReturnType<typeof setup>>;
interface Entry {
  level: Level;
  /** Only this actor owns the target (authored the comment, holds the token): everyone else is refused. */
  onlyActor?: 'editor' | 'owner';
  /** The refusal other signed-in users get, when it is not the usual FORBIDDEN / NOT_FOUND-for-outsiders. */
  refusal?: string;
  /** A valid input; called afresh before every attempt, so destructive procedures get their own target. */
  input?: (f: Fixtures) => Promise<unknown>;
}

async function setup(h: Harness) {
  const fx = await teamWithRoles(h);
  const worker = await h.worker();
  const t = fx.team.id;
  const { model, dictionary: dict } = await h.catalogPair(t);
  const graph = await fx.owner.caller.graphs.create({ teamId: t, prompt: 'p', graph: tinyGraph() });
  const inv = await fx.owner.caller.investigations.create({
    teamId: t,
    title: 'secret',
    prompt: 'p',
    graphId: graph.id,
  });
  const job = await fx.owner.caller.jobs.enqueue({ teamId: t, kind: 'diagnostics', params: {} });
  const newInv = () => fx.owner.caller.investigations.create({ teamId: t, title: 'x', prompt: '' });
  // Queued jobs of the kind (released or enqueued by earlier calls) are cancelled first, so the claim takes this one.
  const leaseOn = async (kind = 'diagnostics', params: Record<string, unknown> = {}) => {
    await h.db.prisma.job.updateMany({
      where: { kind, status: 'queued' },
      data: { status: 'cancelled', cancelRequested: true },
    });
    const j = await fx.owner.caller.jobs.enqueue({ teamId: t, kind, params, priority: 100 });
    const c = await worker.jobs.claim({ workerId: 'w', kinds: [kind], leaseMs: 60_000 });
    if (c?.id !== j.id) throw new Error('the matrix job was not the one claimed');
    return { jobId: j.id, leaseToken: c.leaseToken };
  };
  // The matrix calls auth.signOut as everyone: bearer tokens keep these actors signed in regardless.
  const viaToken = async (c: Caller) =>
    h.caller({ authorization: `Bearer ${(await c.auth.createToken({ name: 'matrix' })).token}` });
  const actors = {
    outsider: await viaToken(fx.outsider.caller),
    viewer: await viaToken(fx.viewer.caller),
    editor: await viaToken(fx.editor.caller),
    owner: await viaToken(fx.owner.caller),
    ownerCaller: fx.owner.caller,
  };
  // The matrix also calls auth.signOutEverywhere and auth.changePassword as everyone, ending every session:
  // fixtures act through tokens too.
  for (const who of ['owner', 'editor', 'viewer', 'outsider'] as const) fx[who].caller = actors[who];
  actors.ownerCaller = actors.owner;
  // Accepting invites changes membership: the matrix joins this scratch team, never the one under test.
  const scratchTeam = await fx.owner.caller.teams.create({ name: 'scratch' });
  const login = { email: `login.${Date.now()}@example.com`, password: 'matrix password' };
  await h.caller().auth.signUp({ ...login, name: 'login' });
  return { ...fx, h, actors, scratchTeam, login, worker, t, model, dict, graph, inv, job, newInv, leaseOn };
}

const r =
  <T>(v: T) =>
  async () =>
    v;

// Every procedure of the app router, with the least role that may call it.
const matrix: Record<string, Entry> = {
  'system.health': { level: 'public' },
  'system.settings': { level: 'public' },
  'auth.signUp': {
    level: 'public',
    input: async () => ({ email: `s${Math.random()}@x.io`, password: 'password1', name: 'n' }),
  },
  'auth.signIn': { level: 'public', input: async (f) => f.login },
  'auth.signOut': { level: 'public' },
  'auth.me': { level: 'public' },
  'auth.createToken': { level: 'user', input: r({ name: 't' }) },
  'auth.signOutEverywhere': { level: 'user' },
  // The fixtures' users all share one password; the matrix sets it to itself.
  'auth.changePassword': {
    level: 'user',
    input: r({ currentPassword: 'correct horse battery', newPassword: 'correct horse battery' }),
  },
  // The owner signed up first: with LOUPE_ADMIN_EMAILS unset, the instance admin.
  'admin.workerTokens': { level: 'user', onlyActor: 'owner', refusal: 'FORBIDDEN' },
  'admin.createWorkerToken': {
    level: 'user',
    onlyActor: 'owner',
    refusal: 'FORBIDDEN',
    input: r({ name: 'w' }),
  },
  'admin.revokeWorkerToken': {
    level: 'user',
    onlyActor: 'owner',
    refusal: 'FORBIDDEN',
    input: async (f) => {
      await provisionWorkerToken(f.h.db.prisma, 'matrix-revoke');
      const page = await f.actors.owner.admin.workerTokens({ limit: 1 });
      return { id: page.items[0].id };
    },
  },
  'auth.listTokens': { level: 'user' },
  // Someone else's token looks the same as no token at all.
  'auth.revokeToken': {
    level: 'user',
    onlyActor: 'owner',
    refusal: 'NOT_FOUND',
    input: async (f) => ({ id: (await f.actors.ownerCaller.auth.createToken({ name: 'x' })).id }),
  },
  'teams.create': { level: 'user', input: r({ name: 'n' }) },
  'teams.list': { level: 'user' },
  'teams.get': { level: 'viewer', input: async (f) => ({ teamId: f.t }) },
  'teams.rename': {
    level: 'owner',
    input: async (f) => ({
      teamId: f.t,
      name: 'Circuits',
      version: (await f.owner.caller.teams.get({ teamId: f.t })).version,
    }),
  },
  'teams.members': { level: 'viewer', input: async (f) => ({ teamId: f.t }) },
  'teams.setRole': {
    level: 'owner',
    input: async (f) => ({ teamId: f.t, userId: f.viewer.userId, role: 'viewer' }),
  },
  'teams.removeMember': {
    level: 'owner',
    input: async (f) => {
      const { userId, caller } = await f.h.user('leaver');
      const inv = await f.owner.caller.teams.createInvite({ teamId: f.t, role: 'viewer' });
      await caller.teams.acceptInvite({ token: inv.token });
      return { teamId: f.t, userId };
    },
  },
  'teams.history': { level: 'viewer', input: async (f) => ({ teamId: f.t }) },
  'teams.createInvite': { level: 'owner', input: async (f) => ({ teamId: f.t, role: 'viewer' }) },
  'teams.listInvites': { level: 'owner', input: async (f) => ({ teamId: f.t }) },
  'teams.revokeInvite': {
    level: 'owner',
    input: async (f) => ({
      teamId: f.t,
      inviteId: (await f.owner.caller.teams.createInvite({ teamId: f.t, role: 'viewer' })).id,
    }),
  },
  'teams.acceptInvite': {
    level: 'user',
    input: async (f) => ({
      token: (await f.owner.caller.teams.createInvite({ teamId: f.scratchTeam.id, role: 'viewer' })).token,
    }),
  },
  'catalog.list': { level: 'viewer', input: async (f) => ({ teamId: f.t }) },
  'models.list': { level: 'viewer', input: async (f) => ({ teamId: f.t }) },
  'dictionaries.list': { level: 'viewer', input: async (f) => ({ teamId: f.t }) },
  'dictionaries.putFeatureIndex': {
    level: 'worker',
    input: async (f) => ({
      ...(await f.leaseOn('index-features', { dictionaryId: f.dict.id })),
      dictionaryId: f.dict.id,
      layer: 0,
      features: [{ featureIndex: 3, autoLabel: 'a', record: featureRecordBase64(0, 3) }],
    }),
  },
  'features.get': {
    level: 'viewer',
    input: async (f) => ({ teamId: f.t, dictionaryId: f.dict.id, layer: 0, featureIndex: 1 }),
  },
  'features.getMany': {
    level: 'viewer',
    input: async (f) => ({ teamId: f.t, dictionaryId: f.dict.id, keys: [{ layer: 0, featureIndex: 1 }] }),
  },
  'features.investigations': {
    level: 'viewer',
    input: async (f) => ({ teamId: f.t, dictionaryId: f.dict.id, layer: 0, featureIndex: 1 }),
  },
  'features.list': { level: 'viewer', input: async (f) => ({ teamId: f.t, dictionaryId: f.dict.id }) },
  'features.search': {
    level: 'viewer',
    input: async (f) => ({ teamId: f.t, dictionaryId: f.dict.id, text: 'a' }),
  },
  'features.annotate': {
    level: 'editor',
    input: async (f) => ({
      teamId: f.t,
      dictionaryId: f.dict.id,
      layer: 0,
      featureIndex: Math.floor(Math.random() * 1e9),
      label: 'l',
      version: 0,
    }),
  },
  'features.onChange': { level: 'viewer', input: async (f) => ({ teamId: f.t, dictionaryId: f.dict.id }) },
  'graphs.create': {
    level: 'editor',
    input: async (f) => ({ teamId: f.t, prompt: 'p', graph: tinyGraph() }),
  },
  'graphs.get': { level: 'viewer', input: async (f) => ({ graphId: f.graph.id }) },
  'graphs.payload': { level: 'viewer', input: async (f) => ({ graphId: f.graph.id }) },
  'graphs.nodes': { level: 'viewer', input: async (f) => ({ graphId: f.graph.id }) },
  'graphs.list': { level: 'viewer', input: async (f) => ({ teamId: f.t }) },
  'investigations.create': { level: 'editor', input: async (f) => ({ teamId: f.t, title: 't', prompt: '' }) },
  'investigations.get': { level: 'viewer', input: async (f) => ({ id: f.inv.id }) },
  'investigations.list': { level: 'viewer', input: async (f) => ({ teamId: f.t }) },
  'investigations.trace': {
    level: 'editor',
    input: async (f) => ({
      teamId: f.t,
      title: 't',
      prompt: 'p',
      modelId: f.model.id,
      dictionaryId: f.dict.id,
      options: { maxFeatureNodes: 10 },
    }),
  },
  'investigations.copy': { level: 'editor', input: async (f) => ({ id: f.inv.id, teamId: f.t }) },
  'investigations.update': {
    level: 'editor',
    input: async (f) => ({ id: (await f.newInv()).id, version: 1, patch: { notes: 'n' } }),
  },
  'investigations.delete': {
    level: 'editor',
    input: async (f) => ({ id: (await f.newInv()).id, version: 1 }),
  },
  'investigations.history': { level: 'viewer', input: async (f) => ({ id: f.inv.id }) },
  'investigations.restore': {
    level: 'editor',
    input: async (f) => {
      const inv = await f.newInv();
      const h = await f.owner.caller.investigations.history({ id: inv.id });
      return { id: inv.id, historyId: h.items[0].id, version: 1 };
    },
  },
  'investigations.onChange': { level: 'viewer', input: async (f) => ({ id: f.inv.id }) },
  'experiments.create': {
    level: 'editor',
    input: async (f) => ({ investigationId: f.inv.id, name: 'e', spec: {} }),
  },
  'experiments.list': { level: 'viewer', input: async (f) => ({ investigationId: f.inv.id }) },
  'experiments.update': {
    level: 'editor',
    input: async (f) => ({
      id: (await f.owner.caller.experiments.create({ investigationId: f.inv.id, name: 'e', spec: {} })).id,
      version: 1,
      result: 1,
    }),
  },
  'experiments.delete': {
    level: 'editor',
    input: async (f) => ({
      id: (await f.owner.caller.experiments.create({ investigationId: f.inv.id, name: 'e', spec: {} })).id,
      version: 1,
    }),
  },
  'presence.heartbeat': { level: 'viewer', input: async (f) => ({ investigationId: f.inv.id }) },
  'presence.leave': { level: 'viewer', input: async (f) => ({ investigationId: f.inv.id }) },
  'comments.list': { level: 'viewer', input: async (f) => ({ investigationId: f.inv.id }) },
  'comments.add': { level: 'editor', input: async (f) => ({ investigationId: f.inv.id, body: 'b' }) },
  // Author only: the editor writes the comment, so the viewer and outsider are refused.
  'comments.edit': {
    level: 'editor',
    onlyActor: 'editor',
    input: async (f) => ({
      id: (await f.editor.caller.comments.add({ investigationId: f.inv.id, body: 'b' })).id,
      version: 1,
      body: 'c',
    }),
  },
  'comments.delete': {
    level: 'editor',
    input: async (f) => ({
      id: (await f.editor.caller.comments.add({ investigationId: f.inv.id, body: 'b' })).id,
    }),
  },
  'shares.create': { level: 'editor', input: async (f) => ({ investigationId: f.inv.id }) },
  'shares.list': { level: 'editor', input: async (f) => ({ investigationId: f.inv.id }) },
  'shares.revoke': {
    level: 'editor',
    input: async (f) => ({ id: (await f.owner.caller.shares.create({ investigationId: f.inv.id })).id }),
  },
  'shares.open': {
    level: 'public',
    input: async (f) => ({
      token: (await f.owner.caller.shares.create({ investigationId: f.inv.id })).token,
    }),
  },
  'shares.features': {
    level: 'public',
    input: async (f) => ({
      token: (await f.owner.caller.shares.create({ investigationId: f.inv.id })).token,
      keys: [{ layer: 1, featureIndex: 5 }],
    }),
  },
  'shares.graphPayload': {
    level: 'public',
    input: async (f) => ({
      token: (await f.owner.caller.shares.create({ investigationId: f.inv.id })).token,
    }),
  },
  'jobs.enqueue': { level: 'editor', input: async (f) => ({ teamId: f.t, kind: 'diagnostics', params: {} }) },
  'jobs.get': { level: 'viewer', input: async (f) => ({ jobId: f.job.id }) },
  'jobs.result': { level: 'viewer', input: async (f) => ({ jobId: f.job.id }) },
  'jobs.list': { level: 'viewer', input: async (f) => ({ teamId: f.t }) },
  'jobs.cancel': {
    level: 'editor',
    input: async (f) => ({
      jobId: (await f.owner.caller.jobs.enqueue({ teamId: f.t, kind: 'diagnostics', params: {} })).id,
    }),
  },
  'jobs.onUpdate': { level: 'viewer', input: async (f) => ({ teamId: f.t }) },
  'jobs.claim': { level: 'worker', input: r({ workerId: 'w', kinds: ['train-dictionary'], leaseMs: 5000 }) },
  'jobs.heartbeat': { level: 'worker', input: async (f) => f.leaseOn() },
  'jobs.complete': { level: 'worker', input: async (f) => ({ ...(await f.leaseOn()), result: 1 }) },
  'jobs.fail': {
    level: 'worker',
    input: async (f) => ({ ...(await f.leaseOn()), error: 'e', retryable: false }),
  },
  'jobs.release': { level: 'worker', input: async (f) => f.leaseOn() },
  'jobs.ackCancel': {
    level: 'worker',
    input: async (f) => {
      const lease = await f.leaseOn();
      await f.owner.caller.jobs.cancel({ jobId: lease.jobId });
      return lease;
    },
  },
};

const procedures = Object.keys(appRouter._def.procedures).sort();
const authCodes = new Set(['UNAUTHORIZED', 'FORBIDDEN', 'NOT_FOUND']);

/** Calls `path` on `caller`; a subscription counts as allowed when its stream opens without an error. */
async function call(caller: Caller, path: string, input: unknown): Promise<string> {
  const [ns, name] = path.split('.');
  const fn = (caller as unknown as Record<string, Record<string, (i: unknown) => Promise<unknown>>>)[ns][
    name
  ];
  const type = (appRouter._def.procedures as unknown as Record<string, { _def: { type: string } }>)[path]._def
    .type;
  if (type !== 'subscription') return codeOf(fn(input));
  try {
    const stream = (await fn(input)) as AsyncIterable<unknown>;
    const it = stream[Symbol.asyncIterator]();
    // An admitted stream stays open waiting for events; an access error arrives on the first next().
    const first = await Promise.race([
      it.next().then(() => 'OK'),
      new Promise<string>((res) => setTimeout(() => res('OK'), 150)),
    ]);
    void it.return?.(undefined);
    return first;
  } catch (err) {
    return (err as { code?: string }).code ?? 'non-tRPC error';
  }
}

const rank: Record<Level, number> = { public: 0, user: 1, viewer: 2, editor: 3, owner: 4, worker: -1 };

describe('authorization matrix', () => {
  it('covers every procedure of the router', () => {
    expect(Object.keys(matrix).sort()).toEqual(procedures);
  });
});

describe.each(backendNames)('authorization matrix on %s', (backend) => {
  let h: Harness;
  let f: Fixtures;
  beforeAll(async () => {
    h = await Harness.open(backend);
    f = await setup(h);
  }, 120_000);
  afterAll(async () => h?.close());

  it('refuses every caller below the required level and admits the required level', async () => {
    const failures: string[] = [];
    for (const path of procedures) {
      const entry = matrix[path];
      const actors: [string, Caller, number, string][] = [
        ['anonymous', h.caller(), 0, 'UNAUTHORIZED'],
        ['worker', f.worker, -1, 'FORBIDDEN'],
        ['outsider', f.actors.outsider, 1, 'NOT_FOUND'],
        ['viewer', f.actors.viewer, 2, 'FORBIDDEN'],
        ['editor', f.actors.editor, 3, 'FORBIDDEN'],
        ['owner', f.actors.owner, 4, 'FORBIDDEN'],
      ];
      for (const [who, caller, level, deniedCode] of actors) {
        const input = entry.input ? await entry.input(f) : undefined;
        const got = await call(caller, path, input);
        let allowed: boolean;
        if (entry.level === 'worker') allowed = who === 'worker';
        else if (who === 'worker') allowed = entry.level === 'public';
        else if (entry.onlyActor) allowed = who === entry.onlyActor;
        else allowed = level >= rank[entry.level];
        // A worker token calling a user procedure, or a user calling a worker procedure, is FORBIDDEN;
        // anonymous callers are UNAUTHORIZED everywhere.
        let expectedDenial = entry.level === 'worker' && who !== 'anonymous' ? 'FORBIDDEN' : deniedCode;
        if (entry.refusal && level >= 1) expectedDenial = entry.refusal;
        if (allowed && authCodes.has(got)) failures.push(`${path} as ${who}: expected access, got ${got}`);
        if (!allowed && got !== expectedDenial)
          failures.push(`${path} as ${who}: expected ${expectedDenial}, got ${got}`);
      }
    }
    expect(failures).toEqual([]);
  }, 120_000);

  it('rejects invalid input to every procedure with BAD_REQUEST naming the field', async () => {
    const failures: string[] = [];
    for (const path of procedures) {
      const entry = matrix[path];
      if (!entry.input) continue;
      const caller = entry.level === 'worker' ? f.worker : f.actors.owner;
      const [ns, name] = path.split('.');
      const fn = (caller as unknown as Record<string, Record<string, (i: unknown) => Promise<unknown>>>)[ns][
        name
      ];
      try {
        const res = await fn({ unexpected: 'shape' });
        if (res && typeof res === 'object' && Symbol.asyncIterator in res) {
          await (res as AsyncIterable<unknown>)[Symbol.asyncIterator]().next();
        }
        failures.push(`${path}: accepted an invalid input`);
      } catch (err) {
        const e = err as { code?: string; cause?: unknown };
        const issues = e.cause instanceof ZodError ? e.cause.issues : [];
        if (e.code !== 'BAD_REQUEST' || issues.length === 0 || issues[0].path.length === 0) {
          failures.push(`${path}: got ${e.code} with ${issues.length} issues`);
        }
      }
    }
    expect(failures).toEqual([]);
  }, 60_000);

  it('refuses revoked and expired sessions, tokens, invites and share links, and demoted members at once', async () => {
    const db = h.db.prisma;
    const past = new Date(Date.now() - 1000);
    // Sessions: an expired one and one ended by sign-out are anonymous.
    const s = await h.user('expiring');
    await db.session.updateMany({ where: { userId: s.userId }, data: { expiresAt: past } });
    expect(await codeOf(s.caller.teams.list())).toBe('UNAUTHORIZED');
    const out = await h.user('signedout');
    const held = out.cookie;
    await out.caller.auth.signOut();
    expect(await codeOf(h.caller({ cookie: held }).teams.list())).toBe('UNAUTHORIZED');
    // Tokens: revoked and expired bearers are anonymous.
    const u = await h.user('tokens');
    const revoked = await u.caller.auth.createToken({ name: 'r' });
    await u.caller.auth.revokeToken({ id: revoked.id });
    const expired = await u.caller.auth.createToken({ name: 'e' });
    await db.apiToken.update({ where: { id: expired.id }, data: { expiresAt: past } });
    for (const t of [revoked, expired])
      expect(await codeOf(h.caller({ authorization: `Bearer ${t.token}` }).teams.list())).toBe(
        'UNAUTHORIZED',
      );
    // Invites: revoked, expired and used ones all look unknown.
    const team = f.scratchTeam.id;
    const inv1 = await f.owner.caller.teams.createInvite({ teamId: team, role: 'editor' });
    await f.owner.caller.teams.revokeInvite({ teamId: team, inviteId: inv1.id });
    const inv2 = await f.owner.caller.teams.createInvite({ teamId: team, role: 'editor' });
    await db.invite.update({ where: { id: inv2.id }, data: { expiresAt: past } });
    const inv3 = await f.owner.caller.teams.createInvite({ teamId: team, role: 'editor' });
    await (await h.user('first')).caller.teams.acceptInvite({ token: inv3.token });
    for (const i of [inv1, inv2, inv3])
      expect(await codeOf(u.caller.teams.acceptInvite({ token: i.token }))).toBe('NOT_FOUND');
    expect(await codeOf(u.caller.teams.get({ teamId: team }))).toBe('NOT_FOUND');
    // Share links: revoked and expired ones open nothing.
    const l1 = await f.owner.caller.shares.create({ investigationId: f.inv.id });
    await f.owner.caller.shares.revoke({ id: l1.id });
    const l2 = await f.owner.caller.shares.create({ investigationId: f.inv.id });
    await db.shareLink.update({ where: { id: l2.id }, data: { expiresAt: past } });
    for (const l of [l1, l2]) {
      expect(await codeOf(h.caller().shares.open({ token: l.token }))).toBe('NOT_FOUND');
      expect(await codeOf(h.caller().shares.graphPayload({ token: l.token }))).toBe('NOT_FOUND');
    }
    // A demoted editor loses editing on the next call; a removed member loses the team.
    const m = await h.user('demoted');
    const join = await f.owner.caller.teams.createInvite({ teamId: team, role: 'editor' });
    await m.caller.teams.acceptInvite({ token: join.token });
    expect(await codeOf(m.caller.investigations.create({ teamId: team, title: 't', prompt: '' }))).toBe('OK');
    await f.owner.caller.teams.setRole({ teamId: team, userId: m.userId, role: 'viewer' });
    expect(await codeOf(m.caller.investigations.create({ teamId: team, title: 't', prompt: '' }))).toBe(
      'FORBIDDEN',
    );
    expect(await codeOf(m.caller.investigations.list({ teamId: team }))).toBe('OK');
    await f.owner.caller.teams.removeMember({ teamId: team, userId: m.userId });
    expect(await codeOf(m.caller.investigations.list({ teamId: team }))).toBe('NOT_FOUND');
  });

  it('one team never sees another team’s data, even by guessing ids', async () => {
    const o = f.actors.outsider;
    expect(await codeOf(o.investigations.get({ id: f.inv.id }))).toBe('NOT_FOUND');
    expect(await codeOf(o.graphs.payload({ graphId: f.graph.id }))).toBe('NOT_FOUND');
    expect(await codeOf(o.jobs.get({ jobId: f.job.id }))).toBe('NOT_FOUND');
    expect(await codeOf(o.investigations.get({ id: '00000000-0000-4000-8000-000000000000' }))).toBe(
      'NOT_FOUND',
    );
    // Pointing own records at the other team's ids is refused too.
    const mine = await o.investigations.create({ teamId: f.otherTeam.id, title: 'mine', prompt: '' });
    expect(
      await codeOf(o.investigations.update({ id: mine.id, version: 1, patch: { graphId: f.graph.id } })),
    ).toBe('NOT_FOUND');
    // Every input that takes a catalogue id or a job id refuses the other team's.
    const foreignIds = [
      () => o.graphs.create({ teamId: f.otherTeam.id, prompt: 'p', modelId: f.model.id, graph: tinyGraph() }),
      () =>
        o.graphs.create({ teamId: f.otherTeam.id, prompt: 'p', dictionaryId: f.dict.id, graph: tinyGraph() }),
      () => o.investigations.create({ teamId: f.otherTeam.id, title: 't', prompt: '', modelId: f.model.id }),
      () => o.investigations.update({ id: mine.id, version: 1, patch: { dictionaryId: f.dict.id } }),
      () =>
        o.investigations.trace({
          teamId: f.otherTeam.id,
          title: 't',
          prompt: 'p',
          modelId: f.model.id,
          dictionaryId: f.dict.id,
        }),
      () => o.experiments.create({ investigationId: mine.id, name: 'e', spec: {}, jobId: f.job.id }),
      () =>
        o.jobs.enqueue({
          teamId: f.otherTeam.id,
          kind: 'attribute',
          params: { modelId: f.model.id, dictionaryId: f.dict.id, prompt: 'p' },
        }),
      () =>
        o.jobs.enqueue({
          teamId: f.otherTeam.id,
          kind: 'index-features',
          params: { dictionaryId: f.dict.id },
        }),
      () => o.features.get({ teamId: f.otherTeam.id, dictionaryId: f.dict.id, layer: 0, featureIndex: 0 }),
      () => o.catalog.list({ teamId: f.t }),
    ];
    for (const call of foreignIds) expect(await codeOf(call())).toBe('NOT_FOUND');
    const exp = await o.experiments.create({ investigationId: mine.id, name: 'e', spec: {} });
    expect(await codeOf(o.experiments.update({ id: exp.id, version: 1, jobId: f.job.id }))).toBe('NOT_FOUND');
    const theirCatalog = await o.catalog.list({ teamId: f.otherTeam.id });
    expect(theirCatalog.models.map((m) => m.id)).not.toContain(f.model.id);
    const lists = [
      (await o.investigations.list({ teamId: f.otherTeam.id })).items.map((i) => i.id),
      (await o.graphs.list({ teamId: f.otherTeam.id })).items.map((g) => g.id),
      (await o.jobs.list({ teamId: f.otherTeam.id })).items.map((j) => j.id),
      (await o.teams.list()).map((t) => t.id),
    ].flat();
    expect(lists).not.toContain(f.inv.id);
    expect(lists).not.toContain(f.graph.id);
    expect(lists).not.toContain(f.job.id);
    expect(lists).not.toContain(f.t);
  });
});
