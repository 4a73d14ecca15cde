import { z } from 'zod';

export const pageInput = {
  cursor: z.string().min(1).max(200).optional(),
  limit: z.number().int().min(1).max(100).default(50),
};

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** `rows` were fetched with take = limit + 1; the extra row only says whether another page exists. */
export function toPage<T extends { id: string }>(rows: T[], limit: number): Page<T> {
  const more = rows.length > limit;
  const items = more ? rows.slice(0, limit) : rows;
  return { items, nextCursor: more ? items[items.length - 1].id : null };
}

/** Prisma findMany arguments for id-cursor pagination. */
export function pageArgs(input: { cursor?: string; limit: number }): {
  take: number;
  skip: number;
  cursor?: { id: string };
} {
  return input.cursor
    ? { take: input.limit + 1, skip: 1, cursor: { id: input.cursor } }
    : { take: input.limit + 1, skip: 0 };
}
