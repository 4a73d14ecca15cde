import path from 'node:path';
import type { PrismaClient } from '@loupe/db';
import { resolvePrincipal } from './auth.ts';
import type { EventBus } from './bus.ts';
import type { Context } from './trpc.ts';

export interface ContextInput {
  db: PrismaClient;
  bus: EventBus;
  headers: Headers;
  resHeaders?: Headers;
  secureCookies?: boolean;
  /** Default: `.loupe` in the working directory. */
  dataDir?: string;
}

/** Per-request context: resolves the caller once from the cookie or bearer token. */
export async function createContext(input: ContextInput): Promise<Context> {
  return {
    db: input.db,
    bus: input.bus,
    headers: input.headers,
    resHeaders: input.resHeaders ?? new Headers(),
    secureCookies: input.secureCookies ?? false,
    dataDir: path.resolve(input.dataDir ?? '.loupe'),
    principal: await resolvePrincipal(input.db, input.headers),
  };
}
