import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createScratchDatabase, type Database, openDatabase } from '@loupe/db';
import { createContext } from '../src/context.ts';
import {
  appRouter,
  createCallerFactory,
  EventBus,
  provisionWorkerToken,
  sessionCookie,
} from '../src/index.ts';

export const backendNames: ('pglite' | 'pg')[] = process.env.TEST_DATABASE_URL
  ? ['pglite', 'pg']
  : ['pglite'];

const createCaller = createCallerFactory(appRouter);
export type Caller = ReturnType<typeof createCaller>;

/** One migrated database per test file and backend: a fresh PGlite in memory, or a scratch PostgreSQL database. */
export class Harness {
  readonly bus = new EventBus();
  /** The server's data directory: where claims place job outputs. */
  readonly dataDir = mkdtempSync(path.join(tmpdir(), 'loupe-api-test-'));
  private counter = 0;

  private constructor(
    readonly db: Database,
    private readonly drop: () => Promise<void>,
  ) {}

  static async open(kind: 'pglite' | 'pg'): Promise<Harness> {
    if (kind === 'pglite') return new Harness(await openDatabase(), async () => {});
    const scratch = await createScratchDatabase(process.env.TEST_DATABASE_URL as string);
    try {
      return new Harness(await openDatabase({ url: scratch.url }), scratch.drop);
    } catch (err) {
      await scratch.drop();
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.db.close();
    await this.drop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  /** A caller sending `headers` (cookie or bearer); each call resolves the principal afresh. */
  caller(headers: Record<string, string> = {}, resHeaders?: Headers): Caller {
    return createCaller(() =>
      createContext({
        db: this.db.prisma,
        bus: this.bus,
        headers: new Headers(headers),
        resHeaders,
        dataDir: this.dataDir,
      }),
    );
  }

  /**
   * A caller that keeps its session cookie as a browser does: a session rotated by one call (sign-in, joining a
   * team, a password change) is the one the next call sends. `cookie` is the current `name=value`.
   */
  browser(cookie: string): { caller: Caller; readonly cookie: string } {
    let current = cookie;
    let last: Headers | undefined;
    const take = () => {
      const set = last?.get('set-cookie')?.split(';')[0];
      if (set?.startsWith(`${sessionCookie}=`)) current = set;
      last = undefined;
    };
    const caller = createCaller(() => {
      take();
      last = new Headers();
      return createContext({
        db: this.db.prisma,
        bus: this.bus,
        headers: new Headers({ cookie: current }),
        resHeaders: last,
        dataDir: this.dataDir,
      });
    });
    return {
      caller,
      get cookie() {
        take();
        return current;
      },
    };
  }

  /** Signs up a fresh user and returns a caller carrying its session cookie. */
  async user(name = 'user'): Promise<{ caller: Caller; userId: string; readonly cookie: string }> {
    this.counter += 1;
    const res = new Headers();
    const { user } = await this.caller({}, res).auth.signUp({
      email: `${name}${this.counter}.${Date.now()}@example.com`,
      password: 'correct horse battery',
      name,
    });
    const set = res.get('set-cookie') ?? '';
    const cookie = set.split(';')[0];
    if (!cookie.startsWith(`${sessionCookie}=`)) throw new Error(`signUp set no session cookie: ${set}`);
    const b = this.browser(cookie);
    return {
      caller: b.caller,
      userId: user.id,
      get cookie() {
        return b.cookie;
      },
    };
  }

  /**
   * A model and dictionary of `teamId` (as a finished train-dictionary job registers them), or of the
   * instance when teamId is null; paths are placeholders unless given.
   */
  async catalogPair(
    teamId: string | null,
    opts: { key?: string; modelPath?: string; dictionaryPath?: string; kind?: 'plt' | 'clt' | 'sae' } = {},
  ) {
    const n = ++this.counter;
    const model = await this.db.prisma.model.create({
      data: {
        teamId,
        key: opts.key ?? null,
        name: `model-${n}`,
        path: opts.modelPath ?? `/models/${n}`,
        config: { num_hidden_layers: 4, hidden_size: 64 },
      },
    });
    const dictionary = await this.db.prisma.dictionary.create({
      data: {
        teamId,
        key: opts.key ? `${opts.key}/${opts.kind ?? 'plt'}` : null,
        modelId: model.id,
        name: `dictionary-${n}`,
        kind: opts.kind ?? 'plt',
        path: opts.dictionaryPath ?? `/dictionaries/${n}`,
      },
    });
    return { model, dictionary };
  }

  async worker(): Promise<Caller> {
    const token = await provisionWorkerToken(this.db.prisma, `test-worker-${++this.counter}`);
    return this.caller({ authorization: `Bearer ${token}` });
  }
}

/** A team with one member per role, plus an outsider who owns a team of their own. */
export async function teamWithRoles(h: Harness) {
  const owner = await h.user('owner');
  const editor = await h.user('editor');
  const viewer = await h.user('viewer');
  const outsider = await h.user('outsider');
  const team = await owner.caller.teams.create({ name: 'Circuits' });
  for (const [member, role] of [
    [editor, 'editor'],
    [viewer, 'viewer'],
  ] as const) {
    const invite = await owner.caller.teams.createInvite({ teamId: team.id, role });
    await member.caller.teams.acceptInvite({ token: invite.token });
  }
  const otherTeam = await outsider.caller.teams.create({ name: 'Elsewhere' });
  return { owner, editor, viewer, outsider, team, otherTeam };
}

export function tinyGraph(prefix = 'n') {
  return {
    metadata: { slug: 'tiny', scan: 'test' },
    nodes: [
      { node_id: `${prefix}E_0`, feature_type: 'embedding', layer: 'E', ctx_idx: 0, influence: 0.1 },
      {
        node_id: `${prefix}1_5_0`,
        feature_type: 'cross layer transcoder',
        layer: '1',
        feature: 5,
        ctx_idx: 0,
        activation: 2.5,
        influence: 0.9,
        clerp: 'rhyme',
      },
      {
        node_id: `${prefix}2_7_1`,
        feature_type: 'cross layer transcoder',
        layer: '2',
        feature: 7,
        ctx_idx: 1,
        activation: 1.0,
        influence: 0.5,
      },
      { node_id: `${prefix}L_42`, feature_type: 'logit', layer: '3', ctx_idx: 1, influence: 1.0 },
    ],
    links: [
      { source: `${prefix}E_0`, target: `${prefix}1_5_0`, weight: 0.3 },
      { source: `${prefix}1_5_0`, target: `${prefix}L_42`, weight: 0.7 },
    ],
  };
}

/** The tRPC error code of a rejected promise, or 'OK' when it resolved. */
export async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'OK';
  } catch (err) {
    return (err as { code?: string }).code ?? `non-tRPC error: ${(err as Error).message}`;
  }
}
