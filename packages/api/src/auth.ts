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

export function readCookie(headers: Headers, name: string): string | null {
  const raw = headers.get('cookie');
  if (!raw) return null;
  for (const part of raw.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
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
    // Coarse on purpose: a worker heartbeating every few seconds should not write the token row each time.
    if (!token.lastUsedAt || Date.now() - token.lastUsedAt.getTime() > 60_000) {
      await db.apiToken.update({ where: { id: token.id }, data: { lastUsedAt: new Date() } });
    }
    if (token.scope === 'worker') return { kind: 'worker', tokenId: token.id };
    return token.userId ? { kind: 'user', userId: token.userId, via: 'token' } : null;
  }
  const cookie = readCookie(headers, sessionCookie);
  if (!cookie) return null;
  const session = await db.session.findUnique({ where: { id: digest(cookie) } });
  if (!session || session.expiresAt.getTime() <= Date.now()) return null;
  return { kind: 'user', userId: session.userId, via: 'session' };
}

/** Creates an instance-wide worker token and returns its secret (shown once). */
export async function provisionWorkerToken(db: PrismaClient, name: string): Promise<string> {
  const secret = newSecret('lpw_');
  await db.apiToken.create({ data: { name, scope: 'worker', tokenHash: digest(secret) } });
  return secret;
}
