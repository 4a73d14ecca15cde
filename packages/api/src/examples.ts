/**
 * The read-only Examples team: the case studies' investigations (`pnpm case-study export` writes the seed),
 * loaded at every start. The same seed revision twice changes nothing; another revision replaces the examples,
 * keeping the graphs already traced. Examples without a graph get an attribute job on the instance catalogue
 * (ids only), below every interactive job, so they open with their graph once a worker ran it.
 */
import type { Prisma, PrismaClient } from '@loupe/db';
import { z } from 'zod';
import { createJob } from './jobs/enqueue.ts';
import { readJsonFile } from './json-file.ts';
import { record } from './history.ts';
import { maxSupernodes, snapshot, supernodeFields, supernodeMembers } from './router/investigations.ts';

/** The seed formats this server reads. */
export const exampleSeedSchemaVersion = 1;
/** The team a seed owns is found by this key, whatever its name. */
export const examplesSeedKey = 'examples';
/** Above background indexing (-100), below everything a person asks for (0 and up). */
export const exampleTracePriority = -50;
// A first seed writes every example in one transaction: on a loaded 2-core machine that outlasts Prisma's 5 s.
const seedTransaction = { timeout: 60_000, maxWait: 60_000 };
/** The advisory lock concurrent starts take around the seed ("LOUP" in ASCII, clear of Prisma's own key). */
const seedLockKey = 0x4c4f5550;
/** Who created the examples: the seed, not a user. */
export const exampleAuthor = 'seed:examples';

const count = z.number().int().min(0);
const featureKey = z.strictObject({ layer: count, pos: count, feature: count });
const catalogKey = z.string().min(1).max(200);

export const exampleSeed = z.strictObject({
  schemaVersion: z.literal(exampleSeedSchemaVersion),
  revision: z.string().min(1).max(100),
  team: z.string().trim().min(1).max(100),
  investigations: z
    .array(
      z.strictObject({
        key: z.string().min(1).max(100),
        title: z.string().trim().min(1).max(300),
        model: catalogKey,
        dictionary: catalogKey,
        prompt: z.string().min(1).max(20_000),
        supernodes: z
          .array(z.strictObject({ ...supernodeFields, members: supernodeMembers(featureKey) }))
          .max(maxSupernodes),
        featureLabels: z
          .array(z.strictObject({ layer: count, feature: count, label: z.string().max(500) }))
          .max(10_000),
        notes: z.string().max(1_000_000),
        experiments: z
          .array(
            z.strictObject({
              name: z.string().trim().min(1).max(300),
              spec: z.record(z.string(), z.unknown()),
              result: z.record(z.string(), z.unknown()),
            }),
          )
          .max(1_000),
      }),
    )
    .max(100),
});

export type ExampleSeed = z.infer<typeof exampleSeed>;
type Example = ExampleSeed['investigations'][number];

/** The seed file, validated; a bad file throws an error naming the file and the field. */
export function readExampleSeed(file: string): ExampleSeed {
  return readJsonFile(file, exampleSeed, 'examples seed');
}

/** The graph JSON's id of a feature node (`layer_feature_pos`), as every trace writes it. */
export const featureNodeId = (k: { layer: number; pos: number; feature: number }) =>
  `${k.layer}_${k.feature}_${k.pos}`;

/**
 * Supernodes and pins in the workspace's terms: members become the node ids a trace gives them, and are
 * pinned, as grouping by hand groups pinned nodes. Their names live in the team's feature labels, so every
 * member keeps its own title in the graph.
 */
function editableOf(ex: Example) {
  const supernodes = ex.supernodes.map((s) => ({
    id: s.id,
    name: s.name,
    nodeIds: s.members.map(featureNodeId),
  }));
  return { supernodes, pinnedNodes: [...new Set(supernodes.flatMap((s) => s.nodeIds))] };
}

/** Where an example's trace already is: a graph of the team, or an attribute job still waiting or running. */
async function traceState(tx: Prisma.TransactionClient, teamId: string) {
  const [graphs, jobs] = await Promise.all([
    tx.graph.findMany({
      where: { teamId },
      select: { id: true, prompt: true, dictionaryId: true },
      orderBy: { createdAt: 'asc' },
    }),
    tx.job.findMany({
      where: { teamId, kind: 'attribute', status: { in: ['queued', 'running'] } },
      select: { id: true, params: true },
    }),
  ]);
  const key = (dictionaryId: unknown, prompt: unknown) => JSON.stringify([dictionaryId, prompt]);
  const graphOf = new Map(graphs.map((g) => [key(g.dictionaryId, g.prompt), g.id]));
  const jobOf = new Map(
    jobs.map((j) => {
      const p = j.params as { dictionaryId?: unknown; prompt?: unknown };
      return [key(p.dictionaryId, p.prompt), j.id];
    }),
  );
  return (dictionaryId: string | null, prompt: string) => ({
    graphId: graphOf.get(key(dictionaryId, prompt)) ?? null,
    traceJobId: jobOf.get(key(dictionaryId, prompt)) ?? null,
  });
}

