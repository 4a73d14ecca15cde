import { fetchRequestHandler } from '@trpc/server/adapters/fetch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appRouter, createContext } from '../src/index.ts';
import { Harness, teamWithRoles } from './harness.ts';

// The HTTP layer exactly as the web app mounts it, without a server: Request in, Response out.
describe('tRPC over HTTP (fetch adapter, PGlite)', () => {
  let h: Harness;
  let fx: Awaited<ReturnType<typeof teamWithRoles>>;
  const serve = (req: Request) =>
    fetchRequestHandler({
      endpoint: '/api/trpc',
      req,
      router: appRouter,
      createContext: ({ resHeaders }) =>
        createContext({ db: h.db.prisma, bus: h.bus, headers: req.headers, resHeaders }),
    });
  const get = (path: string, input: unknown, headers: Record<string, string> = {}) =>
    serve(
      new Request(`http://loupe.test/api/trpc/${path}?input=${encodeURIComponent(JSON.stringify(input))}`, {
        headers,
      }),
    );
  const post = (path: string, input: unknown, headers: Record<string, string> = {}) =>
    serve(
      new Request(`http://loupe.test/api/trpc/${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(input),
      }),
    );

  beforeAll(async () => {
    h = await Harness.open('pglite');
    fx = await teamWithRoles(h);
  }, 120_000);
  afterAll(async () => h?.close());

  it('sets an HTTP-only session cookie on sign-up and accepts it back', async () => {
    const res = await post('auth.signUp', {
      email: `http.${Date.now()}@example.com`,
      password: 'http password',
      name: 'H',
    });
    expect(res.status).toBe(200);
    const cookie = res.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/^loupe_session=[^;]+; Path=\/; HttpOnly; SameSite=Lax; Max-Age=\d+/);
    const me = await (await get('auth.me', undefined, { cookie: cookie.split(';')[0] })).json();
    expect(me.result.data.user.name).toBe('H');
  });

  it('answers invalid input with 400 BAD_REQUEST and zod issues naming the field', async () => {
    const res = await get('investigations.list', { teamId: 'not-a-uuid' }, { cookie: fx.owner.cookie });
    expect(res.status).toBe(400);
    const body = await res.json();
    expect(body.error.data.code).toBe('BAD_REQUEST');
    expect(body.error.data.zodIssues[0].path).toEqual(['teamId']);
  });

  it('answers a stale write with 409 CONFLICT', async () => {
    const inv = await fx.owner.caller.investigations.create({ teamId: fx.team.id, title: 't', prompt: '' });
    await fx.owner.caller.investigations.update({ id: inv.id, version: 1, patch: { notes: 'first' } });
    const res = await post(
      'investigations.update',
      { id: inv.id, version: 1, patch: { notes: 'stale' } },
      { cookie: fx.editor.cookie },
    );
    expect(res.status).toBe(409);
    expect((await res.json()).error.data.code).toBe('CONFLICT');
  });

  it('streams live changes over server-sent events', async () => {
    const inv = await fx.owner.caller.investigations.create({ teamId: fx.team.id, title: 'sse', prompt: '' });
    const ac = new AbortController();
    const res = await serve(
      new Request(
        `http://loupe.test/api/trpc/investigations.onChange?input=${encodeURIComponent(JSON.stringify({ id: inv.id }))}`,
        {
          headers: { cookie: fx.viewer.cookie, accept: 'text/event-stream' },
          signal: ac.signal,
        },
      ),
    );
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = '';
    const sawUpdate = (async () => {
      while (!text.includes('"version":2')) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value);
      }
    })();
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    await fx.editor.caller.investigations.update({ id: inv.id, version: 1, patch: { title: 'changed' } });
    await sawUpdate;
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(text).toContain(`"entityId":"${inv.id}"`);
    ac.abort();
    await reader.cancel().catch(() => {});
  });
});
