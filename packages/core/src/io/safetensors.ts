/**
 * A strict safetensors reader and writer (https://github.com/huggingface/safetensors, "Format").
 * Layout: u64-LE header length N, N bytes of UTF-8 JSON, then the tensors' little-endian bytes.
 * The reader is lazy: it parses the header once and reads whole tensors or row ranges on demand, so a
 * dictionary larger than memory only ever loads the decoder rows it needs.
 */
import { z } from 'zod';
import type { F32, HostTensor } from '../tensor/host.ts';
import { type ByteSource, isRangeWithin } from './files.ts';
import { bf16ArrayToFloat32, float32ToBf16Array, float32ToHalfArray, halfArrayToFloat32 } from './half.ts';

export type SafetensorsDType = 'F32' | 'F16' | 'BF16' | 'F64' | 'I32' | 'I64' | 'U8' | 'BOOL';

/** Bytes per element of each dtype (the npy reader maps NumPy's descr codes onto these). */
export const DTYPE_BYTES: Record<SafetensorsDType, number> = {
  F32: 4,
  F16: 2,
  BF16: 2,
  F64: 8,
  I32: 4,
  I64: 8,
  U8: 1,
  BOOL: 1,
};

/** The spec has no limit; 100 MB is far above any real header and stops absurd allocations. */
export const MAX_HEADER_BYTES = 100_000_000;
/** Largest tensor dimension accepted; anything bigger is a corrupt header, not a model. */
const MAX_DIM = 2 ** 40;

export interface TensorInfo {
  readonly name: string;
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  /** Byte range inside the data section (relative to the first byte after the header). */
  readonly begin: number;
  readonly end: number;
}

const entrySchema = z.object({
  dtype: z.string(),
  shape: z.array(z.number().int().nonnegative().max(MAX_DIM)),
  data_offsets: z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative()]),
});
const metadataSchema = z.record(z.string(), z.string());

