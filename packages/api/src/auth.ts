import { createHash, randomBytes } from 'node:crypto';
import type { PrismaClient } from '@loupe/db';
import { hash, verify } from '@node-rs/argon2';
import type { Principal } from './trpc.ts';

export const sessionCookie = 'loupe_session';
export const sessionDays = 30;

export function newSecret(prefix: string): string {
  return `${prefix}${randomBytes(32).toString('base64url')}`;
}

/** Stored form of a session id, token or invite secret: a leaked table cannot be replayed. */
export function digest(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export function hashPassword(password: string): Promise<string> {
  return hash(password);
}

export async function verifyPassword(stored: string, password: string): Promise<boolean> {
  try {
    return await verify(stored, password);
  } catch {
    return false;
  }
}

/** The cookie `name`, or null when absent or not decodable: a malformed cookie is no cookie, never an error. */
export function readCookie(headers: Headers, name: string): string | null {
  const raw = headers.get('cookie');
  if (!raw) return null;
  for (const part of raw.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return null;
      }
    }
  }
  return null;
}

export function sessionCookieHeader(value: string, maxAgeS: number, secure: boolean): string {
  const parts = [
    `${sessionCookie}=${encodeURIComponent(value)}`,
    'Path=/',
    'HttpOnly',
    'SameSite=Lax',
    `Max-Age=${maxAgeS}`,
  ];
  if (secure) parts.push('Secure');
  return parts.join('; ');
}

/** Resolves the bearer token or session cookie to a principal; unknown, revoked or expired → null. */
export async function resolvePrincipal(db: PrismaClient, headers: Headers): Promise<Principal | null> {
  const authz = headers.get('authorization');
  if (authz?.toLowerCase().startsWith('bearer ')) {
    const secret = authz.slice(7).trim();
    if (!secret) return null;
    const token = await db.apiToken.findUnique({ where: { tokenHash: digest(secret) } });
    if (!token || token.revokedAt) return null;
    if (token.expiresAt && token.expiresAt.getTime() <= Date.now()) return null;
    // Coarse on purpose: a worker heartbeating every few seconds should not write the token row each time.
    if (!token.lastUsedAt || Date.now() - token.lastUsedAt.getTime() > 60_000) {
      await db.apiToken.update({ where: { id: token.id }, data: { lastUsedAt: new Date() } });
    }
    if (token.scope === 'worker')
      return { kind: 'worker', tokenId: token.id, kinds: (token.kinds as string[] | null) ?? null };
    return token.userId ? { kind: 'user', userId: token.userId, via: 'token' } : null;
  }
  const cookie = readCookie(headers, sessionCookie);
  if (!cookie) return null;
  const session = await db.session.findUnique({ where: { id: digest(cookie) } });
  if (!session || session.expiresAt.getTime() <= Date.now()) return null;
  return { kind: 'user', userId: session.userId, via: 'session' };
}

/**
 * Creates an instance-wide worker token and returns its secret (shown once). `kinds` are the job kinds it may
 * claim; omitted, every kind of the job contract.
 */
export async function provisionWorkerToken(
  db: Pick<PrismaClient, 'apiToken'>,
  name: string,
  kinds?: readonly string[],
): Promise<string> {
  const secret = newSecret('lpw_');
  await db.apiToken.create({
    data: { name, scope: 'worker', tokenHash: digest(secret), ...(kinds ? { kinds: [...kinds] } : {}) },
  });
  return secret;
}

/**
 * Replaces the live worker tokens called `name` with a new one: a recreated token file never leaves the secret
 * it replaced working.
 */
export function rotateWorkerToken(db: PrismaClient, name: string): Promise<string> {
  return db.$transaction(async (tx) => {
    await tx.apiToken.updateMany({
      where: { name, scope: 'worker', revokedAt: null },
      data: { revokedAt: new Date() },
    });
    return provisionWorkerToken(tx, name);
  });
}

/**
 * An instance admin manages worker tokens: a user whose email LOUPE_ADMIN_EMAILS lists (comma-separated), or,
 * when it is unset, the first user who signed up.
 */
export async function isInstanceAdmin(
  db: Pick<PrismaClient, 'user'>,
  userId: string,
  adminEmails: readonly string[],
): Promise<boolean> {
  if (adminEmails.length > 0) {
    const user = await db.user.findUnique({ where: { id: userId }, select: { email: true } });
    return user !== null && adminEmails.includes(user.email);
  }
  const first = await db.user.findFirst({
    orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
    select: { id: true },
  });
  return first?.id === userId;
}

export function adminEmailsFromEnv(): string[] {
  return (process.env.LOUPE_ADMIN_EMAILS ?? '')
    .split(',')
    .map((e) => e.trim().toLowerCase())
    .filter((e) => e.length > 0);
}

export type SignupMode = 'open' | 'invite';

/** LOUPE_SIGNUP: 'open' (default) lets anyone create an account; 'invite' needs a team invite to sign up. */
export function signupModeFromEnv(): SignupMode {
  const raw = process.env.LOUPE_SIGNUP ?? 'open';
  if (raw !== 'open' && raw !== 'invite')
    throw new Error(`LOUPE_SIGNUP must be open or invite, not "${raw}"`);
  return raw;
}

type SessionCtx = { db: PrismaClient; resHeaders: Headers; secureCookies: boolean };

/** A new session for `userId`, its cookie set on the response; the user's expired sessions are swept. */
export async function startSession(ctx: SessionCtx, userId: string): Promise<void> {
  const secret = newSecret('');
  const maxAgeS = sessionDays * 86_400;
  await ctx.db.session.deleteMany({ where: { userId, expiresAt: { lt: new Date() } } });
  await ctx.db.session.create({
    data: { id: digest(secret), userId, expiresAt: new Date(Date.now() + maxAgeS * 1000) },
  });
  ctx.resHeaders.append('set-cookie', sessionCookieHeader(secret, maxAgeS, ctx.secureCookies));
}

/** Ends the session the request's cookie names, if any. */
export async function endPresentedSession(ctx: SessionCtx & { headers: Headers }): Promise<void> {
  const cookie = readCookie(ctx.headers, sessionCookie);
  if (cookie) await ctx.db.session.deleteMany({ where: { id: digest(cookie) } });
}

/**
 * After a privilege change, a caller signed in by cookie gets a new session id and the old one stops working,
 * so a session id seen before the change is worth nothing after it. Token callers have no session to rotate.
 */
export async function rotateSession(
  ctx: SessionCtx & { headers: Headers; principal: Principal | null },
): Promise<void> {
  if (ctx.principal?.kind !== 'user' || ctx.principal.via !== 'session') return;
  await endPresentedSession(ctx);
  await startSession(ctx, ctx.principal.userId);
}
