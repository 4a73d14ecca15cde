import type { Prisma } from '@loupe/db';

type Tx = Pick<Prisma.TransactionClient, 'historyEntry'>;

export interface Change {
  teamId: string;
  entityType: 'investigation' | 'comment' | 'experiment' | 'feature' | 'team' | 'share';
  entityId: string;
  action: string;
  actorId: string | null;
  snapshot: Prisma.InputJsonValue;
}

export async function record(db: Tx, change: Change): Promise<void> {
  await db.historyEntry.create({ data: change });
}