/** Parses and fully validates a header against the size of the data section that follows it. */
export function parseSafetensorsHeader(
  json: string,
  dataBytes: number,
): { tensors: Map<string, TensorInfo>; metadata: Record<string, string> } {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (e) {
    throw new Error(`safetensors: header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new Error('safetensors: header is not a JSON object');
  }
  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw)) {
    if (name === '__metadata__') {
      const m = metadataSchema.safeParse(value);
      if (!m.success) throw new Error('safetensors: __metadata__ must map strings to strings');
      metadata = m.data;
      continue;
    }
    const e = entrySchema.safeParse(value);
    if (!e.success) {
      const issue = e.error.issues[0];
      throw new Error(
        `safetensors: tensor '${name}': invalid ${issue.path.join('.') || 'entry'} (${issue.message})`,
      );
    }
    const { dtype, shape, data_offsets } = e.data;
    if (!(dtype in DTYPE_BYTES)) {
      throw new Error(
        `safetensors: tensor '${name}' has unknown dtype '${dtype}' (supported: ${Object.keys(DTYPE_BYTES).join(', ')})`,
      );
    }
    const [begin, end] = data_offsets;
    if (end < begin)
      throw new Error(`safetensors: tensor '${name}' has data_offsets [${begin}, ${end}] with end < begin`);
    if (end > dataBytes) {
      throw new Error(
        `safetensors: tensor '${name}' ends at byte ${end} but the data section has only ${dataBytes} bytes (truncated file?)`,
      );
    }
    let count = 1;
    for (const d of shape) count *= d;
    const bytes = count * DTYPE_BYTES[dtype as SafetensorsDType];
    if (!Number.isSafeInteger(bytes) || bytes !== end - begin) {
      throw new Error(
        `safetensors: tensor '${name}' of dtype ${dtype} and shape [${shape.join(', ')}] needs ${bytes} bytes but data_offsets span ${end - begin}`,
      );
    }
    tensors.set(name, { name, dtype: dtype as SafetensorsDType, shape, begin, end });
  }
  const sorted = [...tensors.values()].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (const t of sorted) {
    if (t.begin < cursor)
      throw new Error(`safetensors: tensor '${t.name}' overlaps the previous tensor at byte ${t.begin}`);
    if (t.begin > cursor)
      throw new Error(`safetensors: gap of ${t.begin - cursor} bytes before tensor '${t.name}'`);
    cursor = t.end;
  }
  if (cursor !== dataBytes) {
    throw new Error(
      `safetensors: tensors cover ${cursor} bytes but the data section has ${dataBytes} (trailing bytes)`,
    );
  }
  return { tensors, metadata };
}

function copyAligned(bytes: Uint8Array): ArrayBuffer {
  // Always copy: the source may be unaligned, and callers own the result.
  const buf = new ArrayBuffer(bytes.byteLength);
  new Uint8Array(buf).set(bytes);
  return buf;
}

/** Decodes little-endian bytes of one dtype into the host dtype (F16/BF16/F64 become float32). */
export function decodeTensorBytes(
  dtype: SafetensorsDType,
  shape: readonly number[],
  bytes: Uint8Array,
): HostTensor {
  const buf = copyAligned(bytes);
  const s = [...shape];
  switch (dtype) {
    case 'F32':
      return { dtype: 'float32', shape: s, data: new Float32Array(buf) };
    case 'F16':
      return { dtype: 'float32', shape: s, data: halfArrayToFloat32(new Uint16Array(buf)) };
    case 'BF16':
      return { dtype: 'float32', shape: s, data: bf16ArrayToFloat32(new Uint16Array(buf)) };
    case 'F64':
      return { dtype: 'float32', shape: s, data: Float32Array.from(new Float64Array(buf)) };
    case 'I32':
      return { dtype: 'int32', shape: s, data: new Int32Array(buf) };
    case 'I64':
      return { dtype: 'int64', shape: s, data: new BigInt64Array(buf) };
    case 'U8':
      return { dtype: 'uint8', shape: s, data: new Uint8Array(buf) };
    case 'BOOL':
      return { dtype: 'bool', shape: s, data: new Uint8Array(buf) };
  }
}

function toFloat32(t: HostTensor, name: string): F32 {
  if (t.dtype === 'float32') return t as F32;
  if (t.dtype === 'int64')
    return { dtype: 'float32', shape: t.shape, data: Float32Array.from(t.data as BigInt64Array, Number) };
  if (t.dtype === 'float16')
    return { dtype: 'float32', shape: t.shape, data: halfArrayToFloat32(t.data as Uint16Array) };
  if (t.dtype === 'bool') throw new Error(`safetensors: tensor '${name}' is BOOL, not a number`);
  return { dtype: 'float32', shape: t.shape, data: Float32Array.from(t.data as ArrayLike<number>) };
}

export class SafetensorsFile {
  private constructor(
    private readonly source: ByteSource,
    private readonly dataStart: number,
    readonly tensors: ReadonlyMap<string, TensorInfo>,
    readonly metadata: Readonly<Record<string, string>>,
  ) {}

  static async open(source: ByteSource): Promise<SafetensorsFile> {
    if (source.size < 8)
      throw new Error(`safetensors: file has ${source.size} bytes, fewer than the 8-byte header length`);
    const lenBytes = await source.read(0, 8);
    const n = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8).getBigUint64(0, true);
    if (n > BigInt(MAX_HEADER_BYTES))
      throw new Error(`safetensors: header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
    const headerLen = Number(n);
    if (8 + headerLen > source.size) {
      throw new Error(
        `safetensors: header length ${headerLen} runs past the end of a ${source.size}-byte file`,
      );
    }
    const headerBytes = await source.read(8, headerLen);
    let json: string;
    try {
      json = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
    } catch {
      throw new Error('safetensors: header is not valid UTF-8');
    }
    const { tensors, metadata } = parseSafetensorsHeader(json, source.size - 8 - headerLen);
    return new SafetensorsFile(source, 8 + headerLen, tensors, metadata);
  }

  names(): string[] {
    return [...this.tensors.keys()];
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  info(name: string): TensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`safetensors: no tensor named '${name}'`);
    return t;
  }

  /** The whole tensor; F16/BF16/F64 arrive as float32. */
  async read(name: string): Promise<HostTensor> {
    const t = this.info(name);
    const bytes = await this.source.read(this.dataStart + t.begin, t.end - t.begin);
    return decodeTensorBytes(t.dtype, t.shape, bytes);
  }

  /** The whole tensor converted to float32 (integers included); BOOL is rejected. */
  async readF32(name: string): Promise<F32> {
    return toFloat32(await this.read(name), name);
  }

  /** Rows [start, start+count) along the first dimension, read without touching the rest of the tensor. */
  async readRows(name: string, start: number, count: number): Promise<HostTensor> {
    const t = this.info(name);
    if (t.shape.length === 0) throw new Error(`safetensors: tensor '${name}' is a scalar and has no rows`);
    const rows = t.shape[0];
    if (!isRangeWithin(start, count, rows)) {
      throw new Error(
        `safetensors: rows [${start}, ${start + count}) are outside tensor '${name}' with ${rows} rows`,
      );
    }
    const rowBytes = rows === 0 ? 0 : (t.end - t.begin) / rows;
    const bytes = await this.source.read(this.dataStart + t.begin + start * rowBytes, count * rowBytes);
    return decodeTensorBytes(t.dtype, [count, ...t.shape.slice(1)], bytes);
  }

  /** Arbitrary rows (in the order given), coalescing runs of consecutive indices into single reads. */
  async readRowIndices(name: string, indices: ArrayLike<number>): Promise<HostTensor> {
    const t = this.info(name);
    if (t.shape.length === 0) throw new Error(`safetensors: tensor '${name}' is a scalar and has no rows`);
    const rows = t.shape[0];
    const rowBytes = rows === 0 ? 0 : (t.end - t.begin) / rows;
    const out = new Uint8Array(indices.length * rowBytes);
    let i = 0;
    while (i < indices.length) {
      const first = indices[i];
      if (!Number.isInteger(first) || first < 0 || first >= rows) {
        throw new Error(`safetensors: row ${first} is outside tensor '${name}' with ${rows} rows`);
      }
      let run = 1;
      while (i + run < indices.length && indices[i + run] === first + run) run++;
      const bytes = await this.source.read(this.dataStart + t.begin + first * rowBytes, run * rowBytes);
      out.set(bytes, i * rowBytes);
      i += run;
    }
    return decodeTensorBytes(t.dtype, [indices.length, ...t.shape.slice(1)], out);
  }

  async close(): Promise<void> {
    await this.source.close?.();
  }
}

