import { digest, newSecret } from './auth.ts';

/**
 * A new bearer link secret (share links, team invites): the token goes to the caller once, only its digest
 * is stored, and it expires `expiresInHours` from now (never when not given).
 */
export function newBearerLink(
  prefix: string,
  expiresInHours: number | undefined,
): { token: string; tokenHash: string; expiresAt: Date | null } {
  const token = newSecret(prefix);
  return {
    token,
    tokenHash: digest(token),
    expiresAt: expiresInHours ? new Date(Date.now() + expiresInHours * 3_600_000) : null,
  };
}
