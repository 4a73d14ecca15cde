/** IEEE half and bfloat16 <-> float32 conversions (bit-exact, round-to-nearest-even on the way down). */

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

export function floatToHalf(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half (or zero): shift the implicit 1 in and round to nearest even.
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rem = mant & ((1 << shift) - 1);
    let r = mant >> shift;
    if (rem > half || (rem === half && r & 1)) r++;
    return sign | r;
  }
  const rem = mant & 0x1fff;
  let r = (e << 10) | (mant >> 13);
  if (rem > 0x1000 || (rem === 0x1000 && r & 1)) r++; // a carry into the exponent is the correct rounding
  return sign | r;
}

export function bf16ToFloat(b: number): number {
  u32Scratch[0] = b << 16;
  return f32Scratch[0];
}

export function floatToBf16(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0];
  if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) return ((x >>> 16) | 0x40) & 0xffff;
  const rounded = x + 0x7fff + ((x >>> 16) & 1);
  return (rounded >>> 16) & 0xffff;
}

/** out[i] = convert(src[i]) for every element: one conversion loop for the three element-wise array casts. */
function convertEach<T extends Float32Array | Uint16Array>(
  src: Float32Array | Uint16Array,
  out: T,
  convert: (v: number) => number,
): T {
  for (let i = 0; i < src.length; i++) out[i] = convert(src[i]);
  return out;
}

export function halfArrayToFloat32(src: Uint16Array): Float32Array {
  return convertEach(src, new Float32Array(src.length), halfToFloat);
}

export function bf16ArrayToFloat32(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < src.length; i++) bits[i] = src[i] << 16;
  return out;
}

export function float32ToHalfArray(src: Float32Array): Uint16Array {
  return convertEach(src, new Uint16Array(src.length), floatToHalf);
}

export function float32ToBf16Array(src: Float32Array): Uint16Array {
  return convertEach(src, new Uint16Array(src.length), floatToBf16);
}
