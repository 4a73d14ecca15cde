import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import type { AppRouter } from '@loupe/api';
import type { JobPaths } from '@loupe/api/jobs';
import { createTRPCClient, httpBatchLink } from '@trpc/client';
import { rng } from '@loupe/core/testing';
import type { JobContext } from '../src/registry.ts';
import { maxBatchCalls } from '@loupe/api/limits';

export const workerDir = path.resolve(import.meta.dirname, '..');
const repoRoot = path.resolve(workerDir, '../..');
const webDir = path.resolve(workerDir, '../web');

export type Client = ReturnType<typeof createTRPCClient<AppRouter>>;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export async function until<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined> | T | undefined,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      lastError = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${String(lastError)})` : ''}`,
  );
}

/** A child process whose output is kept (bounded) for assertions and for failure messages. */
export class Proc {
  readonly lines: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    for (const stream of [child.stdout, child.stderr]) {
      let rest = '';
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => {
        const parts = (rest + chunk).split('\n');
        rest = parts.pop() ?? '';
        for (const l of parts) {
          this.lines.push(l);
          if (this.lines.length > 5_000) this.lines.shift();
        }
      });
    }
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  output(): string {
    return `--- ${this.name} ---\n${this.lines.slice(-60).join('\n')}`;
  }

  waitForLine(re: RegExp, timeoutMs: number): Promise<string> {
    return until(`${this.name} to print ${re}`, timeoutMs, () => {
      const hit = this.lines.find((l) => re.test(l));
      if (hit) return hit;
      if (!this.running) throw new Error(`${this.name} exited\n${this.output()}`);
      return undefined;
    });
  }

  /** SIGTERM, then SIGKILL if it lingers; resolves when the process is gone. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.running) return;
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    this.child.kill('SIGTERM');
    await this.exited;
    clearTimeout(timer);
  }
}

export interface WebApp {
  url: string;
  dataDir: string;
  proc: Proc;
  workerToken(): string;
}

/** Starts the production build of apps/web (run `pnpm --filter @loupe/web build` first) on a free port. */
export async function startWeb(dataDir: string, databaseUrl: string | undefined): Promise<WebApp> {
  if (!existsSync(path.join(webDir, '.next', 'BUILD_ID'))) {
    throw new Error('apps/web is not built: run `pnpm --filter @loupe/web build`');
  }
  const port = await freePort();
  // No background indexing of the shipped dictionaries and no example traces: the tests' workers run only
  // the jobs they queue.
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NEXT_TELEMETRY_DISABLED: '1',
    LOUPE_DATA_DIR: dataDir,
    LOUPE_AUTO_INDEX: '0',
    LOUPE_EXAMPLES: '0',
  };
  if (databaseUrl) env.DATABASE_URL = databaseUrl;
  else delete env.DATABASE_URL;
  const child = spawn(
    process.execPath,
    ['node_modules/next/dist/bin/next', 'start', '-p', String(port), '-H', '127.0.0.1'],
    {
      cwd: webDir,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const proc = new Proc('web', child);
  const url = `http://127.0.0.1:${port}`;
  await until('the web app to answer', 60_000, async () => {
    if (!proc.running) throw new Error(`web app exited\n${proc.output()}`);
    const res = await fetch(`${url}/api/trpc/system.health`).catch(() => undefined);
    return res?.ok ? true : undefined;
  });
  const tokenFile = path.join(dataDir, 'worker-token');
  return { url, dataDir, proc, workerToken: () => readFileSync(tokenFile, 'utf8').trim() };
}

export function client(url: string, headers: () => Record<string, string>): Client {
  return createTRPCClient<AppRouter>({
    links: [httpBatchLink({ url: `${url}/api/trpc`, headers, maxItems: maxBatchCalls })],
  });
}

/** Signs a fresh user up, creates a team and a user API token; returns a client acting as that user. */
export async function newUser(url: string): Promise<{ api: Client; teamId: string }> {
  let cookie = '';
  const signUp = createTRPCClient<AppRouter>({
    links: [
      httpBatchLink({
        url: `${url}/api/trpc`,
        maxItems: maxBatchCalls,
        headers: () => (cookie ? { cookie } : {}),
        fetch: async (input, init) => {
          const res = await fetch(input, init);
          const set = res.headers.getSetCookie().map((c) => c.split(';')[0]);
          if (set.length > 0) cookie = set.join('; ');
          return res;
        },
      }),
    ],
  });
  const email = `u${Date.now().toString(36)}${Math.random().toString(36).slice(2, 7)}@example.com`;
  await signUp.auth.signUp.mutate({ email, password: 'correct horse battery', name: 'Worker Test' });
  const { token } = await signUp.auth.createToken.mutate({ name: 'worker tests' });
  const api = client(url, () => ({ authorization: `Bearer ${token}` }));
  const team = await api.teams.create.mutate({ name: 'Queue tests' });
  return { api, teamId: team.id };
}

export interface WorkerOptions {
  url: string;
  token: string;
  workerId: string;
  leaseMs?: number;
  env?: Record<string, string>;
}

/** Short lease, poll and shutdown-grace periods, so that lost leases and hand-backs play out within seconds. */
function workerEnv(o: WorkerOptions): NodeJS.ProcessEnv {
  return {
    ...process.env,
    LOUPE_URL: o.url,
    LOUPE_API_TOKEN: o.token,
    WORKER_ID: o.workerId,
    LOUPE_LEASE_MS: String(o.leaseMs ?? 3_000),
    LOUPE_POLL_MS: '100',
    LOUPE_SHUTDOWN_GRACE_MS: '1000',
    ...o.env,
  };
}

/** A real worker process, exactly as `npm start` and infra/ run it. */
export function spawnWorker(o: WorkerOptions): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: workerDir,
    env: workerEnv(o),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Proc(o.workerId, child);
}

