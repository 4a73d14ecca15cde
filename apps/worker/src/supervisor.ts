import { type ChildProcess, spawn } from 'node:child_process';
import { hostname } from 'node:os';
import path from 'node:path';
import { z } from 'zod';

/**
 * Runs N worker replicas on this machine against one web app, restarting any that die, and stops them all
 * gracefully on SIGINT/SIGTERM. Usage: `node --import tsx src/supervisor.ts N` (infra/run-workers.sh wraps it).
 * Every replica reads the same LOUPE_* environment; only WORKER_ID differs (`<WORKER_ID or host>-<i>`).
 */

const workerDir = path.resolve(import.meta.dirname, '..');
const say = (line: string) => console.log(`[supervisor] ${line}`);

const args = z.tuple([z.coerce.number().int().min(1).max(256)]).safeParse(process.argv.slice(2));
if (!args.success) {
  console.error('usage: supervisor.ts N   (N = number of worker replicas, 1..256)');
  process.exit(2);
}
const replicas = args.data[0];
const env = z
  .object({
    WORKER_ID: z
      .string()
      .regex(/^[A-Za-z0-9._:@-]{1,100}$/)
      .optional(),
    LOUPE_SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).max(600_000).default(3_000),
  })
  .safeParse(process.env);
if (!env.success) {
  console.error(
    `[supervisor] invalid environment: ${env.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
  );
  process.exit(2);
}
const base = env.data.WORKER_ID ?? hostname().replace(/[^A-Za-z0-9._-]/g, '-');
// A worker needs its shutdown grace plus time to hand its job back; past that it is killed.
const stopTimeoutMs = env.data.LOUPE_SHUTDOWN_GRACE_MS + 10_000;

interface Replica {
  id: string;
  child?: ChildProcess;
  restarts: number;
  startedAt: number;
  timer?: NodeJS.Timeout;
}

let stopping = false;
const pool: Replica[] = Array.from({ length: replicas }, (_, i) => ({
  id: `${base}-${i + 1}`,
  restarts: 0,
  startedAt: 0,
}));

function pipeLines(stream: NodeJS.ReadableStream, prefix: string, out: NodeJS.WritableStream): void {
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const lines = (rest + chunk).split('\n');
    rest = lines.pop() ?? '';
    for (const l of lines) out.write(`${prefix} ${l}\n`);
  });
  stream.on('end', () => {
    if (rest) out.write(`${prefix} ${rest}\n`);
  });
}

function start(r: Replica): void {
  r.startedAt = Date.now();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: workerDir,
    env: { ...process.env, WORKER_ID: r.id },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  r.child = child;
  pipeLines(child.stdout!, `[${r.id}]`, process.stdout);
  pipeLines(child.stderr!, `[${r.id}]`, process.stderr);
  child.on('exit', (code, signal) => {
    r.child = undefined;
    if (stopping) return;
    // A replica that ran a while is healthy again; one that keeps dying backs off up to 30 s.
    if (Date.now() - r.startedAt > 60_000) r.restarts = 0;
    const delay = Math.min(30_000, 1_000 * 2 ** r.restarts++);
    say(`${r.id} exited (${code ?? signal}); restarting in ${delay} ms`);
    r.timer = setTimeout(() => start(r), delay);
  });
}

async function stopAll(): Promise<void> {
  if (stopping) return;
  stopping = true;
  say(`stopping ${replicas} worker(s)`);
  const exits = pool.map((r) => {
    clearTimeout(r.timer);
    const child = r.child;
    if (!child || child.exitCode !== null) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const kill = setTimeout(() => child.kill('SIGKILL'), stopTimeoutMs);
      child.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      child.kill('SIGTERM');
    });
  });
  await Promise.all(exits);
  process.exit(0);
}

process.on('SIGINT', stopAll);
process.on('SIGTERM', stopAll);
say(`starting ${replicas} worker(s) as ${pool.map((r) => r.id).join(', ')}`);
for (const r of pool) start(r);
