import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { digest, EventBus, provisionWorkerToken } from '@loupe/api';
import { type Database, openDatabase } from '@loupe/db';

export interface Server {
  db: Database;
  bus: EventBus;
}

/** The repository root: the nearest folder above the working directory holding pnpm-workspace.yaml. */
function repoRoot(): string {
  let dir = process.cwd();
  for (;;) {
    if (existsSync(/*turbopackIgnore: true*/ path.join(dir, 'pnpm-workspace.yaml'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
}

/**
 * Keeps the worker's token file valid: reuses the secret already written if the database still knows it,
 * otherwise provisions a new worker token and rewrites the file (mode 0600, readable by this user only).
 */
async function ensureWorkerToken(db: Database, file: string): Promise<void> {
  if (existsSync(/*turbopackIgnore: true*/ file)) {
    const secret = readFileSync(/*turbopackIgnore: true*/ file, 'utf8').trim();
    const row = secret ? await db.prisma.apiToken.findUnique({ where: { tokenHash: digest(secret) } }) : null;
    if (row && row.scope === 'worker' && !row.revokedAt) return;
  }
  const secret = await provisionWorkerToken(db.prisma, 'local worker');
  writeFileSync(/*turbopackIgnore: true*/ file, `${secret}\n`, { mode: 0o600 });
}

async function start(): Promise<Server> {
  const root = repoRoot();
  const dataDir = path.resolve(root, process.env.LOUPE_DATA_DIR ?? '.loupe');
  mkdirSync(/*turbopackIgnore: true*/ dataDir, { recursive: true });
  const url = process.env.DATABASE_URL;
  const db = await openDatabase({
    ...(url ? { url } : { dataDir: path.join(dataDir, 'db') }),
    migrationsDir: path.join(root, 'packages/db/prisma/migrations'),
  });
  if (db.applied.length > 0) console.log(`[loupe] applied migrations: ${db.applied.join(', ')}`);
  await ensureWorkerToken(db, path.join(dataDir, 'worker-token'));
  return { db, bus: new EventBus() };
}

// One database handle per process (PGlite allows a single opener); kept on globalThis so dev reloads reuse it.
const slot = globalThis as typeof globalThis & { __loupeServer?: Promise<Server> };

export function getServer(): Promise<Server> {
  slot.__loupeServer ??= start().catch((err: unknown) => {
    slot.__loupeServer = undefined;
    throw err;
  });
  return slot.__loupeServer;
}
