/** A signed-in caller of the web app's tRPC endpoint over plain HTTP, keeping its session cookie as a browser would. */

export interface CallResult<T> {
  ok: boolean;
  data?: T;
  /** tRPC error code (CONFLICT, UNAUTHORIZED, …) or NETWORK when no reply came. */
  code?: string;
  message?: string;
  ms: number;
}

export class TrpcError extends Error {
  constructor(
    readonly path: string,
    readonly code: string,
    message: string,
  ) {
    super(`${path}: ${code} ${message}`);
  }
}

export class Client {
  cookie = '';

  constructor(
    public baseUrl: string,
    private readonly record?: (path: string, result: CallResult<unknown>) => void,
  ) {}

  /** One call; never throws, so callers decide which outcomes are errors. */
  async call<T>(kind: 'query' | 'mutation', path: string, input?: unknown): Promise<CallResult<T>> {
    const headers: Record<string, string> = {};
    if (this.cookie) headers.cookie = this.cookie;
    let url = `${this.baseUrl}/api/trpc/${path}`;
    let init: RequestInit = { headers };
    if (kind === 'query') {
      if (input !== undefined) url += `?input=${encodeURIComponent(JSON.stringify(input))}`;
    } else {
      headers['content-type'] = 'application/json';
      init = { method: 'POST', headers, body: JSON.stringify(input ?? null) };
    }
    const t0 = performance.now();
    let result: CallResult<T>;
    try {
      const res = await fetch(url, { ...init, signal: AbortSignal.timeout(30_000) });
      const setCookie = res.headers.getSetCookie().find((c) => c.startsWith('loupe_session='));
      if (setCookie) this.cookie = setCookie.split(';')[0];
      const body = (await res.json()) as {
        result?: { data: T };
        error?: { message: string; data?: { code?: string } };
      };
      const ms = performance.now() - t0;
      result = body.error
        ? { ok: false, code: body.error.data?.code ?? `HTTP ${res.status}`, message: body.error.message, ms }
        : { ok: true, data: body.result?.data as T, ms };
    } catch (e) {
      result = {
        ok: false,
        code: 'NETWORK',
        message: e instanceof Error ? e.message : String(e),
        ms: performance.now() - t0,
      };
    }
    this.record?.(path, result as CallResult<unknown>);
    return result;
  }

  /** A call that must succeed: its error is thrown. */
  async must<T>(kind: 'query' | 'mutation', path: string, input?: unknown): Promise<T> {
    const r = await this.call<T>(kind, path, input);
    if (!r.ok) throw new TrpcError(path, r.code ?? '?', r.message ?? '');
    return r.data as T;
  }
}

/** A small graph in the circuit-tracer JSON shape graphs.create stores: `n` feature nodes, chained by links. */
export function syntheticGraph(n = 40) {
  const nodes = Array.from({ length: n }, (_, i) => ({
    node_id: `${i % 4}_${i}_${i % 6}`,
    feature_type: i === 0 ? 'embedding' : 'cross layer transcoder',
    layer: String(i % 4),
    feature: i,
    ctx_idx: i % 6,
    activation: (i % 7) / 7,
    influence: 1 - i / n,
    clerp: `feature ${i}`,
  }));
  const links = nodes
    .slice(1)
    .map((node, i) => ({ source: nodes[i].node_id, target: node.node_id, weight: 0.5 }));
  return { metadata: { slug: 'load', scan: 'reliability' }, nodes, links };
}

export const password = 'correct horse battery staple';

export interface Team {
  owner: Client;
  teamId: string;
}

/** Signs up an owner, creates a team, and signs up `members` more users into it by invitation (role editor). */
export async function signUpTeam(
  url: string,
  members: number,
  tag: string,
): Promise<{ team: Team; users: Client[] }> {
  const owner = new Client(url);
  await owner.must('mutation', 'auth.signUp', {
    email: `owner-${tag}@example.test`,
    password,
    name: 'Owner',
  });
  const { id: teamId } = await owner.must<{ id: string }>('mutation', 'teams.create', {
    name: `team ${tag}`,
  });
  const users: Client[] = [];
  for (let i = 0; i < members; i++) {
    const { token } = await owner.must<{ token: string }>('mutation', 'teams.createInvite', {
      teamId,
      role: 'editor',
    });
    const user = new Client(url);
    await user.must('mutation', 'auth.signUp', {
      email: `user${i}-${tag}@example.test`,
      password,
      name: `User ${i}`,
      inviteToken: token,
    });
    users.push(user);
  }
  return { team: { owner, teamId }, users };
}

/** Milliseconds at quantile `q` (0..1) of `xs`, nearest rank. */
export function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return Number.NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

export function databaseUrl(): string | undefined {
  return process.env.DATABASE_URL || process.env.TEST_DATABASE_URL || undefined;
}
