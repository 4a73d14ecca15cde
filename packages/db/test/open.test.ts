import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createScratchDatabase, openDatabase, readMigrations } from '../src/index.ts';

const pgUrl = process.env.TEST_DATABASE_URL;

describe('openDatabase (PGlite directory)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'loupe-db-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('migrates on first open, not on the second, and keeps data', async () => {
    const first = await openDatabase({ dataDir: dir });
    expect(first.kind).toBe('pglite');
    expect(first.applied).toEqual(readMigrations().map((m) => m.name));
    await first.prisma.user.create({ data: { email: 'a@example.com', name: 'A', passwordHash: 'x' } });
    await first.close();

    const second = await openDatabase({ dataDir: dir });
    expect(second.applied).toEqual([]);
    expect(await second.prisma.user.count()).toBe(1);
    await second.close();
  });

  it('refuses a migration edited after it was applied', async () => {
    const db = await openDatabase({ dataDir: dir });
    await db.close();
    const migrations = readMigrations().map((m) => ({ ...m, checksum: 'f'.repeat(64) }));
    const { PGlite } = await import('@electric-sql/pglite');
    const { applyMigrations } = await import('../src/migrate.ts');
    const lite = new PGlite(dir);
    const session = {
      exec: async (sql: string) => void (await lite.exec(sql)),
      query: async <T>(sql: string, p: unknown[]) => (await lite.query<T>(sql, p)).rows,
    };
    await expect(applyMigrations(session, migrations)).rejects.toThrow(/modified after it was applied/);
    await lite.close();
  });

  it('refuses a directory another live process holds, and takes over a stale lock', async () => {
    const { writeFileSync } = await import('node:fs');
    writeFileSync(path.join(dir, 'loupe.pid'), String(process.ppid));
    await expect(openDatabase({ dataDir: dir })).rejects.toThrow(/open in another process \(pid \d+\)/);
    writeFileSync(path.join(dir, 'loupe.pid'), '999999999');
    const db = await openDatabase({ dataDir: dir });
    await db.close();
  });

  it('names a bad migrations directory', async () => {
    await expect(openDatabase({ migrationsDir: '/nonexistent/migrations' })).rejects.toThrow(
      /\/nonexistent\/migrations/,
    );
  });
});

describe.runIf(pgUrl)('openDatabase (PostgreSQL)', () => {
  it('migrates a fresh database, enforces append-only history, and drops it', async () => {
    const scratch = await createScratchDatabase(pgUrl as string);
    try {
      const db = await openDatabase({ url: scratch.url });
      expect(db.kind).toBe('pg');
      expect(db.applied.length).toBeGreaterThan(0);
      const team = await db.prisma.team.create({ data: { name: 'T' } });
      const h = await db.prisma.historyEntry.create({
        data: { teamId: team.id, entityType: 't', entityId: team.id, action: 'create', snapshot: {} },
      });
      await expect(
        db.prisma.historyEntry.update({ where: { id: h.id }, data: { action: 'x' } }),
      ).rejects.toThrow(/append-only/);
      await db.close();
      const again = await openDatabase({ url: scratch.url });
      expect(again.applied).toEqual([]);
      await again.close();
    } finally {
      await scratch.drop();
    }
  });

  it('rejects a non-postgres URL with a clear error', async () => {
    await expect(openDatabase({ url: 'mysql://x@y/z' })).rejects.toThrow(/postgresql:\/\//);
  });
});

describe('PGlite client', () => {
  it('round-trips binary data and queues transactions instead of failing them', async () => {
    const db = await openDatabase();
    try {
      const team = await db.prisma.team.create({ data: { name: 'b' } });
      const data = new Uint8Array([0, 1, 2, 253, 254, 255]);
      const blob = await db.prisma.blob.create({
        data: { teamId: team.id, contentType: 'x', encoding: 'identity', rawBytes: 6, sha256: '-', data },
      });
      const back = await db.prisma.$transaction((tx) =>
        tx.blob.findUniqueOrThrow({ where: { id: blob.id } }),
      );
      expect(Array.from(back.data)).toEqual(Array.from(data));

      // PGlite serialises transactions: a short one queued behind a 2.5 s one must wait, not fail.
      const long = db.prisma.$transaction(async (tx) => {
        await tx.team.update({ where: { id: team.id }, data: { name: 'long' } });
        await new Promise((r) => setTimeout(r, 2500));
      });
      await new Promise((r) => setTimeout(r, 50));
      const short = db.prisma.$transaction((tx) => tx.team.count());
      await expect(Promise.all([long, short])).resolves.toEqual([undefined, 1]);
    } finally {
      await db.close();
    }
  });
});
