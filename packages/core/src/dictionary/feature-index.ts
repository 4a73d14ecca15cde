/**
 * circuit-tracer's compressed feature index, as its frontend reads it (init-feature-examples.js):
 *   index.json.gz   gzip'd JSON { "<layer>": { offsets: number[nFeatures + 1], filename } }
 *   <filename>      records back to back; feature f spans bytes [offsets[f], offsets[f+1]):
 *                   a 4-byte little-endian length n, then n bytes of zlib-deflated feature JSON.
 * The viewer fetches one record with an HTTP Range request, so a dictionary's whole index never loads.
 */
import { Gunzip, gzipSync, strFromU8, strToU8, Unzlib, zlibSync } from 'fflate';
import { z } from 'zod';
import { concatBytes } from '../io/bytes.ts';
import type { ByteSource, FileAccess } from '../io/files.ts';
import { type FeatureJson, featureJsonSchema } from './features.ts';

export const featureIndexSchema = z.record(
  z.string().regex(/^\d+$/, 'layer keys must be non-negative integers'),
  z.object({
    offsets: z.array(z.number().int().nonnegative()).min(1),
    filename: z.string().regex(/^[^/\\]+$/, 'filename must be a plain file name'),
  }),
);

export type FeatureIndex = z.infer<typeof featureIndexSchema>;

/** Upper bound on one decompressed record; a real record is a few hundred kB at most. */
const MAX_RECORD_BYTES = 64 * 1024 * 1024;
/** Upper bound on the decompressed index.json.gz (offsets of every feature of every layer). */
const MAX_INDEX_BYTES = 1024 * 1024 * 1024;

/**
 * Inflates zlib or gzip (by magic bytes) in small input slices, so a decompression bomb stops at `limit`
 * instead of allocating its full output first.
 */
function inflateLimited(body: Uint8Array, limit: number): Uint8Array {
  if (body.byteLength === 0) throw new Error('empty compressed data');
  const chunks: Uint8Array[] = [];
  let total = 0;
  const onData = (c: Uint8Array) => {
    total += c.byteLength;
    if (total > limit) throw new Error(`decompressed size exceeds ${limit} bytes`);
    chunks.push(c);
  };
  const stream = body[0] === 0x1f && body[1] === 0x8b ? new Gunzip(onData) : new Unzlib(onData);
  const SLICE = 4096;
  for (let at = 0; at < body.byteLength; at += SLICE) {
    stream.push(body.subarray(at, Math.min(at + SLICE, body.byteLength)), at + SLICE >= body.byteLength);
  }
  return concatBytes(chunks);
}

/** Encodes one layer's records; features[i] must be feature i of the layer. */
export function encodeFeatureLayer(features: readonly FeatureJson[]): {
  bytes: Uint8Array;
  offsets: number[];
} {
  const chunks: Uint8Array[] = [];
  const offsets = [0];
  for (const f of features) {
    const body = zlibSync(strToU8(JSON.stringify(f)));
    const rec = new Uint8Array(4 + body.byteLength);
    new DataView(rec.buffer).setUint32(0, body.byteLength, true);
    rec.set(body, 4);
    chunks.push(rec);
    offsets.push(offsets[offsets.length - 1] + rec.byteLength);
  }
  return { bytes: concatBytes(chunks), offsets };
}

export function encodeFeatureIndex(index: FeatureIndex): Uint8Array {
  return gzipSync(strToU8(JSON.stringify(index)));
}

export function decodeFeatureIndex(bytes: Uint8Array): FeatureIndex {
  let raw: unknown;
  try {
    raw = JSON.parse(strFromU8(inflateLimited(bytes, MAX_INDEX_BYTES)));
  } catch (e) {
    throw new Error(`feature index: not gzip'd JSON (${(e as Error).message})`);
  }
  const parsed = featureIndexSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`feature index: invalid '${issue.path.join('.')}': ${issue.message}`);
  }
  for (const [layer, { offsets }] of Object.entries(parsed.data)) {
    for (let i = 1; i < offsets.length; i++) {
      if (offsets[i] < offsets[i - 1] + 4)
        throw new Error(`feature index: layer ${layer} offsets are not increasing at ${i}`);
    }
  }
  return parsed.data;
}

