import type { z } from 'zod';

/** Characters of JSON a stored experiment spec or result may take. */
export const maxExperimentJsonChars = 1_000_000;

/**
 * `schema`, refused with a message naming `what` when its JSON text is longer than `maxChars`: JSON columns are
 * read back whole, so what one caller stores, every reader pays for.
 */
export function jsonWithin<T extends z.ZodType>(schema: T, maxChars: number, what: string) {
  return schema.superRefine((value, issue) => {
    const text = JSON.stringify(value);
    if (text !== undefined && text.length > maxChars) {
      issue.addIssue({
        code: 'custom',
        message: `${what} takes ${text.length} characters of JSON; the limit is ${maxChars}`,
      });
    }
  });
}

/** A record of at most `max` entries, refused with a message naming `what`. */
export function recordWithin<T extends z.ZodType>(schema: T, max: number, what: string) {
  return schema.superRefine((value, issue) => {
    const n = Object.keys(value as object).length;
    if (n > max) issue.addIssue({ code: 'custom', message: `${n} ${what}; the limit is ${max}` });
  });
}
