/**
 * The server's side of the job contract: the ids in a job's params are checked against its team when it is
 * enqueued, and resolved to files on disk when a worker claims it. Paths live only in the catalogue tables
 * and in claim replies, never in anything a user sends or reads.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Prisma } from '@loupe/db';
import { TRPCError } from '@trpc/server';
import { getBlobBytes } from '../blob.ts';
import { usableDictionary, usableModel } from '../catalog-access.ts';
import { notFound } from '../trpc.ts';
import type { JobKind, JobParams, JobPaths } from './contract.ts';

type Db = Pick<Prisma.TransactionClient, 'model' | 'dictionary' | 'blob'>;

/** A dictionary is traced or intervened on together with the model it was trained for. */
async function modelAndDictionary(db: Db, teamId: string | null, modelId: string, dictionaryId: string) {
  const model = await usableModel(db, teamId, modelId);
  const dict = await usableDictionary(db, teamId, dictionaryId);
  if (dict.modelId !== model.id) {
    throw new TRPCError({
      code: 'BAD_REQUEST',
      message: `dictionary "${dict.name}" belongs to another model than "${model.name}"`,
    });
  }
  return { model, dict };
}

async function teamBlob(db: Db, teamId: string | null, blobId: string) {
  const blob =
    teamId === null ? null : await db.blob.findFirst({ where: { id: blobId, teamId }, select: { id: true } });
  if (!blob) throw notFound('blob');
  return blob;
}

/** Every id in `params` must name a record `teamId` may use (its own or an instance one); NOT_FOUND otherwise. */
export async function checkJobRefs<K extends JobKind>(
  db: Db,
  teamId: string | null,
  kind: K,
  params: JobParams<K>,
): Promise<void> {
  switch (kind) {
    case 'attribute':
    case 'intervene': {
      const p = params as JobParams<'attribute' | 'intervene'>;
      await modelAndDictionary(db, teamId, p.modelId, p.dictionaryId);
      return;
    }
    case 'train-dictionary': {
      const p = params as JobParams<'train-dictionary'>;
      await usableModel(db, teamId, p.modelId);
      if (p.corpus.kind === 'blob') await teamBlob(db, teamId, p.corpus.blobId);
      return;
    }
    case 'index-features':
      await usableDictionary(db, teamId, (params as JobParams<'index-features'>).dictionaryId);
      return;
    case 'diagnostics':
      return;
  }
}

/** Where a train-dictionary job writes its dictionary; registered under this path when the job succeeds. */
export function trainedDictionaryDir(dataDir: string, jobId: string): string {
  return path.join(dataDir, 'dictionaries', jobId);
}

/** Where an index-features job writes its index files (the database holds the searchable copy). */
export function featureIndexDir(dataDir: string, dictionaryId: string, layers?: readonly number[]): string {
  const base = path.join(dataDir, 'feature-index', dictionaryId);
  return layers ? path.join(base, `layers-${[...layers].sort((a, b) => a - b).join('-')}`) : base;
}

/** A stored text blob as a file the worker can read, written once under the data dir. */
async function corpusFile(db: Db, dataDir: string, blobId: string): Promise<string> {
  const file = path.join(dataDir, 'corpora', `${blobId}.txt`);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, await getBlobBytes(db, blobId), { flag: 'w' });
  return file;
}

/**
 * The files a claimed job works on, checked again for the job's team (a record may have been deleted since
 * it was enqueued: that throws NOT_FOUND, and the claim fails the job). Output directories are chosen here,
 * under `dataDir`, never by the job's params.
 */
export async function resolveJobPaths(
  db: Db,
  job: { id: string; teamId: string | null; kind: string; params: unknown },
  dataDir: string,
): Promise<JobPaths> {
  switch (job.kind) {
    case 'attribute':
    case 'intervene': {
      const p = job.params as JobParams<'attribute'>;
      const { model, dict } = await modelAndDictionary(db, job.teamId, p.modelId, p.dictionaryId);
      return { model: model.path, dictionary: dict.path };
    }
    case 'train-dictionary': {
      const p = job.params as JobParams<'train-dictionary'>;
      const model = await usableModel(db, job.teamId, p.modelId);
      const corpus =
        p.corpus.kind === 'blob'
          ? await corpusFile(db, dataDir, (await teamBlob(db, job.teamId, p.corpus.blobId)).id)
          : undefined;
      return { model: model.path, out: trainedDictionaryDir(dataDir, job.id), ...(corpus ? { corpus } : {}) };
    }
    case 'index-features': {
      const p = job.params as JobParams<'index-features'>;
      const dict = await usableDictionary(db, job.teamId, p.dictionaryId);
      const model = await usableModel(db, job.teamId, dict.modelId);
      return { model: model.path, dictionary: dict.path, out: featureIndexDir(dataDir, dict.id, p.layers) };
    }
    default:
      return {};
  }
}