/** Runs the worker supervisor (infra/run-workers.sh) with n replicas. */
export function spawnSupervisor(n: number, o: WorkerOptions): Proc {
  const child = spawn(path.resolve(repoRoot, 'infra/run-workers.sh'), [String(n)], {
    env: workerEnv(o),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Proc(`supervisor(${n})`, child);
}

/** Catalogue ids for handler params; handlers read files only through the context's `paths`. */
export const someIds = {
  modelId: '00000000-0000-4000-8000-000000000001',
  dictionaryId: '00000000-0000-4000-8000-000000000002',
};

/** A context for running a handler in-process on `paths`; `percents` records every progress report. */
export function jobContext(
  signal = new AbortController().signal,
  paths: JobPaths = {},
): { ctx: JobContext; percents: number[] } {
  const percents: number[] = [];
  const ctx: JobContext = {
    signal,
    progress: (p) => percents.push(p),
    log: () => {},
    jobId: 'j',
    workerId: 'w',
    attempt: 1,
    paths,
  };
  return { ctx, percents };
}

/** Runs the command `pnpm loupe ARGS` runs (package.json: node apps/cli/loupe.mjs), as a separate process. */
export async function runLoupe(args: readonly string[]): Promise<void> {
  await promisify(execFile)(process.execPath, ['apps/cli/loupe.mjs', ...args], {
    cwd: repoRoot,
  });
}

export { writeAttributeFixture } from '@loupe/core/testing';

/** `lines` lines of 20 random words from the fixture checkpoints' WordLevel vocabulary (w4 … w47). */
export async function writeWordCorpus(file: string, lines: number): Promise<void> {
  const r = rng(11);
  const text = Array.from({ length: lines }, () =>
    Array.from({ length: 20 }, () => `w${4 + Math.floor(r() * 44)}`).join(' '),
  );
  await writeFile(file, `${text.join('\n')}\n`);
}
