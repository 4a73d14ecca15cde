import { Prisma } from '@loupe/db';
import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import {
  digest,
  endPresentedSession,
  hashPassword,
  isInstanceAdmin,
  newSecret,
  sessionCookieHeader,
  startSession,
  verifyPassword,
} from '../auth.ts';
import { claimInvite } from '../invites.ts';
import { checkLimit } from '../rate-limit.ts';
import { type Context, publicProcedure, router, userProcedure } from '../trpc.ts';

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

function wrongPassword(): TRPCError {
  return new TRPCError({ code: 'UNAUTHORIZED', message: 'wrong email or password' });
}

/**
 * One reply for an email already taken, whether found first or lost in a race on the unique key: it never says
 * more than that this email cannot be used here.
 */
function emailTaken(): TRPCError {
  return new TRPCError({
    code: 'CONFLICT',
    message: 'cannot create an account with this email; if it is yours, sign in',
  });
}

/** Counts an attempt from the caller's address; refused with "try again in N s" once the address is over. */
function limitAddress(ctx: Context): void {
  checkLimit(ctx.authLimiter.perIp, ctx.clientIp, 'sign-in attempts from this address');
  ctx.authLimiter.perIp.hit(ctx.clientIp);
}

/** The password of `userId` checked, failed tries counted against the account like failed sign-ins. */
async function checkOwnPassword(ctx: Context & { userId: string }, given: string) {
  const user = await ctx.db.user.findUniqueOrThrow({ where: { id: ctx.userId } });
  checkLimit(ctx.authLimiter.perAccount, user.email, 'failed sign-ins for this account');
  if (!(await verifyPassword(user.passwordHash, given))) {
    ctx.authLimiter.perAccount.hit(user.email);
    throw new TRPCError({ code: 'UNAUTHORIZED', message: 'the current password is wrong' });
  }
  return user;
}

const tokenPage = {
  cursor: z.uuid().optional(),
  limit: z.number().int().min(1).max(200).default(100),
};

export const authRouter = router({
  signUp: publicProcedure
    .input(
      z.object({
        email,
        password,
        name: z.string().trim().min(1).max(100),
        /** Required when sign-up is by invitation (LOUPE_SIGNUP=invite); joins the invite's team. */
        inviteToken: z.string().min(10).max(200).optional(),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      limitAddress(ctx);
      // The first account (the instance admin) needs no invite: there is nobody yet to send one.
      if (ctx.signup === 'invite' && !input.inviteToken && (await ctx.db.user.count({ take: 1 })) > 0) {
        throw new TRPCError({
          code: 'FORBIDDEN',
          message: 'sign-up on this server is by invitation: open an invite link from a team owner',
        });
      }
      // Hashed before the duplicate check, so a taken email answers no faster than a new one.
      const passwordHash = await hashPassword(input.password);
      const user = await ctx.db
        .$transaction(async (tx) => {
          if (await tx.user.findUnique({ where: { email: input.email }, select: { id: true } }))
            throw emailTaken();
          const created = await tx.user.create({
            data: { email: input.email, name: input.name, passwordHash },
          });
          if (input.inviteToken) await claimInvite(tx, input.inviteToken, created.id);
          return created;
        })
        .catch((err: unknown) => {
          if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002') throw emailTaken();
          throw err;
        });
      await startSession(ctx, user.id);
      return { user: publicUser(user) };
    }),

  signIn: publicProcedure
    .input(z.object({ email, password: z.string().min(1).max(200) }))
    .mutation(async ({ ctx, input }) => {
      limitAddress(ctx);
      checkLimit(ctx.authLimiter.perAccount, input.email, 'failed sign-ins for this account');
      const user = await ctx.db.user.findUnique({ where: { email: input.email } });
      if (!user) {
        dummyHash ??= hashPassword('loupe-dummy-password');
        await verifyPassword(await dummyHash, input.password);
        ctx.authLimiter.perAccount.hit(input.email);
        throw wrongPassword();
      }
      if (!(await verifyPassword(user.passwordHash, input.password))) {
        ctx.authLimiter.perAccount.hit(input.email);
        throw wrongPassword();
      }
      ctx.authLimiter.perAccount.reset(input.email);
      // A session id the browser held before signing in is never the one it holds after.
      await endPresentedSession(ctx);
      await startSession(ctx, user.id);
      return { user: publicUser(user) };
    }),

  signOut: publicProcedure.mutation(async ({ ctx }) => {
    await endPresentedSession(ctx);
    ctx.resHeaders.append('set-cookie', sessionCookieHeader('', 0, ctx.secureCookies));
    return { ok: true as const };
  }),

  /** Ends every session of the caller, on every device; API tokens stay (revoke them one by one). */
  signOutEverywhere: userProcedure.mutation(async ({ ctx }) => {
    const { count } = await ctx.db.session.deleteMany({ where: { userId: ctx.userId } });
    ctx.resHeaders.append('set-cookie', sessionCookieHeader('', 0, ctx.secureCookies));
    return { ok: true as const, sessions: count };
  }),

  /** Sets a new password after checking the current one; every other session ends, the caller's is renewed. */
  changePassword: userProcedure
    .input(z.object({ currentPassword: z.string().min(1).max(200), newPassword: password }))
    .mutation(async ({ ctx, input }) => {
      await checkOwnPassword(ctx, input.currentPassword);
      const passwordHash = await hashPassword(input.newPassword);
      await ctx.db.$transaction([
        ctx.db.user.update({ where: { id: ctx.userId }, data: { passwordHash } }),
        ctx.db.session.deleteMany({ where: { userId: ctx.userId } }),
      ]);
      if (ctx.principal?.kind === 'user' && ctx.principal.via === 'session')
        await startSession(ctx, ctx.userId);
      return { ok: true as const };
    }),

  me: publicProcedure.query(async ({ ctx }) => {
    if (ctx.principal?.kind !== 'user') return { user: null };
    const user = await ctx.db.user.findUnique({ where: { id: ctx.principal.userId } });
    if (!user) return { user: null };
    // Says whether to show the instance administration (worker tokens); the procedures check it again.
    return {
      user: { ...publicUser(user), isAdmin: await isInstanceAdmin(ctx.db, user.id, ctx.adminEmails) },
    };
  }),

  createToken: userProcedure
    .input(
      z.object({
        name: z.string().trim().min(1).max(100),
        /** Days until the token stops working. */
        expiresInDays: z.number().int().min(1).max(3650).default(90),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      const token = newSecret('lp_');
      const row = await ctx.db.apiToken.create({
        data: {
          name: input.name,
          scope: 'user',
          userId: ctx.userId,
          tokenHash: digest(token),
          expiresAt: new Date(Date.now() + input.expiresInDays * 86_400_000),
        },
      });
      return { id: row.id, token, expiresAt: row.expiresAt as Date };
    }),

  /** The caller's live tokens, newest first: at most `limit`; the next page starts after `cursor` (a token id). */
  listTokens: userProcedure.input(z.object(tokenPage).optional()).query(async ({ ctx, input }) => {
    const page = tokenPage.limit.parse(input?.limit);
    const rows = await ctx.db.apiToken.findMany({
      where: { userId: ctx.userId, revokedAt: null },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take: page,
      ...(input?.cursor ? { cursor: { id: input.cursor }, skip: 1 } : {}),
    });
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      scope: r.scope as 'user',
      createdAt: r.createdAt,
      lastUsedAt: r.lastUsedAt,
      expiresAt: r.expiresAt,
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
