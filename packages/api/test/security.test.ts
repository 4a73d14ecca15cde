import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCallerFactory, appRouter } from '../src/index.ts';
import { createContext } from '../src/context.ts';
import { handleTrpcRequest } from '../src/http.ts';
import { newAuthLimiter } from '../src/rate-limit.ts';
import { withoutStack } from '../src/jobs/queue.ts';
import { codeOf, Harness, teamWithRoles } from './harness.ts';

const createCaller = createCallerFactory(appRouter);

/** The message of a rejected promise. */
async function messageOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'OK';
  } catch (err) {
    return (err as Error).message;
  }
}

describe('request limits, accounts, worker tokens and web hardening (PGlite)', () => {
  let h: Harness;
  let fx: Awaited<ReturnType<typeof teamWithRoles>>;
  const serve = (req: Request, maxBodyBytes?: number) =>
    handleTrpcRequest(req, {
      endpoint: '/api/trpc',
      db: h.db.prisma,
      bus: h.bus,
      dataDir: h.dataDir,
      ...(maxBodyBytes ? { maxBodyBytes } : {}),
    });
  const post = (path: string, body: BodyInit, headers: Record<string, string> = {}) =>
    new Request(`http://loupe.test/api/trpc/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', host: 'loupe.test', ...headers },
      body,
      duplex: 'half',
    } as RequestInit);

  /** A caller with its own rate limits and settings, from `ip`. */
  const callerWith = (
    opts: {
      ip?: string;
      headers?: Record<string, string>;
      limiter?: ReturnType<typeof newAuthLimiter>;
      signup?: 'open' | 'invite';
      adminEmails?: string[];
      res?: Headers;
    } = {},
  ) =>
    createCaller(() =>
      createContext({
        db: h.db.prisma,
        bus: h.bus,
        headers: new Headers(opts.headers ?? {}),
        resHeaders: opts.res,
        dataDir: h.dataDir,
        clientIp: opts.ip ?? '10.0.0.1',
        authLimiter:
          opts.limiter ??
          newAuthLimiter({
            perIp: { max: 100, windowMs: 60_000 },
            perAccount: { max: 100, windowMs: 60_000 },
          }),
        signup: opts.signup ?? 'open',
        adminEmails: opts.adminEmails ?? [],
      }),
    );

  beforeAll(async () => {
    h = await Harness.open('pglite');
    fx = await teamWithRoles(h);
  }, 120_000);
  afterAll(async () => h?.close());

  describe('request limits', () => {
    it('counts the bytes actually read: a chunked body or a false Content-Length over the limit is 413', async () => {
      const chunk = new TextEncoder().encode('x'.repeat(600));
      const chunked = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(chunk);
          c.enqueue(chunk);
          c.close();
        },
      });
      const res = await serve(post('auth.signIn', chunked), 1000);
      expect(res.status).toBe(413);
      expect((await res.json()).error.message).toMatch(/exceeds the 1000-byte limit/);
      const lying = await serve(post('auth.signIn', 'y'.repeat(1200), { 'content-length': '10' }), 1000);
      expect(lying.status).toBe(413);
      const small = await serve(post('auth.signIn', JSON.stringify({ email: 'no', password: 'x' })), 1000);
      expect(small.status).toBe(400);
    });

    it('caps the number of calls in one batch', async () => {
      const paths = Array.from({ length: 21 }, () => 'system.health').join(',');
      const input = encodeURIComponent(JSON.stringify({}));
      const over = await serve(new Request(`http://loupe.test/api/trpc/${paths}?batch=1&input=${input}`));
      expect(over.status).toBe(400);
      expect((await over.json()).error.message).toMatch(/at most 20 procedures; this one calls 21/);
      const ok = Array.from({ length: 20 }, () => 'system.health').join(',');
      expect(
        (await serve(new Request(`http://loupe.test/api/trpc/${ok}?batch=1&input=${input}`))).status,
      ).toBe(200);
    });

    it('refuses oversized experiment specs and results and too many node labels with a clear message', async () => {
      const inv = await fx.owner.caller.investigations.create({
        teamId: fx.team.id,
        title: 'caps',
        prompt: '',
      });
      const big = { blob: 'z'.repeat(1_000_001) };
      const spec = await messageOf(
        fx.owner.caller.experiments.create({ investigationId: inv.id, name: 'e', spec: big }),
      );
      expect(spec).toMatch(/experiment spec takes \d+ characters of JSON; the limit is 1000000/);
      const exp = await fx.owner.caller.experiments.create({ investigationId: inv.id, name: 'e', spec: {} });
      expect(await codeOf(fx.owner.caller.experiments.update({ id: exp.id, version: 1, result: big }))).toBe(
        'BAD_REQUEST',
      );
      const nodeLabels = Object.fromEntries(Array.from({ length: 10_001 }, (_, i) => [`n${i}`, 'l']));
      const labels = await messageOf(
        fx.owner.caller.investigations.update({ id: inv.id, version: 1, patch: { nodeLabels } }),
      );
      expect(labels).toMatch(/10001 node labels; the limit is 10000/);
    });

    it('pages experiments, share links, members, invites and tokens', async () => {
      const inv = await fx.owner.caller.investigations.create({
        teamId: fx.team.id,
        title: 'pages',
        prompt: '',
      });
      for (const name of ['a', 'b', 'c'])
        await fx.owner.caller.experiments.create({ investigationId: inv.id, name, spec: {} });
      const first = await fx.viewer.caller.experiments.list({ investigationId: inv.id, limit: 2 });
      expect(first.items.map((e) => e.name)).toEqual(['a', 'b']);
      const rest = await fx.viewer.caller.experiments.list({
        investigationId: inv.id,
        limit: 2,
        cursor: first.nextCursor as string,
      });
      expect([rest.items.map((e) => e.name), rest.nextCursor]).toEqual([['c'], null]);
      for (let i = 0; i < 3; i++) await fx.owner.caller.shares.create({ investigationId: inv.id });
      const links = await fx.owner.caller.shares.list({ investigationId: inv.id, limit: 2 });
      expect([links.items.length, links.nextCursor === null]).toEqual([2, false]);
      // Members: owner, editor, viewer, in joining order, one page of two then the rest after the cursor.
      const m1 = await fx.owner.caller.teams.members({ teamId: fx.team.id, limit: 2 });
      const m2 = await fx.owner.caller.teams.members({ teamId: fx.team.id, limit: 2, cursor: m1[1].userId });
      expect([...m1, ...m2].map((m) => m.userId)).toEqual([
        fx.owner.userId,
        fx.editor.userId,
        fx.viewer.userId,
      ]);
      const invites = await fx.owner.caller.teams.listInvites({ teamId: fx.team.id, limit: 1 });
      const nextInvites = await fx.owner.caller.teams.listInvites({
        teamId: fx.team.id,
        cursor: invites[0].id,
      });
      expect(nextInvites.map((i) => i.id)).not.toContain(invites[0].id);
      expect(invites.length + nextInvites.length).toBe(2);
      await fx.viewer.caller.auth.createToken({ name: 'a' });
      await fx.viewer.caller.auth.createToken({ name: 'b' });
      const t1 = await fx.viewer.caller.auth.listTokens({ limit: 1 });
      const t2 = await fx.viewer.caller.auth.listTokens({ cursor: t1[0].id });
      expect([...t1, ...t2].map((t) => t.name).sort()).toEqual(['a', 'b']);
    });
  });

  describe('sign-in and accounts', () => {
    it('limits sign-in attempts per address and failed sign-ins per account, saying when to retry', async () => {
      const limiter = newAuthLimiter({
        perIp: { max: 3, windowMs: 60_000 },
        perAccount: { max: 2, windowMs: 900_000 },
      });
      const email = `limited.${Date.now()}@example.com`;
      await callerWith({ limiter, ip: '10.1.1.1' }).auth.signUp({
        email,
        password: 'right password',
        name: 'L',
      });
      const fromA = callerWith({ limiter, ip: '10.1.1.1' });
      expect(await codeOf(fromA.auth.signIn({ email, password: 'wrong one' }))).toBe('UNAUTHORIZED');
      expect(await codeOf(fromA.auth.signIn({ email: 'x@example.com', password: 'wrong one' }))).toBe(
        'UNAUTHORIZED',
      );
      expect(await messageOf(fromA.auth.signIn({ email, password: 'right password' }))).toMatch(
        /^too many sign-in attempts from this address; try again in \d+ s$/,
      );
      // Another address: its second failure reaches the account's limit, so even the right password waits.
      const fromB = callerWith({ limiter, ip: '10.2.2.2' });
      expect(await codeOf(fromB.auth.signIn({ email, password: 'wrong again' }))).toBe('UNAUTHORIZED');
      expect(await messageOf(fromB.auth.signIn({ email, password: 'right password' }))).toMatch(
        /^too many failed sign-ins for this account; try again in \d+ s$/,
      );
    });

    it('answers a taken email the same way whether found or lost in a race, never with a 500', async () => {
      const email = `race.${Date.now()}@example.com`;
      const tries = await Promise.all(
        [1, 2, 3].map(() =>
          codeOf(callerWith().auth.signUp({ email, password: 'race password', name: 'R' })),
        ),
      );
      expect(tries.sort()).toEqual(['CONFLICT', 'CONFLICT', 'OK']);
      const again = await messageOf(
        callerWith().auth.signUp({ email, password: 'other password', name: 'R' }),
      );
      expect(again).toBe('cannot create an account with this email; if it is yours, sign in');
    });

    it('lets the first account of an invite-only instance sign up without an invite', async () => {
      const empty = await Harness.open('pglite');
      try {
        const first = createCaller(() =>
          createContext({ db: empty.db.prisma, bus: empty.bus, headers: new Headers(), signup: 'invite' }),
        );
        const signUp = (n: number) =>
          first.auth.signUp({ email: `first${n}@example.com`, password: 'first password', name: 'F' });
        expect(await codeOf(signUp(1))).toBe('OK');
        expect(await codeOf(signUp(2))).toBe('FORBIDDEN');
      } finally {
        await empty.close();
      }
    });

    it('signs up by invitation only when LOUPE_SIGNUP=invite', async () => {
      const email = `invited.${Date.now()}@example.com`;
      const closed = callerWith({ signup: 'invite' });
      expect(await closed.system.settings()).toEqual({ signup: 'invite' });
      expect(await callerWith({ signup: 'open' }).system.settings()).toEqual({ signup: 'open' });
      expect(await messageOf(closed.auth.signUp({ email, password: 'invite password', name: 'I' }))).toMatch(
        /by invitation/,
      );
      const invite = await fx.owner.caller.teams.createInvite({ teamId: fx.team.id, role: 'viewer' });
      const res = new Headers();
      const { user } = await callerWith({ signup: 'invite', res }).auth.signUp({
        email,
        password: 'invite password',
        name: 'I',
        inviteToken: invite.token,
      });
      const members = await fx.owner.caller.teams.members({ teamId: fx.team.id });
      expect(members.find((m) => m.userId === user.id)?.role).toBe('viewer');
      // A spent invite opens no second account, and the failed sign-up leaves no user behind.
      const second = `invited2.${Date.now()}@example.com`;
      expect(
        await codeOf(
          callerWith({ signup: 'invite' }).auth.signUp({
            email: second,
            password: 'invite password',
            name: 'J',
            inviteToken: invite.token,
          }),
        ),
      ).toBe('NOT_FOUND');
      expect(await h.db.prisma.user.count({ where: { email: second } })).toBe(0);
    });

    it('changes the password, ending every other session; signs out everywhere', async () => {
      const u = await h.user('pw');
      const email = (await u.caller.auth.me()).user?.email as string;
      const res = new Headers();
      await callerWith({ res }).auth.signIn({ email, password: 'correct horse battery' });
      const other = h.browser(res.get('set-cookie')?.split(';')[0] as string);
      expect((await other.caller.auth.me()).user?.email).toBe(email);
      expect(
        await codeOf(
          u.caller.auth.changePassword({ currentPassword: 'not it', newPassword: 'new password 1' }),
        ),
      ).toBe('UNAUTHORIZED');
      await u.caller.auth.changePassword({
        currentPassword: 'correct horse battery',
        newPassword: 'new password 1',
      });
      expect((await other.caller.auth.me()).user).toBeNull();
      expect((await u.caller.auth.me()).user?.email).toBe(email);
      expect(await codeOf(callerWith().auth.signIn({ email, password: 'correct horse battery' }))).toBe(
        'UNAUTHORIZED',
      );
      await callerWith().auth.signIn({ email, password: 'new password 1' });
      const { sessions } = await u.caller.auth.signOutEverywhere();
      expect(sessions).toBe(2);
      expect((await u.caller.auth.me()).user).toBeNull();
    });

    it('rotates the session when the caller joins a team or signs in again', async () => {
      const u = await h.user('rotate');
      const before = u.cookie;
      const invite = await fx.owner.caller.teams.createInvite({ teamId: fx.team.id, role: 'editor' });
      await u.caller.teams.acceptInvite({ token: invite.token });
      expect(u.cookie).not.toBe(before);
      expect((await h.caller({ cookie: before }).auth.me()).user).toBeNull();
      expect((await u.caller.auth.me()).user?.id).toBe(u.userId);
      const email = (await u.caller.auth.me()).user?.email as string;
      const held = u.cookie;
      await callerWith({ headers: { cookie: held } }).auth.signIn({
        email,
        password: 'correct horse battery',
      });
      expect((await h.caller({ cookie: held }).auth.me()).user).toBeNull();
    });

    it('API tokens expire', async () => {
      const { id, token, expiresAt } = await fx.viewer.caller.auth.createToken({
        name: 'short',
        expiresInDays: 1,
      });
      expect(expiresAt.getTime()).toBeGreaterThan(Date.now());
      const bearer = h.caller({ authorization: `Bearer ${token}` });
      expect(await codeOf(bearer.teams.list())).toBe('OK');
      await h.db.prisma.apiToken.update({ where: { id }, data: { expiresAt: new Date(Date.now() - 1000) } });
      expect(await codeOf(bearer.teams.list())).toBe('UNAUTHORIZED');
    });
  });

  describe('worker tokens and jobs', () => {
    it('an instance admin lists and revokes worker tokens; a revoked token claims nothing', async () => {
      const worker = await h.worker();
      // The owner signed up first: with no LOUPE_ADMIN_EMAILS, the admin.
      const page = await fx.owner.caller.admin.workerTokens();
      const mine = page.items[0];
      expect(mine.name).toMatch(/^test-worker-/);
      expect(await codeOf(fx.editor.caller.admin.workerTokens())).toBe('FORBIDDEN');
      const editorEmail = (await fx.editor.caller.auth.me()).user?.email as string;
      const byList = callerWith({ headers: { cookie: fx.editor.cookie }, adminEmails: [editorEmail] });
      expect(await codeOf(byList.admin.workerTokens())).toBe('OK');
      const ownerNotListed = callerWith({ headers: { cookie: fx.owner.cookie }, adminEmails: [editorEmail] });
      expect(await codeOf(ownerNotListed.admin.workerTokens())).toBe('FORBIDDEN');
      // auth.me says who sees the administration, by the same rule.
      expect((await fx.owner.caller.auth.me()).user?.isAdmin).toBe(true);
      expect((await fx.editor.caller.auth.me()).user?.isAdmin).toBe(false);
      expect((await byList.auth.me()).user?.isAdmin).toBe(true);
      expect((await ownerNotListed.auth.me()).user?.isAdmin).toBe(false);
      await fx.owner.caller.admin.revokeWorkerToken({ id: mine.id });
      expect(await codeOf(worker.jobs.claim({ workerId: 'w', kinds: ['diagnostics'], leaseMs: 5000 }))).toBe(
        'UNAUTHORIZED',
      );
      const after = await fx.owner.caller.admin.workerTokens({ includeRevoked: true });
      expect(after.items.find((t) => t.id === mine.id)?.revokedAt).not.toBeNull();
    });

    it('rotating the local worker token revokes the secret it replaces', async () => {
      const { rotateWorkerToken } = await import('../src/index.ts');
      const old = await rotateWorkerToken(h.db.prisma, 'local worker');
      const fresh = await rotateWorkerToken(h.db.prisma, 'local worker');
      const claim = (secret: string) =>
        codeOf(
          h
            .caller({ authorization: `Bearer ${secret}` })
            .jobs.claim({ workerId: 'w', kinds: ['train-dictionary'], leaseMs: 5000 }),
        );
      expect([await claim(old), await claim(fresh)]).toEqual(['UNAUTHORIZED', 'OK']);
    });

    it('a worker claims only the kinds its token was provisioned for, and only known kinds', async () => {
      const { token } = await fx.owner.caller.admin.createWorkerToken({
        name: 'diag only',
        kinds: ['diagnostics'],
      });
      const w = h.caller({ authorization: `Bearer ${token}` });
      expect(await messageOf(w.jobs.claim({ workerId: 'w', kinds: ['attribute'], leaseMs: 5000 }))).toBe(
        'this worker token may claim only diagnostics, not attribute',
      );
      expect(await codeOf(w.jobs.claim({ workerId: 'w', kinds: ['diagnostics'], leaseMs: 5000 }))).toBe('OK');
      const any = await h.worker();
      expect(
        await messageOf(any.jobs.claim({ workerId: 'w', kinds: ['mine-bitcoin'], leaseMs: 5000 })),
      ).toMatch(/^unknown job kind\(s\) mine-bitcoin; known: /);
    });

    it('a queued job of an unknown kind fails at the next claim instead of waiting forever', async () => {
      const stale = await h.db.prisma.job.create({
        data: { teamId: fx.team.id, kind: 'retired-kind', params: {} },
      });
      const w = await h.worker();
      await w.jobs.claim({ workerId: 'w', kinds: ['train-dictionary'], leaseMs: 5000 });
      const job = await fx.viewer.caller.jobs.get({ jobId: stale.id });
      expect([job.status, job.error]).toEqual([
        'failed',
        'unknown job kind retired-kind; no worker can run it',
      ]);
    });

    it('a job cancelled while running ends cancelled even when its worker completes it', async () => {
      const w = await h.worker();
      await h.db.prisma.job.updateMany({ where: { status: 'queued' }, data: { status: 'cancelled' } });
      const j = await fx.owner.caller.jobs.enqueue({ teamId: fx.team.id, kind: 'diagnostics', params: {} });
      const c = await w.jobs.claim({ workerId: 'w', kinds: ['diagnostics'], leaseMs: 60_000 });
      expect(c?.id).toBe(j.id);
      await fx.owner.caller.jobs.cancel({ jobId: j.id });
      const done = await w.jobs.complete({
        jobId: j.id,
        leaseToken: c?.leaseToken as string,
        result: { ok: 1 },
      });
      expect(done.status).toBe('cancelled');
      const saved = await fx.viewer.caller.jobs.get({ jobId: j.id });
      expect([saved.status, saved.result]).toEqual(['cancelled', null]);
    });

    it('keeps stack traces out of job logs and errors that team viewers read', async () => {
      const w = await h.worker();
      await h.db.prisma.job.updateMany({ where: { status: 'queued' }, data: { status: 'cancelled' } });
      const j = await fx.owner.caller.jobs.enqueue({ teamId: fx.team.id, kind: 'diagnostics', params: {} });
      const c = await w.jobs.claim({ workerId: 'w', kinds: ['diagnostics'], leaseMs: 60_000 });
      const lease = { jobId: j.id, leaseToken: c?.leaseToken as string };
      const stack =
        'Error: boom\n    at run (/srv/worker/src/handlers/x.ts:10:5)\n    at async JobLoop.runJob (loop.ts:1:1)';
      await w.jobs.heartbeat({ ...lease, logs: ['starting', stack, '    at lone (frame.ts:1:1)'] });
      await w.jobs.fail({ ...lease, error: stack, retryable: false });
      const saved = await fx.viewer.caller.jobs.get({ jobId: j.id });
      expect(saved.logs).toEqual(['starting', 'Error: boom']);
      expect(saved.error).toBe('Error: boom');
      expect(
        withoutStack('Traceback (most recent call last):\n  File "x.py", line 3, in f\nValueError: v'),
      ).toBe('ValueError: v');
    });

    it('bounds a team’s waiting jobs and its priorities', async () => {
      await h.db.prisma.job.updateMany({
        where: { teamId: fx.team.id, status: 'queued' },
        data: { status: 'cancelled' },
      });
      const previous = process.env.LOUPE_TEAM_QUEUE_LIMIT;
      process.env.LOUPE_TEAM_QUEUE_LIMIT = '2';
      try {
        const enqueue = () =>
          fx.editor.caller.jobs.enqueue({ teamId: fx.team.id, kind: 'diagnostics', params: {} });
        await enqueue();
        await enqueue();
        expect(await messageOf(enqueue())).toMatch(/already has 2 jobs queued or running \(limit 2\)/);
        expect(await codeOf(enqueue())).toBe('TOO_MANY_REQUESTS');
        // Another team's queue is its own.
        expect(
          await codeOf(
            fx.outsider.caller.jobs.enqueue({ teamId: fx.otherTeam.id, kind: 'diagnostics', params: {} }),
          ),
        ).toBe('OK');
      } finally {
        if (previous === undefined) delete process.env.LOUPE_TEAM_QUEUE_LIMIT;
        else process.env.LOUPE_TEAM_QUEUE_LIMIT = previous;
      }
      expect(
        await codeOf(
          fx.editor.caller.jobs.enqueue({
            teamId: fx.team.id,
            kind: 'diagnostics',
            params: {},
            priority: 101,
          }),
        ),
      ).toBe('BAD_REQUEST');
    });
  });

  describe('web hardening', () => {
    it('treats a malformed cookie as no cookie, never an error', async () => {
      const me = await h.caller({ cookie: 'loupe_session=%E0%A4%A; other=%' }).auth.me();
      expect(me.user).toBeNull();
      expect(await codeOf(h.caller({ cookie: 'loupe_session=%zz' }).teams.list())).toBe('UNAUTHORIZED');
    });

    it('refuses cross-site mutations riding the cookie, and admits same-site and bearer ones', async () => {
      const body = JSON.stringify({ name: 'csrf' });
      const evil = await serve(
        post('teams.create', body, { cookie: fx.owner.cookie, origin: 'https://evil.example' }),
      );
      expect(evil.status).toBe(403);
      const fetchSite = await serve(
        post('teams.create', body, { cookie: fx.owner.cookie, 'sec-fetch-site': 'cross-site' }),
      );
      expect(fetchSite.status).toBe(403);
      const same = await serve(
        post('teams.create', body, { cookie: fx.owner.cookie, origin: 'http://loupe.test' }),
      );
      expect(same.status).toBe(200);
      const { token } = await fx.owner.caller.auth.createToken({ name: 'cli' });
      const bearer = await serve(
        post('teams.create', body, { authorization: `Bearer ${token}`, origin: 'https://evil.example' }),
      );
      expect(bearer.status).toBe(200);
    });

    it('opens a share link with its token in a POST body, not the URL', async () => {
      const inv = await fx.owner.caller.investigations.create({
        teamId: fx.team.id,
        title: 'shared',
        prompt: '',
      });
      const { token } = await fx.owner.caller.shares.create({ investigationId: inv.id });
      const res = await serve(
        post('shares.open', JSON.stringify({ token }), { origin: 'http://loupe.test' }),
      );
      expect(res.status).toBe(200);
      expect((await res.json()).result.data.investigation.title).toBe('shared');
    });
  });
});
