import { defineConfig } from 'prisma/config';

// Prisma 6 evaluates env("DATABASE_URL") during generate and, when it cannot, downloads a query engine
// (STACK.md P9). The runtime never reads this value: src/open.ts picks PGlite or PostgreSQL itself.
process.env.DATABASE_URL ??= 'postgresql://placeholder@127.0.0.1:1/placeholder';

export default defineConfig({
  experimental: { adapter: true },
  engine: 'js',
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  async adapter() {
    const { PGlite } = await import('@electric-sql/pglite');
    const { PrismaPGlite } = await import('pglite-prisma-adapter');
    return new PrismaPGlite(new PGlite());
  },
});
