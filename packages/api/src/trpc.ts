import type { PrismaClient } from '@loupe/db';
import { initTRPC, TRPCError } from '@trpc/server';
import { ZodError } from 'zod';
import { isInstanceAdmin, type SignupMode } from './auth.ts';
import type { EventBus } from './bus.ts';
import type { AuthLimiter } from './rate-limit.ts';

export type Role = 'owner' | 'editor' | 'viewer';

export type Principal =
  | { kind: 'user'; userId: string; via: 'session' | 'token' }
  | {
      kind: 'worker';
      tokenId: string /** The job kinds it may claim; null: every kind. */;
      kinds: string[] | null;
    };

export interface Context {
  db: PrismaClient;
  bus: EventBus;
  /** Headers of the incoming request; auth reads its cookie or bearer token from here. */
  headers: Headers;
  /** Response headers; auth.signIn/signOut set the session cookie here. */
  resHeaders: Headers;
  /** Resolved from the headers by createContext; null when anonymous. */
  principal: Principal | null;
  /** Mark cookies Secure (the app is served over https). */
  secureCookies: boolean;
  /** The server's data directory: jobs' outputs go to folders the server picks under it. */
  dataDir: string;
  /** The caller's address as the web server saw it (rate limits key on it); 'unknown' when not given. */
  clientIp: string;
  authLimiter: AuthLimiter;
  signup: SignupMode;
  /** Lower-case emails of the instance admins; empty: the first user is the admin. */
  adminEmails: readonly string[];
}

const t = initTRPC.context<Context>().create({
  // Pings keep idle live-update streams open through proxies; clients reconnect if pings stop.
  sse: { ping: { enabled: true, intervalMs: 10_000 }, client: { reconnectAfterInactivityMs: 25_000 } },
  // The UI shows which field is wrong: zod issues travel with every BAD_REQUEST.
  errorFormatter({ shape, error }) {
    const zodIssues = error.cause instanceof ZodError ? error.cause.issues : null;
    return { ...shape, data: { ...shape.data, zodIssues } };
  },
});

export const router = t.router;
export const publicProcedure = t.procedure;
export const createCallerFactory = t.createCallerFactory;

export const userProcedure = t.procedure.use(({ ctx, next }) => {
  const p = ctx.principal;
  if (!p) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'sign in or send an API token' });
  if (p.kind !== 'user')
    throw new TRPCError({ code: 'FORBIDDEN', message: 'a worker token cannot call this procedure' });
  return next({ ctx: { ...ctx, userId: p.userId } });
});

export const adminProcedure = userProcedure.use(async ({ ctx, next }) => {
  if (!(await isInstanceAdmin(ctx.db, ctx.userId, ctx.adminEmails)))
    throw new TRPCError({ code: 'FORBIDDEN', message: 'this needs an instance admin' });
  return next();
});

export const workerProcedure = t.procedure.use(({ ctx, next }) => {
  const p = ctx.principal;
  if (!p) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'send a worker API token' });
  if (p.kind !== 'worker')
    throw new TRPCError({ code: 'FORBIDDEN', message: 'this procedure needs a worker-scope token' });
  return next({ ctx: { ...ctx, workerTokenId: p.tokenId, workerKinds: p.kinds } });
});

export function conflict(what: string): TRPCError {
  return new TRPCError({
    code: 'CONFLICT',
    message: `${what} was changed by someone else; reload and retry`,
  });
}

export function notFound(what: string): TRPCError {
  return new TRPCError({ code: 'NOT_FOUND', message: `${what} not found` });
}
