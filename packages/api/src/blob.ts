import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { Prisma } from '@loupe/db';

type Tx = Pick<Prisma.TransactionClient, 'blob'>;

/** Stores `value` as gzip-compressed JSON; returns the blob id. */
export async function putJsonBlob(db: Tx, teamId: string, value: unknown): Promise<string> {
  const raw = Buffer.from(JSON.stringify(value), 'utf8');
  const data = gzipSync(raw, { level: 6 });
  const blob = await db.blob.create({
    data: {
      teamId,
      contentType: 'application/json',
      encoding: 'gzip',
      rawBytes: raw.length,
      sha256: createHash('sha256').update(raw).digest('hex'),
      data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    },
  });
  return blob.id;
}

export async function getJsonBlob(db: Tx, id: string): Promise<unknown> {
  return JSON.parse((await getBlobBytes(db, id)).toString('utf8'));
}

/** The stored bytes of a blob, decompressed. */
export async function getBlobBytes(db: Tx, id: string): Promise<Buffer> {
  const blob = await db.blob.findUnique({ where: { id } });
  if (!blob) throw new Error(`blob ${id} is missing`);
  return blob.encoding === 'gzip' ? gunzipSync(blob.data) : Buffer.from(blob.data);
}
