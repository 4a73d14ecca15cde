/** What a finished job changes beyond its own row: the investigation it traced, the dictionary it trained. */
import type { Prisma } from '@loupe/db';
import { record } from '../history.ts';
import type { JobParams } from './contract.ts';
import { trainedDictionaryDir } from './refs.ts';
import { snapshot } from '../router/investigations.ts';

/**
 * Points every investigation of the team still waiting on this trace at its graph: graphId set, version
 * bumped, history recorded. Returns the investigations changed, to announce once the transaction commits.
 */
export async function linkTracedGraph(
  tx: Prisma.TransactionClient,
  job: { id: string; teamId: string },
  graphId: string,
): Promise<{ id: string; version: number }[]> {
  const waiting = await tx.investigation.findMany({
    where: { teamId: job.teamId, traceJobId: job.id, graphId: null },
    select: { id: true },
  });
  const linked: { id: string; version: number }[] = [];
  for (const { id } of waiting) {
    const saved = await tx.investigation.update({
      where: { id },
      data: { graphId, updatedById: null, version: { increment: 1 } },
    });
    await record(tx, {
      teamId: job.teamId,
      entityType: 'investigation',
      entityId: id,
      action: 'trace',
      actorId: null,
      snapshot: snapshot(saved),
    });
    linked.push({ id, version: saved.version });
  }
  return linked;
}

/**
 * Registers the dictionary a train-dictionary job wrote (under the folder the server chose for it) as a
 * dictionary of the job's team. A name already taken in the team gets the job id's prefix appended.
 */
export async function registerTrainedDictionary(
  tx: Prisma.TransactionClient,
  job: { id: string; teamId: string; params: JobParams<'train-dictionary'> },
  dataDir: string,
): Promise<string> {
  const p = job.params;
  const suffix = job.id.slice(0, 8);
  const wanted = p.name ?? `${p.kind}-${p.width}-${suffix}`;
  const taken = await tx.dictionary.findFirst({
    where: { teamId: job.teamId, name: wanted },
    select: { id: true },
  });
  const dict = await tx.dictionary.create({
    data: {
      teamId: job.teamId,
      modelId: p.modelId,
      name: taken ? `${wanted}-${suffix}` : wanted,
      kind: p.kind,
      path: trainedDictionaryDir(dataDir, job.id),
      meta: { jobId: job.id, width: p.width, k: p.k, steps: p.steps },
    },
  });
  return dict.id;
}
