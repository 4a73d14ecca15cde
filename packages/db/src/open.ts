import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from './generated/prisma/client.ts';
import { pgliteAdapter } from './pglite-adapter.ts';
import { applyMigrations, readMigrations, type SqlSession } from './migrate.ts';

export type DbKind = 'pglite' | 'pg';

export interface Database {
  prisma: PrismaClient;
  kind: DbKind;
  /** Names of migrations applied by this open (empty when the schema was already current). */
  applied: string[];
  close(): Promise<void>;
}

export interface OpenOptions {
  /** PostgreSQL connection string; when absent, PGlite is used. */
  url?: string;
  /** PGlite data directory (created if missing); absent = in-memory. Ignored with `url`. */
  dataDir?: string;
  /** Defaults to the committed prisma/migrations of this package. */
  migrationsDir?: string;
}

// PGlite runs one transaction at a time, so a transaction may queue behind a long one (storing a large graph):
// Prisma's defaults (2 s to start, 5 s to finish) would fail it under ordinary load.
const transactionOptions = { maxWait: 30_000, timeout: 60_000 };

function pgliteSession(db: PGlite): SqlSession {
  return {
    async exec(sql) {
      await db.exec(sql);
    },
    async query<T>(sql: string, params: unknown[]) {
      return (await db.query<T>(sql, params)).rows;
    },
  };
}

function pgSession(client: pg.Client): SqlSession {
  return {
    async exec(sql) {
      await client.query(sql);
    },
    async query<T>(sql: string, params: unknown[]) {
      return (await client.query(sql, params)).rows as T[];
    },
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * PGlite has no cross-process locking and two processes on one directory corrupt it, so a pid file
 * refuses a second opener while the first is alive. Returns the release function.
 */
function lockDataDir(dir: string): () => void {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'loupe.pid');
  try {
    writeFileSync(file, String(process.pid), { flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const holder = Number.parseInt(readFileSync(file, 'utf8'), 10);
    if (Number.isInteger(holder) && holder !== process.pid && isAlive(holder)) {
      throw new Error(
        `the PGlite database in ${dir} is open in another process (pid ${holder}); only one process may open it`,
      );
    }
    writeFileSync(file, String(process.pid));
  }
  return () => rmSync(file, { force: true });
}

/** Opens PostgreSQL (`url`) or PGlite (`dataDir` or in-memory) and brings its schema up to date. */
export async function openDatabase(opts: OpenOptions = {}): Promise<Database> {
  const migrations = readMigrations(opts.migrationsDir);
  if (opts.url) {
    let parsed: URL;
    try {
      parsed = new URL(opts.url);
    } catch {
      throw new Error('DATABASE_URL is not a valid URL (expected postgresql://user@host:port/db)');
    }
    if (parsed.protocol !== 'postgresql:' && parsed.protocol !== 'postgres:') {
      throw new Error(`DATABASE_URL must be a postgresql:// URL, got ${parsed.protocol}`);
    }
    const client = new pg.Client({ connectionString: opts.url });
    await client.connect();
    let applied: string[];
    try {
      applied = await applyMigrations(pgSession(client), migrations);
    } finally {
      await client.end();
    }
    const prisma = new PrismaClient({
      adapter: new PrismaPg({ connectionString: opts.url }),
      transactionOptions,
    });
    return { prisma, kind: 'pg', applied, close: () => prisma.$disconnect() };
  }
  const unlock = opts.dataDir ? lockDataDir(opts.dataDir) : () => {};
  let lite: PGlite;
  let applied: string[];
  try {
    lite = opts.dataDir ? new PGlite(opts.dataDir) : new PGlite();
  } catch (err) {
    unlock();
    throw err;
  }
  try {
    applied = await applyMigrations(pgliteSession(lite), migrations);
  } catch (err) {
    await lite.close();
    unlock();
    throw err;
  }
  const prisma = new PrismaClient({ adapter: pgliteAdapter(lite), transactionOptions });
  return {
    prisma,
    kind: 'pglite',
    applied,
    async close() {
      await prisma.$disconnect();
      await lite.close();
      unlock();
    },
  };
}

/**
 * Creates an empty database next to `adminUrl`'s (for tests: one per file) and returns its URL and a drop().
 */
export async function createScratchDatabase(
  adminUrl: string,
): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `loupe_test_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
