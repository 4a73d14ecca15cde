export { Prisma, PrismaClient } from './generated/prisma/client.ts';
export type * from './generated/prisma/models.ts';
export {
  applyMigrations,
  defaultMigrationsDir,
  type Migration,
  readMigrations,
  type SqlSession,
} from './migrate.ts';
export { createScratchDatabase, type Database, type DbKind, type OpenOptions, openDatabase } from './open.ts';
