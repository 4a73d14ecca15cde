import { isPositiveInt } from '@loupe/core';
import { TRPCError } from '@trpc/server';

/** At most `max` hits per `windowMs` for one key. */
export interface Rule {
  max: number;
  windowMs: number;
}

/**
 * Sliding-window counters held in this process: exact for one web process, per process when several serve the
 * same database (each then admits up to `max`). Keys are dropped once their window has passed.
 */
export class SlidingWindow {
  private readonly hits = new Map<string, number[]>();

  constructor(readonly rule: Rule) {}

  /** Milliseconds until `key` may be hit again; 0 when it may now. */
  retryAfterMs(key: string, now = Date.now()): number {
    const recent = this.recent(key, now);
    if (recent.length < this.rule.max) return 0;
    return recent[recent.length - this.rule.max] + this.rule.windowMs - now;
  }

  hit(key: string, now = Date.now()): void {
    const recent = this.recent(key, now);
    recent.push(now);
    this.hits.set(key, recent);
  }

  reset(key: string): void {
    this.hits.delete(key);
  }

  private recent(key: string, now: number): number[] {
    const all = this.hits.get(key);
    if (!all) return [];
    const kept = all.filter((t) => t > now - this.rule.windowMs);
    if (kept.length === 0) this.hits.delete(key);
    else this.hits.set(key, kept);
    return kept;
  }
}

/** Sign-in and sign-up attempts per client address, and failed sign-ins per account. */
export interface AuthLimiter {
  perIp: SlidingWindow;
  perAccount: SlidingWindow;
}

/** A positive integer from the environment, or `fallback` when unset; anything else stops the start. */
export function envCount(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!isPositiveInt(n)) throw new Error(`${name} must be a positive integer, not "${raw}"`);
  return n;
}

/**
 * LOUPE_AUTH_IP_LIMIT (default 60) sign-in and sign-up attempts per address per minute, and
 * LOUPE_AUTH_ACCOUNT_LIMIT (default 10) failed sign-ins per account per 15 minutes.
 */
export function authLimiterFromEnv(): AuthLimiter {
  return newAuthLimiter({
    perIp: { max: envCount('LOUPE_AUTH_IP_LIMIT', 60), windowMs: 60_000 },
    perAccount: { max: envCount('LOUPE_AUTH_ACCOUNT_LIMIT', 10), windowMs: 15 * 60_000 },
  });
}

export function newAuthLimiter(rules: { perIp: Rule; perAccount: Rule }): AuthLimiter {
  return { perIp: new SlidingWindow(rules.perIp), perAccount: new SlidingWindow(rules.perAccount) };
}

/** TOO_MANY_REQUESTS when `key` is over its limit, telling the caller how long to wait. */
export function checkLimit(window: SlidingWindow, key: string, what: string): void {
  const waitMs = window.retryAfterMs(key);
  if (waitMs > 0) {
    throw new TRPCError({
      code: 'TOO_MANY_REQUESTS',
      message: `too many ${what}; try again in ${Math.ceil(waitMs / 1000)} s`,
    });
  }
}
