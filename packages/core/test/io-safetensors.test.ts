import { describe, expect, it } from 'vitest';
import { bytesSource } from '../src/io/files.ts';
import { bf16ToFloat, floatToBf16, floatToHalf, halfToFloat } from '../src/io/half.ts';
import { SafetensorsFile, readAllSafetensors, writeSafetensors } from '../src/io/safetensors.ts';
import { f32, i32 } from '../src/tensor/host.ts';

/** Builds a file from a raw header object and data bytes, bypassing the writer's checks. */
function rawFile(header: unknown, data: Uint8Array, headerText?: string): Uint8Array {
  const json = new TextEncoder().encode(headerText ?? JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

const open = (b: Uint8Array) => SafetensorsFile.open(bytesSource(b));

describe('safetensors round trips', () => {
  it('writes every dtype and reads it back exactly', async () => {
    const bytes = writeSafetensors(
      {
        a_f32: f32([2, 3], [1, -2, 3.5, 0, 1e-8, -7]),
        b_i32: i32([3], [-5, 0, 2147483647]),
        c_i64: { dtype: 'int64', shape: [2], data: BigInt64Array.from([-(2n ** 40n), 9n]) },
        d_u8: { dtype: 'uint8', shape: [4], data: Uint8Array.from([0, 1, 254, 255]) },
        e_bool: { dtype: 'bool', shape: [2], data: Uint8Array.from([1, 0]) },
        f_f16: { dtype: 'F16', shape: [3], data: Float32Array.from([1, -0.5, 65504]) },
        g_bf16: { dtype: 'BF16', shape: [2], data: Float32Array.from([3, -1.5]) },
        h_f64: { dtype: 'F64', shape: [1], data: Float32Array.from([0.25]) },
        i_empty: f32([0, 4]),
      },
      { format: 'pt' },
    );
    const f = await open(bytes);
    expect(f.metadata).toEqual({ format: 'pt' });
    expect(f.names().sort()).toEqual([
      'a_f32',
      'b_i32',
      'c_i64',
      'd_u8',
      'e_bool',
      'f_f16',
      'g_bf16',
      'h_f64',
      'i_empty',
    ]);
    expect(f.info('f_f16').dtype).toBe('F16');
    expect([...(await f.read('a_f32')).data]).toEqual([...Float32Array.from([1, -2, 3.5, 0, 1e-8, -7])]);
    expect((await f.read('a_f32')).shape).toEqual([2, 3]);
    expect([...(await f.read('b_i32')).data]).toEqual([-5, 0, 2147483647]);
    expect([...(await f.read('c_i64')).data]).toEqual([-(2n ** 40n), 9n]);
    expect((await f.read('d_u8')).dtype).toBe('uint8');
    expect([...(await f.read('e_bool')).data]).toEqual([1, 0]);
    expect((await f.read('e_bool')).dtype).toBe('bool');
    expect([...(await f.read('f_f16')).data]).toEqual([1, -0.5, 65504]);
    expect([...(await f.read('g_bf16')).data]).toEqual([3, -1.5]);
    expect([...(await f.read('h_f64')).data]).toEqual([0.25]);
    expect((await f.read('i_empty')).shape).toEqual([0, 4]);
    expect([...(await f.readF32('b_i32')).data]).toEqual([-5, 0, 2 ** 31]); // float32 rounds 2^31-1 up
    await expect(f.readF32('e_bool')).rejects.toThrow(/BOOL/);
  });

  it('is deterministic, 8-byte aligned and independent of insertion order', () => {
    const a = writeSafetensors({ x: f32([1], [1]), y: f32([2], [2, 3]) });
    const b = writeSafetensors({ y: f32([2], [2, 3]), x: f32([1], [1]) });
    expect(a).toEqual(b);
    const n = Number(new DataView(a.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    expect(a[8 + n - 1]).toBe(0x20);
  });

  it('rewrites a file it read into identical bytes', async () => {
    const bytes = writeSafetensors({ w: f32([3, 2], [1, 2, 3, 4, 5, 6]), k: i32([2], [7, 8]) });
    const all = await readAllSafetensors(bytesSource(bytes));
    expect(writeSafetensors(Object.fromEntries(all))).toEqual(bytes);
  });

  it('reads row slices and gathered rows without reading the whole tensor', async () => {
    const w = f32(
      [5, 3],
      Array.from({ length: 15 }, (_, i) => i),
    );
    const bytes = writeSafetensors({ w, h: { dtype: 'F16', shape: [5, 3], data: w.data } });
    const reads: [number, number][] = [];
    const src = bytesSource(bytes);
    const spy = {
      size: src.size,
      read: (o: number, l: number) => {
        reads.push([o, l]);
        return src.read(o, l);
      },
    };
    const f = await SafetensorsFile.open(spy);
    reads.length = 0;
    const rows = await f.readRows('w', 1, 2);
    expect(rows.shape).toEqual([2, 3]);
    expect([...rows.data]).toEqual([3, 4, 5, 6, 7, 8]);
    expect(reads).toHaveLength(1);
    expect(reads[0][1]).toBe(24);
    const half = await f.readRows('h', 4, 1);
    expect([...half.data]).toEqual([12, 13, 14]);
    reads.length = 0;
    const g = await f.readRowIndices('w', [4, 0, 1, 2]);
    expect([...g.data]).toEqual([12, 13, 14, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(reads).toHaveLength(2);
    await expect(f.readRows('w', 4, 2)).rejects.toThrow(/outside tensor 'w' with 5 rows/);
    await expect(f.readRowIndices('w', [5])).rejects.toThrow(/row 5 is outside/);
    await expect(f.read('nope')).rejects.toThrow(/no tensor named 'nope'/);
  });

  it('converts halves and bfloat16 with round-to-nearest-even', () => {
    for (const v of [0, -0, 1, -2.5, 65504, 6.103515625e-5, 2 ** -24, 0.1]) {
      expect(halfToFloat(floatToHalf(v))).toBeCloseTo(v, 3);
    }
    expect(floatToHalf(1e6)).toBe(0x7c00);
    expect(floatToHalf(1 + 2 ** -11)).toBe(0x3c00); // tie rounds to even
    expect(floatToHalf(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(Number.isNaN(halfToFloat(floatToHalf(Number.NaN)))).toBe(true);
    expect(bf16ToFloat(floatToBf16(1 + 2 ** -8))).toBe(1);
    expect(bf16ToFloat(floatToBf16(1 + 3 * 2 ** -8))).toBe(1 + 2 ** -6);
    expect(Number.isNaN(bf16ToFloat(floatToBf16(Number.NaN)))).toBe(true);
  });
});

describe('malformed safetensors', () => {
  const ok = { t: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
  const data8 = new Uint8Array(8);
  const cases: [string, Uint8Array, RegExp][] = [
    ['shorter than 8 bytes', new Uint8Array(5), /fewer than the 8-byte header length/],
    [
      'header length beyond the file',
      (() => {
        const b = rawFile(ok, data8);
        new DataView(b.buffer).setBigUint64(0, 10_000n, true);
        return b;
      })(),
      /runs past the end/,
    ],
    [
      'header length over 100 MB',
      (() => {
        const b = rawFile(ok, data8);
        new DataView(b.buffer).setBigUint64(0, 2n ** 60n, true);
        return b;
      })(),
      /exceeds the 100000000-byte limit/,
    ],
    ['non-JSON header', rawFile(null, data8, '{"t": [1, 2'), /not valid JSON/],
    ['a JSON array header', rawFile([1, 2], new Uint8Array(0)), /not a JSON object/],
    [
      'unknown dtype',
      rawFile({ t: { dtype: 'Q4', shape: [2], data_offsets: [0, 8] } }, data8),
      /unknown dtype 'Q4'/,
    ],
    [
      'shape/offset mismatch',
      rawFile({ t: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, data8),
      /needs 12 bytes but data_offsets span 8/,
    ],
    [
      'negative dim',
      rawFile({ t: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, data8),
      /tensor 't': invalid shape/,
    ],
    [
      'absurd dim',
      rawFile({ t: { dtype: 'F32', shape: [2 ** 50], data_offsets: [0, 8] } }, data8),
      /tensor 't': invalid shape/,
    ],
    [
      'fractional dim',
      rawFile({ t: { dtype: 'F32', shape: [1.5], data_offsets: [0, 8] } }, data8),
      /invalid shape/,
    ],
    ['missing data_offsets', rawFile({ t: { dtype: 'F32', shape: [2] } }, data8), /invalid data_offsets/],
    [
      'end before begin',
      rawFile({ t: { dtype: 'F32', shape: [0], data_offsets: [8, 0] } }, data8),
      /end < begin/,
    ],
    [
      'overlapping tensors',
      rawFile(
        {
          a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
          b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] },
        },
        data8,
      ),
      /overlaps/,
    ],
    [
      'a gap',
      rawFile({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, data8),
      /gap of 4 bytes before tensor 'a'/,
    ],
    [
      'out-of-range offsets',
      rawFile({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, data8),
      /truncated/,
    ],
    [
      'trailing bytes',
      rawFile({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, data8),
      /trailing bytes/,
    ],
    [
      'truncated data',
      rawFile(ok, new Uint8Array(4)),
      /ends at byte 8 but the data section has only 4 bytes/,
    ],
    [
      'bad metadata',
      rawFile({ __metadata__: { a: 1 } }, new Uint8Array(0)),
      /__metadata__ must map strings to strings/,
    ],
  ];
  for (const [what, bytes, message] of cases) {
    it(`rejects ${what}`, async () => {
      await expect(open(bytes)).rejects.toThrow(message);
    });
  }

  it('rejects bad writer input', () => {
    expect(() =>
      writeSafetensors({ a: { dtype: 'float32', shape: [3], data: new Float32Array(2) } }),
    ).toThrow(/shape \[3\] but 2 values/);
    expect(() => writeSafetensors({ __metadata__: f32([1]) })).toThrow(/reserved/);
  });
});
