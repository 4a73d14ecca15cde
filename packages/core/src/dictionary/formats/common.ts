import type { z } from 'zod';
import type { FileAccess } from '../../io/files.ts';
import { type EncodeAs, SafetensorsFile, type SafetensorsDType } from '../../io/safetensors.ts';
import type { F32 } from '../../tensor/host.ts';
import {
  type DecoderSource,
  type Dictionary,
  type DictionaryDType,
  type DictionaryLayer,
  memoryDecoder,
} from '../types.ts';
import { positiveInt } from '../../tensor/checks.ts';

export function shapeStr(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function expectShape(actual: readonly number[], expected: readonly number[], where: string): void {
  if (!sameShape(actual, expected)) {
    throw new Error(`${where}: expected shape ${shapeStr(expected)}, got ${shapeStr(actual)}`);
  }
}

export function dtypeFromSafetensors(d: SafetensorsDType, where: string): DictionaryDType {
  if (d === 'F32' || d === 'F64') return 'float32';
  if (d === 'F16') return 'float16';
  if (d === 'BF16') return 'bfloat16';
  throw new Error(`${where}: dictionary weights must be floating point, got ${d}`);
}

export function toSafetensorsDType(d: DictionaryDType): 'F32' | 'F16' | 'BF16' {
  return d === 'float32' ? 'F32' : d === 'float16' ? 'F16' : 'BF16';
}

export function encodeAs(t: F32, dtype: DictionaryDType): EncodeAs {
  return { dtype: toSafetensorsDType(dtype), shape: t.shape, data: t.data };
}

export async function openSafetensors(files: FileAccess, path: string): Promise<SafetensorsFile> {
  if (!(await files.exists(path))) throw new Error(`dictionary: missing file ${path}`);
  const source = await files.open(path);
  try {
    return await SafetensorsFile.open(source);
  } catch (e) {
    await source.close?.();
    throw new Error(`${path}: ${(e as Error).message}`);
  }
}

/** Rejects keys the format does not define, so a misnamed key is reported instead of silently ignored. */
export function checkKeys(file: SafetensorsFile, allowed: readonly string[], where: string): void {
  const extra = file.names().filter((n) => !allowed.includes(n));
  if (extra.length > 0) {
    throw new Error(
      `${where}: unexpected key(s) ${extra.map((k) => `'${k}'`).join(', ')} (allowed: ${allowed.join(', ')})`,
    );
  }
}

export function requireKey(file: SafetensorsFile, key: string, where: string): void {
  if (!file.has(key)) {
    throw new Error(`${where}: missing key '${key}' (present: ${file.names().join(', ') || 'none'})`);
  }
}

/** Eager reads above this size are refused: such a tensor belongs on disk behind a lazy decoder. */
export const MAX_EAGER_TENSOR_BYTES = 2 ** 31;

/** The whole tensor as float32, after checking that it fits in memory as one typed array. */
export async function readEager(file: SafetensorsFile, key: string, where: string): Promise<F32> {
  const info = file.info(key);
  let n = 1;
  for (const d of info.shape) n *= d;
  if (n * 4 > MAX_EAGER_TENSOR_BYTES) {
    throw new Error(
      `${where} key '${key}': ${info.shape.join('×')} floats (${(n * 4) / 2 ** 30} GiB) is too large to load whole (only W_dec can stay on disk, with lazyDecoder)`,
    );
  }
  return file.readF32(key);
}

/** Reads a float tensor after checking its declared shape, before any bytes are loaded. */
export async function readChecked(
  file: SafetensorsFile,
  key: string,
  shape: readonly number[],
  where: string,
): Promise<F32> {
  requireKey(file, key, where);
  expectShape(file.info(key).shape, shape, `${where} key '${key}'`);
  dtypeFromSafetensors(file.info(key).dtype, `${where} key '${key}'`);
  return readEager(file, key, where);
}

/** Decoder rows read on demand from open safetensors files, one per dictionary layer. */
export function lazyDecoder(files: readonly SafetensorsFile[], keys: readonly string[]): DecoderSource {
  return {
    async rows(layerIndex, features) {
      const f = files[layerIndex];
      if (!f) throw new Error(`decoder rows: no layer index ${layerIndex} (dictionary has ${files.length})`);
      const t = await f.readRowIndices(keys[layerIndex], features);
      if (t.dtype !== 'float32')
        throw new Error(`decoder rows: W_dec of layer index ${layerIndex} is not floating point`);
      return t as F32;
    },
  };
}

/** A format's config, checked against its schema; the first problem is reported with the file and field. */
export function parseConfig<T>(schema: z.ZodType<T>, raw: unknown, path: string): T {
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`${path}: invalid field '${issue.path.join('.') || '(root)'}': ${issue.message}`);
  }
  return parsed.data;
}

