import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import {
  digest,
  hashPassword,
  newSecret,
  readCookie,
  sessionCookie,
  sessionCookieHeader,
  sessionDays,
  verifyPassword,
} from '../auth.ts';
import { publicProcedure, router, userProcedure } from '../trpc.ts';

const email = z
  .email()
  .max(320)
  .transform((e) => e.toLowerCase());
const password = z.string().min(8).max(200);

function publicUser(u: { id: string; email: string; name: string }) {
  return { id: u.id, email: u.email, name: u.name };
}

// A fixed hash to verify against when the email is unknown, so sign-in takes as long either way.
let dummyHash: Promise<string> | null = null;

export const authRouter = router({
  signUp: publicProcedure
    .input(z.object({ email, password, name: z.string().trim().min(1).max(100) }))
    .mutation(async ({ ctx, input }) => {
      const existing = await ctx.db.user.findUnique({ where: { email: input.email } });
      if (existing)
        throw new TRPCError({ code: 'CONFLICT', message: 'an account with this email already exists' });
      const user = await ctx.db.user.create({
        data: { email: input.email, name: input.name, passwordHash: await hashPassword(input.password) },
      });
      await startSession(ctx, user.id);
      return { user: publicUser(user) };
    }),

  signIn: publicProcedure
    .input(z.object({ email, password: z.string().min(1).max(200) }))
    .mutation(async ({ ctx, input }) => {
      const user = await ctx.db.user.findUnique({ where: { email: input.email } });
      if (!user) {
        dummyHash ??= hashPassword('loupe-dummy-password');
        await verifyPassword(await dummyHash, input.password);
        throw new TRPCError({ code: 'UNAUTHORIZED', message: 'wrong email or password' });
      }
      if (!(await verifyPassword(user.passwordHash, input.password))) {
        throw new TRPCError({ code: 'UNAUTHORIZED', message: 'wrong email or password' });
      }
      await startSession(ctx, user.id);
      return { user: publicUser(user) };
    }),

  signOut: publicProcedure.mutation(async ({ ctx }) => {
    const cookie = readCookie(ctx.headers, sessionCookie);
    if (cookie) await ctx.db.session.deleteMany({ where: { id: digest(cookie) } });
    ctx.resHeaders.append('set-cookie', sessionCookieHeader('', 0, ctx.secureCookies));
    return { ok: true as const };
  }),

  me: publicProcedure.query(async ({ ctx }) => {
    if (ctx.principal?.kind !== 'user') return { user: null };
    const user = await ctx.db.user.findUnique({ where: { id: ctx.principal.userId } });
    return { user: user ? publicUser(user) : null };
  }),

  createToken: userProcedure
    .input(z.object({ name: z.string().trim().min(1).max(100) }))
    .mutation(async ({ ctx, input }) => {
      const token = newSecret('lp_');
      const row = await ctx.db.apiToken.create({
        data: { name: input.name, scope: 'user', userId: ctx.userId, tokenHash: digest(token) },
      });
      return { id: row.id, token };
    }),

  listTokens: userProcedure.query(async ({ ctx }) => {
    const rows = await ctx.db.apiToken.findMany({
      where: { userId: ctx.userId, revokedAt: null },
      orderBy: { createdAt: 'desc' },
    });
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      scope: r.scope as 'user',
      createdAt: r.createdAt,
      lastUsedAt: r.lastUsedAt,
    }));
  }),

  revokeToken: userProcedure.input(z.object({ id: z.uuid() })).mutation(async ({ ctx, input }) => {
    const { count } = await ctx.db.apiToken.updateMany({
      where: { id: input.id, userId: ctx.userId, revokedAt: null },
      data: { revokedAt: new Date() },
    });
    if (count === 0) throw new TRPCError({ code: 'NOT_FOUND', message: 'token not found' });
    return { ok: true as const };
  }),
});

async function startSession(
  ctx: { db: import('@loupe/db').PrismaClient; resHeaders: Headers; secureCookies: boolean },
  userId: string,
) {
  const secret = newSecret('');
  const maxAgeS = sessionDays * 86_400;
  await ctx.db.session.deleteMany({ where: { userId, expiresAt: { lt: new Date() } } });
  await ctx.db.session.create({
    data: { id: digest(secret), userId, expiresAt: new Date(Date.now() + maxAgeS * 1000) },
  });
  ctx.resHeaders.append('set-cookie', sessionCookieHeader(secret, maxAgeS, ctx.secureCookies));
}