/**
 * Decodes one record (length prefix + compressed JSON); accepts zlib and, leniently, gzip bodies.
 * Decompression stops with an error past `maxBytes`.
 */
export function decodeFeatureRecord(rec: Uint8Array, maxBytes = MAX_RECORD_BYTES): FeatureJson {
  if (rec.byteLength < 4)
    throw new Error(`feature record: ${rec.byteLength} bytes, fewer than the 4-byte length`);
  const n = new DataView(rec.buffer, rec.byteOffset, rec.byteLength).getUint32(0, true);
  if (4 + n > rec.byteLength)
    throw new Error(`feature record: length ${n} runs past the ${rec.byteLength - 4} bytes present`);
  const body = rec.subarray(4, 4 + n);
  let json: string;
  try {
    json = strFromU8(inflateLimited(body, maxBytes));
  } catch (e) {
    throw new Error(`feature record: cannot decompress (${(e as Error).message})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (e) {
    throw new Error(`feature record: not JSON (${(e as Error).message})`);
  }
  const parsed = featureJsonSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`feature record: invalid '${issue.path.join('.')}': ${issue.message}`);
  }
  return parsed.data;
}

/** Writes `index.json.gz` and one `layer_{l}.bin` per layer into `dir`. */
export async function writeFeatureIndex(
  files: FileAccess,
  dir: string,
  layers: ReadonlyMap<number, readonly FeatureJson[]>,
): Promise<FeatureIndex> {
  await files.mkdir(dir);
  const index: FeatureIndex = {};
  for (const [layer, features] of [...layers.entries()].sort((a, b) => a[0] - b[0])) {
    const { bytes, offsets } = encodeFeatureLayer(features);
    const filename = `layer_${layer}.bin`;
    await files.writeFile(files.join(dir, filename), bytes);
    index[String(layer)] = { offsets, filename };
  }
  await files.writeFile(files.join(dir, 'index.json.gz'), encodeFeatureIndex(index));
  return index;
}

/** Random access to the features of an index directory, one range read per feature. */
export class FeatureIndexReader {
  private readonly sources = new Map<number, ByteSource>();

  private constructor(
    private readonly files: FileAccess,
    private readonly dir: string,
    readonly index: FeatureIndex,
  ) {}

  static async open(files: FileAccess, dir: string): Promise<FeatureIndexReader> {
    const index = decodeFeatureIndex(await files.readFile(files.join(dir, 'index.json.gz')));
    return new FeatureIndexReader(files, dir, index);
  }

  layers(): number[] {
    return Object.keys(this.index)
      .map(Number)
      .sort((a, b) => a - b);
  }

  featureCount(layer: number): number {
    const entry = this.index[String(layer)];
    return entry ? entry.offsets.length - 1 : 0;
  }

  async read(layer: number, feature: number): Promise<FeatureJson> {
    const entry = this.index[String(layer)];
    if (!entry) throw new Error(`feature index: no layer ${layer} (layers: ${this.layers().join(', ')})`);
    const n = entry.offsets.length - 1;
    if (!Number.isInteger(feature) || feature < 0 || feature >= n) {
      throw new Error(`feature index: feature ${feature} is outside [0, ${n}) in layer ${layer}`);
    }
    let src = this.sources.get(layer);
    if (!src) {
      src = await this.files.open(this.files.join(this.dir, entry.filename));
      this.sources.set(layer, src);
    }
    const start = entry.offsets[feature];
    const end = entry.offsets[feature + 1];
    if (end > src.size)
      throw new Error(`feature index: ${entry.filename} has ${src.size} bytes, record ends at ${end}`);
    return decodeFeatureRecord(await src.read(start, end - start));
  }

  async close(): Promise<void> {
    for (const s of this.sources.values()) await s.close?.();
    this.sources.clear();
  }
}