/** Replaces the team's investigations and feature labels with the seed's, inside the seed's transaction. */
async function applySeed(tx: Prisma.TransactionClient, teamId: string, seed: ExampleSeed): Promise<string[]> {
  const missing: string[] = [];
  const traced = await traceState(tx, teamId);
  await tx.investigation.deleteMany({ where: { teamId } });
  await tx.featureAnnotation.deleteMany({ where: { teamId } });
  for (const ex of seed.investigations) {
    const [model, dict] = await Promise.all([
      tx.model.findFirst({ where: { key: ex.model, teamId: null }, select: { id: true } }),
      tx.dictionary.findFirst({ where: { key: ex.dictionary, teamId: null }, select: { id: true } }),
    ]);
    if (!model || !dict) missing.push(`${ex.key} (${!model ? ex.model : ex.dictionary})`);
    const dictionaryId = model && dict ? dict.id : null;
    const created = await tx.investigation.create({
      data: {
        teamId,
        title: ex.title,
        prompt: ex.prompt,
        modelId: dictionaryId ? model?.id : null,
        dictionaryId,
        ...(dictionaryId ? traced(dictionaryId, ex.prompt) : {}),
        ...editableOf(ex),
        notes: ex.notes,
        createdById: exampleAuthor,
        updatedById: null,
        experiments: {
          create: ex.experiments.map((e) => ({
            name: e.name,
            spec: e.spec as Prisma.InputJsonValue,
            result: e.result as Prisma.InputJsonValue,
            createdById: exampleAuthor,
          })),
        },
      },
    });
    await record(tx, {
      teamId,
      entityType: 'investigation',
      entityId: created.id,
      action: `seed:${seed.revision}`,
      actorId: null,
      snapshot: snapshot(created),
    });
    if (dictionaryId)
      await tx.featureAnnotation.createMany({
        data: ex.featureLabels.map((f) => ({
          teamId,
          dictionaryId,
          layer: f.layer,
          featureIndex: f.feature,
          label: f.label,
        })),
        skipDuplicates: true,
      });
  }
  await tx.team.update({
    where: { id: teamId },
    data: { name: seed.team, seedRevision: seed.revision, version: { increment: 1 } },
  });
  return missing;
}

/**
 * An attribute job for every example with neither a graph nor a trace on its way (a failed or cancelled one
 * is retried at the next start). Returns the jobs created.
 */
async function enqueueTraces(tx: Prisma.TransactionClient, teamId: string): Promise<string[]> {
  const waiting = await tx.investigation.findMany({
    where: { teamId, graphId: null, modelId: { not: null }, dictionaryId: { not: null } },
  });
  const created: string[] = [];
  for (const inv of waiting) {
    const job = inv.traceJobId
      ? await tx.job.findUnique({ where: { id: inv.traceJobId }, select: { status: true } })
      : null;
    if (job && ['queued', 'running', 'succeeded'].includes(job.status)) continue;
    const queued = await createJob(tx, {
      teamId,
      kind: 'attribute',
      params: { modelId: inv.modelId, dictionaryId: inv.dictionaryId, prompt: inv.prompt },
      priority: exampleTracePriority,
      createdById: null,
    });
    await tx.investigation.update({
      where: { id: inv.id },
      data: { traceJobId: queued.id, version: { increment: 1 } },
    });
    created.push(queued.id);
  }
  return created;
}

export interface SeedOutcome {
  /** True when this start wrote the seed's revision (a first start, or a new revision). */
  applied: boolean;
  revision: string;
  /** Trace jobs queued by this start. */
  traces: string[];
  /** Examples whose model or dictionary the instance catalogue lacks: they stay without a graph. */
  missing: string[];
}

/** Loads `seed` into the read-only Examples team (created on the first start) and queues the traces it lacks. */
export async function seedExamples(db: PrismaClient, seed: ExampleSeed): Promise<SeedOutcome> {
  return db.$transaction(async (tx) => {
    // Several web processes may start on one database at once: the first seeds, the others then find it done.
    await tx.$executeRawUnsafe(`SELECT pg_advisory_xact_lock(${seedLockKey})`);
    const team = await tx.team.upsert({
      where: { seedKey: examplesSeedKey },
      create: { name: seed.team, readOnly: true, seedKey: examplesSeedKey },
      update: {},
    });
    const applied = team.seedRevision !== seed.revision;
    const missing = applied ? await applySeed(tx, team.id, seed) : [];
    const traces = await enqueueTraces(tx, team.id);
    return { applied, revision: seed.revision, traces, missing };
  }, seedTransaction);
}
