import { PGlite } from '@electric-sql/pglite';
import { describe, expect, it } from 'vitest';
import { applyMigrations, readMigrations } from '../src/index.ts';

const catalogMigration = '20261204160000_instance_catalog';

describe('instance catalogue migration', () => {
  it('gives existing feature annotations the team of their dictionary and allows instance rows', async () => {
    const lite = new PGlite();
    const session = {
      exec: async (sql: string) => void (await lite.exec(sql)),
      query: async <T>(sql: string, p: unknown[]) => (await lite.query<T>(sql, p)).rows,
    };
    const all = readMigrations();
    const at = all.findIndex((m) => m.name === catalogMigration);
    expect(at).toBeGreaterThan(0);
    await applyMigrations(session, all.slice(0, at));
    await lite.exec(`
      INSERT INTO "Team" (id, name) VALUES ('t1', 'one'), ('t2', 'two');
      INSERT INTO "Model" (id, "teamId", name, path) VALUES ('m1', 't1', 'm', '/m'), ('m2', 't2', 'm', '/m');
      INSERT INTO "Dictionary" (id, "teamId", "modelId", name, kind, path)
        VALUES ('d1', 't1', 'm1', 'd', 'plt', '/d'), ('d2', 't2', 'm2', 'd', 'plt', '/d');
      INSERT INTO "FeatureAnnotation" (id, "dictionaryId", layer, "featureIndex", label, "updatedAt")
        VALUES ('a1', 'd1', 0, 1, 'one', now()), ('a2', 'd2', 0, 1, 'two', now());`);
    expect(await applyMigrations(session, all)).toEqual(all.slice(at).map((m) => m.name));
    const rows = await session.query<{ id: string; teamId: string }>(
      'SELECT id, "teamId" FROM "FeatureAnnotation" ORDER BY id',
      [],
    );
    expect(rows).toEqual([
      { id: 'a1', teamId: 't1' },
      { id: 'a2', teamId: 't2' },
    ]);
    // An instance model and dictionary (no team), keyed; a second row with the same key is refused.
    await lite.exec(`
      INSERT INTO "Model" (id, "teamId", key, name, path) VALUES ('m3', NULL, 'organism-m', 'organism-m', '/o');
      INSERT INTO "Dictionary" (id, "teamId", key, "modelId", name, kind, path)
        VALUES ('d3', NULL, 'organism-m/plt', 'm3', 'plt', 'plt', '/o/plt');`);
    await expect(
      lite.exec(`INSERT INTO "Model" (id, key, name, path) VALUES ('m4', 'organism-m', 'x', '/x')`),
    ).rejects.toThrow(/unique/i);
    // Two teams may label the same feature of one dictionary; one team only once.
    await lite.exec(`INSERT INTO "FeatureAnnotation" (id, "teamId", "dictionaryId", layer, "featureIndex", "updatedAt")
      VALUES ('a3', 't1', 'd3', 0, 1, now()), ('a4', 't2', 'd3', 0, 1, now())`);
    await expect(
      lite.exec(`INSERT INTO "FeatureAnnotation" (id, "teamId", "dictionaryId", layer, "featureIndex", "updatedAt")
        VALUES ('a5', 't1', 'd3', 0, 1, now())`),
    ).rejects.toThrow(/unique/i);
    await lite.close();
  });
});
