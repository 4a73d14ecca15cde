/**
 * The instance catalogue: models and dictionaries every team sees (teamId null), keyed by a stable name.
 * The web server syncs it at startup from the shipped organisms and from the operator's catalogue file;
 * registering files by path is the operator's act, never a team member's.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Prisma, PrismaClient } from '@loupe/db';
import { z } from 'zod';
import { jobContract } from './jobs/contract.ts';
import { readJsonFile } from './json-file.ts';

const catalogKey = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9._-]*(\/[a-z0-9][a-z0-9._-]*)?$/,
    'lower-case letters, digits, . _ - and one optional /',
  )
  .max(200);
const absolutePath = z
  .string()
  .min(1)
  .max(4096)
  .refine((p) => path.isAbsolute(p), 'must be an absolute path');

export const catalogDictionaryEntry = z.strictObject({
  key: catalogKey,
  name: z.string().trim().min(1).max(200),
  kind: z.enum(['plt', 'clt', 'sae']),
  path: absolutePath,
});

export const catalogModelEntry = z.strictObject({
  key: catalogKey,
  name: z.string().trim().min(1).max(200),
  path: absolutePath,
  /** The checkpoint's config.json; read from `path` when absent. */
  config: z.record(z.string(), z.unknown()).optional(),
  dictionaries: z.array(catalogDictionaryEntry).max(1_000).default([]),
});

/** The operator's catalogue file (LOUPE_CATALOG): `{ "models": [{ key, name, path, dictionaries: [...] }] }`. */
export const catalogFile = z.strictObject({ models: z.array(catalogModelEntry).max(1_000) });

export type CatalogModelEntry = z.output<typeof catalogModelEntry>;

function readModelConfig(dir: string): Record<string, unknown> | undefined {
  const file = path.join(dir, 'config.json');
  if (!existsSync(file)) return undefined;
  const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
  return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
    ? (parsed as Record<string, unknown>)
    : undefined;
}

function subdirs(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => statSync(path.join(dir, name)).isDirectory())
    .sort();
}

const dictionaryKind = /^(plt|clt|sae)(-|$)/;

/**
 * The shipped organisms under `modelsDir` (packages/organism/models): each `<model>/` holding config.json, and
 * its dictionaries `<model>/dictionaries/<kind>-<width>/`. A model's only dictionary of a kind is keyed
 * `<model>/<kind>`, several of one kind `<model>/<folder>`.
 */
export function discoverShippedCatalog(modelsDir: string): CatalogModelEntry[] {
  return subdirs(modelsDir)
    .filter((name) => existsSync(path.join(modelsDir, name, 'config.json')))
    .map((name) => {
      const dir = path.join(modelsDir, name);
      const dictDir = path.join(dir, 'dictionaries');
      const found = subdirs(dictDir).flatMap((folder) => {
        const kind = dictionaryKind.exec(folder)?.[1] as 'plt' | 'clt' | 'sae' | undefined;
        return kind ? [{ folder, kind }] : [];
      });
      const dictionaries = found.map(({ folder, kind }) => ({
        key: `${name}/${found.filter((d) => d.kind === kind).length === 1 ? kind : folder}`,
        name: folder,
        kind,
        path: path.join(dictDir, folder),
      }));
      return catalogModelEntry.parse({
        key: name,
        name,
        path: dir,
        config: readModelConfig(dir),
        dictionaries,
      });
    });
}

/** The operator's catalogue file, validated; a bad file throws an error naming the file and the field. */
export function readCatalogFile(file: string): CatalogModelEntry[] {
  return readJsonFile(file, catalogFile, 'catalogue file').models.map((m) => ({
    ...m,
    config: m.config ?? readModelConfig(m.path),
  }));
}

/**
 * Upserts `entries` as instance models and dictionaries by key, in one transaction. Entries no longer listed
 * stay (graphs and investigations may name them). A key listed twice is an error.
 */
export async function syncCatalog(
  db: PrismaClient,
  entries: readonly CatalogModelEntry[],
): Promise<{ models: number; dictionaries: number }> {
  const keys = entries.flatMap((m) => [m.key, ...m.dictionaries.map((d) => d.key)]);
  const repeated = keys.find((k, i) => keys.indexOf(k) !== i);
  if (repeated) throw new Error(`catalogue key "${repeated}" is listed twice`);
  return db.$transaction(async (tx) => {
    let dictionaries = 0;
    for (const m of entries) {
      const data = {
        name: m.name,
        path: m.path,
        config: (m.config ?? undefined) as Prisma.InputJsonValue | undefined,
      };
      const model = await tx.model.upsert({
        where: { key: m.key },
        create: { ...data, key: m.key, teamId: null },
        update: data,
      });
      for (const d of m.dictionaries) {
        const row = { name: d.name, kind: d.kind, path: d.path, modelId: model.id };
        await tx.dictionary.upsert({
          where: { key: d.key },
          create: { ...row, key: d.key, teamId: null },
          update: row,
        });
        dictionaries++;
      }
    }
    return { models: entries.length, dictionaries };
  });
}

/** Below every interactive job, so tracing never waits behind background indexing. */
export const autoIndexPriority = -100;
/**
 * Batches of 32 contexts per background index: a quarter of the full default (64), so each job holds a worker
 * for under a minute on organism-m (512 contexts, ~23k tokens: enough for top examples and densities).
 * A team wanting a deeper index enqueues index-features with more batches.
 */
export const autoIndexBatches = 16;

/**
 * Enqueues an index-features instance job for every instance dictionary with no stored index and no index job
 * waiting or running. Returns the ids of the jobs created.
 */
export async function enqueueMissingIndexes(db: PrismaClient): Promise<string[]> {
  const dicts = await db.dictionary.findMany({
    where: { teamId: null },
    select: { id: true },
    orderBy: { key: 'asc' },
  });
  const created: string[] = [];
  for (const d of dicts) {
    const [indexed, pending] = await Promise.all([
      db.featureSummary.findFirst({ where: { dictionaryId: d.id }, select: { layer: true } }),
      db.job.findFirst({
        where: {
          teamId: null,
          kind: 'index-features',
          status: { in: ['queued', 'running'] },
          params: { path: ['dictionaryId'], equals: d.id },
        },
        select: { id: true },
      }),
    ]);
    if (indexed || pending) continue;
    const params = jobContract['index-features'].parse({ dictionaryId: d.id, batches: autoIndexBatches });
    const job = await db.job.create({
      data: { teamId: null, kind: 'index-features', params, priority: autoIndexPriority },
    });
    created.push(job.id);
  }
  return created;
}