/** A tensor to be written in a dtype other than its host dtype: F16/BF16/F64/F32 are encoded from float32 values. */
export interface EncodeAs {
  dtype: 'F32' | 'F16' | 'BF16' | 'F64';
  shape: readonly number[];
  data: Float32Array;
}

function isEncodeAs(t: HostTensor | EncodeAs): t is EncodeAs {
  return t.dtype === 'F32' || t.dtype === 'F16' || t.dtype === 'BF16' || t.dtype === 'F64';
}

function encodeTensor(
  name: string,
  t: HostTensor | EncodeAs,
): { dtype: SafetensorsDType; bytes: Uint8Array } {
  let count = 1;
  for (const d of t.shape) {
    if (!Number.isInteger(d) || d < 0)
      throw new Error(`writeSafetensors: tensor '${name}' has invalid dim ${d}`);
    count *= d;
  }
  if (t.data.length !== count) {
    throw new Error(
      `writeSafetensors: tensor '${name}' has shape [${t.shape.join(', ')}] but ${t.data.length} values`,
    );
  }
  const view = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  if (isEncodeAs(t)) {
    if (t.dtype === 'F32') return { dtype: 'F32', bytes: view(t.data) };
    if (t.dtype === 'F16') return { dtype: 'F16', bytes: view(float32ToHalfArray(t.data)) };
    if (t.dtype === 'BF16') return { dtype: 'BF16', bytes: view(float32ToBf16Array(t.data)) };
    return { dtype: 'F64', bytes: view(Float64Array.from(t.data)) };
  }
  const map = {
    float32: 'F32',
    float16: 'F16',
    int32: 'I32',
    int64: 'I64',
    uint8: 'U8',
    bool: 'BOOL',
  } as const;
  return { dtype: map[t.dtype], bytes: view(t.data) };
}

/**
 * Serialises tensors in sorted-name order (deterministic bytes). The header is padded with spaces to a
 * multiple of 8 bytes, as the spec allows, so every tensor starts 8-byte aligned.
 */
export function writeSafetensors(
  tensors: Record<string, HostTensor | EncodeAs>,
  metadata?: Record<string, string>,
): Uint8Array {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  const encoded = names.map((n) => {
    if (n === '__metadata__')
      throw new Error("writeSafetensors: '__metadata__' is reserved and cannot name a tensor");
    return encodeTensor(n, tensors[n]);
  });
  let offset = 0;
  names.forEach((n, i) => {
    const { dtype, bytes } = encoded[i];
    header[n] = { dtype, shape: [...tensors[n].shape], data_offsets: [offset, offset + bytes.byteLength] };
    offset += bytes.byteLength;
  });
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.byteLength / 8) * 8;
  if (padded !== json.byteLength) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.byteLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.byteLength), true);
  out.set(json, 8);
  let pos = 8 + json.byteLength;
  for (const { bytes } of encoded) {
    out.set(bytes, pos);
    pos += bytes.byteLength;
  }
  return out;
}

/** Convenience: reads every tensor of an in-memory file. */
export async function readAllSafetensors(source: ByteSource): Promise<Map<string, HostTensor>> {
  const f = await SafetensorsFile.open(source);
  const out = new Map<string, HostTensor>();
  for (const name of f.names()) out.set(name, await f.read(name));
  return out;
}
