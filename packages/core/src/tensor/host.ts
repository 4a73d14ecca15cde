/**
 * Tensors as the host (JS) side sees them: a dtype, a row-major shape and a typed array.
 * Heavy math never loops over these in JS; they travel into and out of onnxruntime whole.
 */
export type HostDType = 'float32' | 'float16' | 'int32' | 'int64' | 'bool' | 'uint8';

export interface HostTypedArrays {
  float32: Float32Array;
  float16: Uint16Array; // raw IEEE half bits
  int32: Int32Array;
  int64: BigInt64Array;
  bool: Uint8Array;
  uint8: Uint8Array;
}

export interface HostTensor<D extends HostDType = HostDType> {
  readonly dtype: D;
  readonly shape: readonly number[];
  readonly data: HostTypedArrays[D];
}

export type F32 = HostTensor<'float32'>;
export type I32 = HostTensor<'int32'>;

/** The tensor as float32, or a clear error naming `what` (a graph output, a hook) when it is another dtype. */
export function asF32(t: HostTensor, what: string): F32 {
  if (t.dtype !== 'float32') throw new Error(`${what}: expected float32, got ${t.dtype}`);
  return t as F32;
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * `data` as the array of a tensor of `shape` (zeros when absent; a plain array copied into one), or an
 * error naming `what` when the value count does not fit the shape.
 */
function shapedArray<A extends Float32Array | Int32Array>(
  what: string,
  Typed: { new (n: number): A; from(xs: ArrayLike<number>): A },
  shape: readonly number[],
  data: A | number[] | undefined,
): A {
  const n = numel(shape);
  const arr = data === undefined ? new Typed(n) : data instanceof Typed ? data : Typed.from(data);
  if (arr.length !== n)
    throw new Error(`${what}: shape [${shape.join(', ')}] needs ${n} values, got ${arr.length}`);
  return arr;
}

export function f32(shape: readonly number[], data?: Float32Array | number[]): F32 {
  return { dtype: 'float32', shape: [...shape], data: shapedArray('f32', Float32Array, shape, data) };
}

export function i32(shape: readonly number[], data?: Int32Array | number[]): I32 {
  return { dtype: 'int32', shape: [...shape], data: shapedArray('i32', Int32Array, shape, data) };
}

/** [rows, cols] -> [cols, rows]; load/save-time bookkeeping, not inference math. */
export function transpose2d(t: F32): F32 {
  const [r, c] = t.shape;
  const out = new Float32Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = t.data[i * c + j];
  return { dtype: 'float32', shape: [c, r], data: out };
}
