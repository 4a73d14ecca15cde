import { cantorPair, decodeFeatureRecord, type FeatureJson } from '@loupe/core';
import type { Prisma } from '@loupe/db';
import { TRPCError } from '@trpc/server';
import { z } from 'zod';

/** Features per putFeatureIndex call: a 2048-feature layer goes up in a handful of requests. */
export const maxFeaturesPerChunk = 256;
/** One record, base64: a real feature record is a few kB to a few hundred kB. */
export const maxRecordBase64Chars = 2 * 1024 * 1024;
/** Decompressed feature JSON accepted from a worker. */
const maxRecordJsonBytes = 8 * 1024 * 1024;

export const featureKeyInput = {
  layer: z.number().int().min(0).max(10_000),
  featureIndex: z
    .number()
    .int()
    .min(0)
    .max(2 ** 31 - 1),
};

export const featureRecordInput = z.object({
  featureIndex: featureKeyInput.featureIndex,
  autoLabel: z.string().max(500).default(''),
  /** One layer_{l}.bin record (4-byte little-endian length + zlib feature JSON), base64. */
  record: z.base64().min(8).max(maxRecordBase64Chars),
});

type Tx = Pick<Prisma.TransactionClient, 'featureSummary'>;

function badRecord(field: string, message: string): TRPCError {
  return new TRPCError({ code: 'BAD_REQUEST', message: `${field}: ${message}` });
}

/**
 * Replaces the stored features (layer, featureIndex) of `dictionaryId` with `records`: each is decoded and
 * schema-checked first, so a malformed record rejects the whole chunk with BAD_REQUEST naming it.
 */
export async function storeFeatureRecords(
  db: Tx,
  dictionaryId: string,
  layer: number,
  records: readonly z.output<typeof featureRecordInput>[],
): Promise<number> {
  const seen = new Set<number>();
  const rows = records.map((r, i) => {
    const field = `features.${i}.record`;
    if (seen.has(r.featureIndex)) throw badRecord(`features.${i}.featureIndex`, `${r.featureIndex} repeats`);
    seen.add(r.featureIndex);
    const bytes = Buffer.from(r.record, 'base64');
    let feature: FeatureJson;
    try {
      feature = decodeFeatureRecord(bytes, maxRecordJsonBytes);
    } catch (e) {
      throw badRecord(field, (e as Error).message);
    }
    // circuit-tracer's feature JSON names its feature by the Cantor pair of (layer, feature).
    let id: number;
    try {
      id = cantorPair(layer, r.featureIndex);
    } catch (e) {
      throw badRecord(`features.${i}.featureIndex`, (e as Error).message);
    }
    if (feature.index !== id)
      throw badRecord(
        field,
        `holds feature id ${feature.index}, not ${id} (layer ${layer}, feature ${r.featureIndex})`,
      );
    return {
      dictionaryId,
      layer,
      featureIndex: r.featureIndex,
      density: feature.activation_frequency,
      actMax: feature.act_max,
      autoLabel: r.autoLabel,
      topLogits: feature.top_logits,
      bottomLogits: feature.bottom_logits,
      record: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    };
  });
  await db.featureSummary.deleteMany({
    where: { dictionaryId, layer, featureIndex: { in: [...seen] } },
  });
  const { count } = await db.featureSummary.createMany({ data: rows });
  return count;
}

/** The feature JSON of a stored record; a record that no longer decodes is a server fault, not the caller's. */
export function storedFeature(record: Uint8Array): FeatureJson {
  try {
    return decodeFeatureRecord(record, maxRecordJsonBytes);
  } catch (e) {
    throw new TRPCError({
      code: 'INTERNAL_SERVER_ERROR',
      message: `stored feature record: ${(e as Error).message}`,
    });
  }
}

/** `%`, `_` and `\` in a search string match themselves. */
export function likePattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}