/** Everything a reader has read; the decoder source and `close` follow from where W_dec is. */
export type DictionaryParts = Omit<Dictionary, 'decoder' | 'lazyDecoder' | 'close'>;

/**
 * The Dictionary every reader ends with, checked: the decoder either already in `layers` or read lazily from
 * `lazy.files[i]`'s key `lazy.keys[i]`, those files then closed by `close()`.
 */
export function assembleDictionary(
  parts: DictionaryParts,
  lazy?: { files: readonly SafetensorsFile[]; keys: readonly string[] },
): Dictionary {
  const dict: Dictionary = {
    ...parts,
    decoder: lazy ? lazyDecoder(lazy.files, lazy.keys) : memoryDecoder(parts.layers),
    lazyDecoder: lazy !== undefined,
    close: () => closeAll(lazy?.files ?? []),
  };
  validateLayerShapes(dict);
  return dict;
}

export async function closeAll(files: readonly SafetensorsFile[]): Promise<void> {
  for (const f of files) await f.close();
}

/** Full W_dec of one layer, whether in memory or lazy. */
export async function fullDecoderRows(dict: Dictionary, layerIndex: number): Promise<F32> {
  const w = dict.layers[layerIndex].wDec;
  if (w) return w;
  return dict.decoder.rows(
    layerIndex,
    Array.from({ length: dict.dTc }, (_, i) => i),
  );
}

/** Checks every layer's shapes against dModel/dTc; writers call it before touching the disk. */
export function validateLayerShapes(dict: Dictionary): void {
  const { dModel: d, dTc } = dict;
  if (!Number.isInteger(d) || d <= 0 || !Number.isInteger(dTc) || dTc <= 0) {
    throw new Error(`dictionary: dModel and dTc must be positive integers, got ${d} and ${dTc}`);
  }
  if (dict.layers.length === 0) throw new Error('dictionary: no layers');
  const nL = dict.layers.length;
  dict.layers.forEach((l: DictionaryLayer, i) => {
    const where = `dictionary layer ${l.layer}`;
    expectShape(l.wEnc.shape, [dTc, d], `${where} W_enc`);
    expectShape(l.bEnc.shape, [dTc], `${where} b_enc`);
    expectShape(l.bDec.shape, [d], `${where} b_dec`);
    if (l.wDec)
      expectShape(l.wDec.shape, dict.kind === 'clt' ? [dTc, nL - i, d] : [dTc, d], `${where} W_dec`);
    if (l.threshold) expectShape(l.threshold.shape, [dTc], `${where} threshold`);
    if (l.wSkip) expectShape(l.wSkip.shape, [d, d], `${where} W_skip`);
    if (dict.activation.kind === 'jumprelu' && !l.threshold)
      throw new Error(`${where}: JumpReLU needs a threshold`);
    if (dict.kind !== 'sae' && l.layer !== i) {
      throw new Error(`dictionary: layers must be contiguous from 0, but index ${i} holds layer ${l.layer}`);
    }
  });
  if (dict.kind === 'sae' && nL !== 1) throw new Error(`dictionary: an SAE has exactly one layer, got ${nL}`);
  const skips = dict.layers.filter((l) => l.wSkip).length;
  if (skips !== 0 && skips !== nL) throw new Error('dictionary: either every layer has W_skip or none does');
  if (dict.activation.kind === 'topk') positiveInt(dict.activation.k, 'dictionary: TopK k');
}

/** Finds `{prefix}{i}{suffix}` files and checks that i runs 0..n−1 without gaps. */
export function contiguousIndices(names: readonly string[], pattern: RegExp, what: string): number {
  const found = names
    .map((n) => pattern.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
  if (found.length === 0) return 0;
  const missing: number[] = [];
  const max = found[found.length - 1];
  for (let i = 0; i <= max; i++) if (!found.includes(i)) missing.push(i);
  if (missing.length > 0) {
    throw new Error(
      `${what}: layers must be contiguous from 0; found ${found.join(', ')}, missing ${missing.join(', ')}`,
    );
  }
  if (new Set(found).size !== found.length) throw new Error(`${what}: duplicate layer files`);
  return found.length;
}
