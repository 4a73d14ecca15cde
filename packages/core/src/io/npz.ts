/**
 * NumPy .npy / .npz reader (GemmaScope ships params.npz). Little-endian, C-order arrays only; F16/F64 become
 * float32 as in the safetensors reader.
 */
import { unzipSync } from 'fflate';
import type { HostTensor } from '../tensor/host.ts';
import { DTYPE_BYTES, decodeTensorBytes, type SafetensorsDType } from './safetensors.ts';

const DESCR: Record<string, SafetensorsDType> = {
  '<f4': 'F32',
  '<f2': 'F16',
  '<f8': 'F64',
  '<i4': 'I32',
  '<i8': 'I64',
  '|u1': 'U8',
  '<u1': 'U8',
  '|b1': 'BOOL',
};
const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

export function parseNpy(bytes: Uint8Array, name = 'array'): HostTensor {
  if (bytes.byteLength < 10 || MAGIC.some((b, i) => bytes[i] !== b))
    throw new Error(`npy '${name}': missing \\x93NUMPY magic`);
  const major = bytes[6];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let start: number;
  if (major === 1) {
    headerLen = dv.getUint16(8, true);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.byteLength < 12) throw new Error(`npy '${name}': truncated header`);
    headerLen = dv.getUint32(8, true);
    start = 12;
  } else {
    throw new Error(`npy '${name}': unsupported format version ${major}`);
  }
  if (start + headerLen > bytes.byteLength)
    throw new Error(`npy '${name}': header length ${headerLen} runs past the end`);
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(
    bytes.subarray(start, start + headerLen),
  );
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new Error(`npy '${name}': header lacks descr, fortran_order or shape: ${header.trim()}`);
  }
  const dtype = DESCR[descr];
  if (!dtype)
    throw new Error(
      `npy '${name}': unsupported dtype '${descr}' (supported: ${Object.keys(DESCR).join(', ')})`,
    );
  if (fortran === 'True') throw new Error(`npy '${name}': Fortran-order arrays are not supported`);
  const parts = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  const shape = parts.map((s) => {
    if (!/^\d+$/.test(s)) throw new Error(`npy '${name}': invalid dimension '${s}'`);
    return Number(s);
  });
  let count = 1;
  for (const d of shape) count *= d;
  const dataStart = start + headerLen;
  const need = count * DTYPE_BYTES[dtype];
  if (!Number.isSafeInteger(need) || dataStart + need !== bytes.byteLength) {
    throw new Error(
      `npy '${name}': shape [${shape.join(', ')}] of ${descr} needs ${need} data bytes, file has ${bytes.byteLength - dataStart}`,
    );
  }
  return decodeTensorBytes(dtype, shape, bytes.subarray(dataStart));
}

/**
 * What an .npz may declare before anything is inflated: GemmaScope's largest params.npz (width 131k on a
 * 3584-wide model) holds about 3.8 GB, so 8 GiB in all and 4 GiB per array leave room without letting a few
 * hundred bytes of zip headers ask for terabytes.
 */
export interface NpzLimits {
  /** Uncompressed bytes all arrays together may declare. */
  totalBytes: number;
  /** Uncompressed bytes one array may declare. */
  entryBytes: number;
  /** Arrays in one archive. */
  entries: number;
}

export const NPZ_LIMITS: Readonly<NpzLimits> = {
  totalBytes: 8 * 2 ** 30,
  entryBytes: 4 * 2 ** 30,
  entries: 4_096,
};

class NpzRefused extends Error {}

/**
 * Every array of an .npz (stored or deflated zip of .npy files), keyed without the `.npy` suffix. The archive's
 * declared sizes are checked against `limits` from its directory, before any array is allocated or inflated.
 */
export function readNpz(bytes: Uint8Array, limits: Partial<NpzLimits> = {}): Map<string, HostTensor> {
  const { totalBytes, entryBytes, entries: maxEntries } = { ...NPZ_LIMITS, ...limits };
  let count = 0;
  let declared = 0;
  // First pass: the directory only (the filter admits nothing), so every limit holds before any allocation.
  const survey = (f: { name: string; originalSize: number }): boolean => {
    if (!f.name.endsWith('.npy')) return false;
    count += 1;
    declared += f.originalSize;
    if (count > maxEntries) throw new NpzRefused(`npz: more than ${maxEntries} arrays`);
    if (f.originalSize > entryBytes)
      throw new NpzRefused(
        `npz: '${f.name}' declares ${f.originalSize} bytes, over the ${entryBytes}-byte limit per array`,
      );
    if (declared > totalBytes)
      throw new NpzRefused(`npz: arrays declare over ${totalBytes} bytes in all, the limit for one archive`);
    return false;
  };
  let entries: Record<string, Uint8Array>;
  try {
    unzipSync(bytes, { filter: survey });
    // Inflating into the declared size: an entry that inflates to more fails instead of growing.
    entries = unzipSync(bytes, { filter: (f) => f.name.endsWith('.npy') });
  } catch (e) {
    if (e instanceof NpzRefused) throw new Error(e.message);
    throw new Error(`npz: not a readable zip archive (${(e as Error).message})`);
  }
  const out = new Map<string, HostTensor>();
  for (const [file, data] of Object.entries(entries)) {
    const key = file.slice(0, -'.npy'.length);
    out.set(key, parseNpy(data, key));
  }
  if (out.size === 0) throw new Error('npz: the archive contains no .npy arrays');
  return out;
}

/** Encodes one array as .npy v1 (used by tests and by exporters that want NumPy-readable files). */
export function writeNpy(t: HostTensor): Uint8Array {
  const descr = { float32: '<f4', float16: '<f2', int32: '<i4', int64: '<i8', uint8: '|u1', bool: '|b1' }[
    t.dtype
  ];
  const shape = t.shape.length === 1 ? `(${t.shape[0]},)` : `(${t.shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const total = 10 + header.length + 1;
  header += `${' '.repeat((64 - (total % 64)) % 64)}\n`;
  const data = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set(MAGIC);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(data, 10 + header.length);
  return out;
}
