import { createHash, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Runs SQL on one session. `exec` takes a multi-statement script (simple protocol); `query` takes params. */
export interface SqlSession {
  exec(sql: string): Promise<void>;
  query<T>(sql: string, params: unknown[]): Promise<T[]>;
}

export interface Migration {
  name: string;
  sql: string;
  checksum: string;
}

/** This package's committed migrations. Bundlers may rewrite import.meta.url, so bundled callers pass a path instead. */
export function defaultMigrationsDir(): string {
  return path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'prisma', 'migrations');
}

/** Reads `<dir>/<name>/migration.sql` in name order, the layout `prisma migrate` writes. */
export function readMigrations(dir: string = defaultMigrationsDir()): Migration[] {
  let names: string[];
  try {
    names = readdirSync(/*turbopackIgnore: true*/ dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort();
  } catch (err) {
    throw new Error(`cannot read migrations directory ${dir}: ${(err as Error).message}`);
  }
  if (names.length === 0) throw new Error(`no migrations found in ${dir}`);
  return names.map((name) => {
    const sql = readFileSync(/*turbopackIgnore: true*/ path.join(dir, name, 'migration.sql'), 'utf8');
    return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
  });
}

// Same table and checksum (sha256 of the file) as Prisma's, so `prisma migrate status` agrees with this runner.
const createTable = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
  "id" VARCHAR(36) PRIMARY KEY NOT NULL,
  "checksum" VARCHAR(64) NOT NULL,
  "finished_at" TIMESTAMPTZ,
  "migration_name" VARCHAR(255) NOT NULL,
  "logs" TEXT,
  "rolled_back_at" TIMESTAMPTZ,
  "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
  "applied_steps_count" INTEGER NOT NULL DEFAULT 0
)`;

// Prisma's own advisory-lock key: two processes migrating one PostgreSQL database wait for each other.
const lockKey = 72707369;

/**
 * Applies every migration not yet recorded, each in its own transaction. Returns the names applied.
 * A recorded migration whose file changed since is an error: the database no longer matches the code.
 */
export async function applyMigrations(session: SqlSession, migrations: Migration[]): Promise<string[]> {
  await session.query('SELECT pg_advisory_lock($1)', [lockKey]);
  try {
    await session.exec(createTable);
    const rows = await session.query<{ migration_name: string; checksum: string }>(
      'SELECT migration_name, checksum FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL',
      [],
    );
    const done = new Map(rows.map((r) => [r.migration_name, r.checksum]));
    const applied: string[] = [];
    for (const m of migrations) {
      const recorded = done.get(m.name);
      if (recorded !== undefined) {
        if (recorded !== m.checksum) {
          throw new Error(`migration ${m.name} was modified after it was applied (checksum mismatch)`);
        }
        continue;
      }
      await session.exec('BEGIN');
      try {
        await session.exec(m.sql);
        await session.query(
          'INSERT INTO "_prisma_migrations" (id, checksum, migration_name, finished_at, applied_steps_count) VALUES ($1, $2, $3, now(), 1)',
          [randomUUID(), m.checksum, m.name],
        );
        await session.exec('COMMIT');
      } catch (err) {
        await session.exec('ROLLBACK');
        throw new Error(`migration ${m.name} failed: ${(err as Error).message}`);
      }
      applied.push(m.name);
    }
    return applied;
  } finally {
    await session.query('SELECT pg_advisory_unlock($1)', [lockKey]);
  }
}
