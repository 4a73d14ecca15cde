import type { Prisma } from '@loupe/db';
import { notFound } from './trpc.ts';

type Db = Pick<Prisma.TransactionClient, 'model' | 'dictionary'>;

/**
 * Catalogue rows a team may use: its own and the instance's (teamId null). An instance job (teamId null)
 * sees instance rows only.
 */
export function visibleTo(teamId: string | null): { OR: { teamId: string | null }[] } | { teamId: null } {
  return teamId === null ? { teamId: null } : { OR: [{ teamId }, { teamId: null }] };
}

/** The model if `teamId` may use it; NOT_FOUND otherwise, so another team's ids are never confirmed. */
export async function usableModel(db: Db, teamId: string | null, modelId: string) {
  const model = await db.model.findFirst({ where: { id: modelId, ...visibleTo(teamId) } });
  if (!model) throw notFound('model');
  return model;
}

/** The dictionary if `teamId` may use it; NOT_FOUND otherwise. */
export async function usableDictionary(db: Db, teamId: string | null, dictionaryId: string) {
  const dict = await db.dictionary.findFirst({ where: { id: dictionaryId, ...visibleTo(teamId) } });
  if (!dict) throw notFound('dictionary');
  return dict;
}

/** References an investigation or graph may hold: each must be usable by `teamId` when given. */
export async function checkCatalogRefs(
  db: Db,
  teamId: string,
  refs: { modelId?: string | null; dictionaryId?: string | null },
): Promise<void> {
  if (refs.modelId) await usableModel(db, teamId, refs.modelId);
  if (refs.dictionaryId) await usableDictionary(db, teamId, refs.dictionaryId);
}
