import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  type CatalogModelEntry,
  checkAuthSettings,
  discoverShippedCatalog,
  digest,
  EventBus,
  PgEventBus,
  enqueueMissingIndexes,
  readCatalogFile,
  readExampleSeed,
  rotateWorkerToken,
  seedExamples,
  syncCatalog,
} from '@loupe/api';
import { type Database, openDatabase } from '@loupe/db';
import { repoRoot } from './repo-root';

export interface Server {
  db: Database;
  bus: EventBus;
  /** Jobs' outputs go to folders the server picks under it. */
  dataDir: string;
}

/**
 * Keeps the worker's token file valid: reuses the secret already written if the database still knows it,
 * otherwise rotates the local worker token (the one it replaces is revoked) and rewrites the file (mode 0600,
 * readable by this user only).
 */
async function ensureWorkerToken(db: Database, file: string): Promise<void> {
  if (existsSync(/*turbopackIgnore: true*/ file)) {
    const secret = readFileSync(/*turbopackIgnore: true*/ file, 'utf8').trim();
    const row = secret ? await db.prisma.apiToken.findUnique({ where: { tokenHash: digest(secret) } }) : null;
    if (row && row.scope === 'worker' && !row.revokedAt) return;
  }
  const secret = await rotateWorkerToken(db.prisma, 'local worker');
  writeFileSync(/*turbopackIgnore: true*/ file, `${secret}\n`, { mode: 0o600 });
}

/**
 * The instance catalogue every team sees: the shipped organisms and their dictionaries, plus the operator's
 * catalogue file (LOUPE_CATALOG, default <dataDir>/catalog.json when present). A bad file stops the start.
 */
function catalogEntries(root: string, dataDir: string): CatalogModelEntry[] {
  const shipped = discoverShippedCatalog(path.join(root, 'packages/organism/models'));
  const named = process.env.LOUPE_CATALOG;
  const file = named ? path.resolve(root, named) : path.join(dataDir, 'catalog.json');
  if (!named && !existsSync(/*turbopackIgnore: true*/ file)) return shipped;
  if (!existsSync(/*turbopackIgnore: true*/ file))
    throw new Error(`LOUPE_CATALOG names ${file}, which does not exist`);
  return [...shipped, ...readCatalogFile(file)];
}

async function start(): Promise<Server> {
  const root = repoRoot();
  const auth = checkAuthSettings();
  console.log(`[loupe] sign-up: ${auth.signup === 'open' ? 'open to anyone' : 'by invitation'}`);
  const dataDir = path.resolve(root, process.env.LOUPE_DATA_DIR ?? '.loupe');
  mkdirSync(/*turbopackIgnore: true*/ dataDir, { recursive: true });
  const url = process.env.DATABASE_URL;
  const db = await openDatabase({
    ...(url ? { url } : { dataDir: path.join(dataDir, 'db') }),
    migrationsDir: path.join(root, 'packages/db/prisma/migrations'),
  });
  if (db.applied.length > 0) console.log(`[loupe] applied migrations: ${db.applied.join(', ')}`);
  await ensureWorkerToken(db, path.join(dataDir, 'worker-token'));
  const synced = await syncCatalog(db.prisma, catalogEntries(root, dataDir));
  console.log(`[loupe] catalogue: ${synced.models} models, ${synced.dictionaries} dictionaries`);
  // The case studies as a read-only Examples team every user can open; LOUPE_EXAMPLES=0 leaves it out.
  if (process.env.LOUPE_EXAMPLES !== '0') {
    const seed = readExampleSeed(path.join(root, 'packages/api/seed/examples.json'));
    const out = await seedExamples(db.prisma, seed);
    console.log(
      `[loupe] examples: ${out.applied ? `loaded revision ${out.revision}` : 'up to date'}, ${out.traces.length} traces queued`,
    );
    if (out.missing.length > 0)
      console.log(
        `[loupe] examples whose organism the catalogue lacks (no graph): ${out.missing.join(', ')}`,
      );
  }
  // Feature labels and top contexts for the shared dictionaries, built by the worker at low priority.
  if (process.env.LOUPE_AUTO_INDEX !== '0') {
    const queued = await enqueueMissingIndexes(db.prisma);
    if (queued.length > 0) console.log(`[loupe] queued ${queued.length} feature index jobs`);
  }
  // Several web processes may share a PostgreSQL database, so its events travel by NOTIFY; PGlite has one opener.
  const bus = url ? await PgEventBus.connect(url) : new EventBus();
  return { db, bus, dataDir };
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
