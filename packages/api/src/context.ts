import path from 'node:path';
import type { PrismaClient } from '@loupe/db';
import { adminEmailsFromEnv, resolvePrincipal, type SignupMode, signupModeFromEnv } from './auth.ts';
import type { EventBus } from './bus.ts';
import { type AuthLimiter, authLimiterFromEnv } from './rate-limit.ts';
import type { Context } from './trpc.ts';

export interface ContextInput {
  db: PrismaClient;
  bus: EventBus;
  headers: Headers;
  resHeaders?: Headers;
  secureCookies?: boolean;
  /** Default: `.loupe` in the working directory. */
  dataDir?: string;
  /** The caller's address; rate limits key on it. */
  clientIp?: string;
  /** Default: one limiter per process, from LOUPE_AUTH_IP_LIMIT and LOUPE_AUTH_ACCOUNT_LIMIT. */
  authLimiter?: AuthLimiter;
  /** Default: LOUPE_SIGNUP. */
  signup?: SignupMode;
  /** Default: LOUPE_ADMIN_EMAILS. */
  adminEmails?: readonly string[];
}

// Counters must outlive a request to limit anything: one limiter for the process.
let processLimiter: AuthLimiter | undefined;

/**
 * Reads LOUPE_SIGNUP, LOUPE_ADMIN_EMAILS, LOUPE_AUTH_IP_LIMIT and LOUPE_AUTH_ACCOUNT_LIMIT once, so a bad value
 * stops the server at start instead of failing every request.
 */
export function checkAuthSettings(): { signup: SignupMode; adminEmails: string[] } {
  processLimiter ??= authLimiterFromEnv();
  return { signup: signupModeFromEnv(), adminEmails: adminEmailsFromEnv() };
}

/** Per-request context: resolves the caller once from the cookie or bearer token. */
export async function createContext(input: ContextInput): Promise<Context> {
  return {
    db: input.db,
    bus: input.bus,
    headers: input.headers,
    resHeaders: input.resHeaders ?? new Headers(),
    secureCookies: input.secureCookies ?? false,
    dataDir: path.resolve(/*turbopackIgnore: true*/ input.dataDir ?? '.loupe'),
    clientIp: input.clientIp ?? 'unknown',
    authLimiter: input.authLimiter ?? (processLimiter ??= authLimiterFromEnv()),
    signup: input.signup ?? signupModeFromEnv(),
    adminEmails: input.adminEmails ?? adminEmailsFromEnv(),
    principal: await resolvePrincipal(input.db, input.headers),
  };
}
