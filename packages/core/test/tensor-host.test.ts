import { describe, expect, it } from 'vitest';
import { concatBytes } from '../src/io/bytes.ts';
import { f32, i32 } from '../src/tensor/host.ts';

describe('f32 and i32', () => {
  it('keep a typed array of the right kind, copy a plain array, and zero-fill when given none', () => {
    const data = Float32Array.of(1, 2, 3, 4, 5, 6);
    const t = f32([2, 3], data);
    expect(t.data).toBe(data);
    expect(t.shape).toEqual([2, 3]);
    expect(Array.from(i32([3], [7, 8, 9]).data)).toEqual([7, 8, 9]);
    expect(i32([2], [7, 8]).data).toBeInstanceOf(Int32Array);
    expect(Array.from(f32([2, 2]).data)).toEqual([0, 0, 0, 0]);
    // an Int32Array given to f32 is converted, not kept under the wrong dtype
    expect(f32([2], Int32Array.of(3, 4) as unknown as number[]).data).toBeInstanceOf(Float32Array);
  });

  it('name themselves and the shape when the value count does not fit', () => {
    expect(() => f32([2, 3], [1, 2])).toThrow('f32: shape [2, 3] needs 6 values, got 2');
    expect(() => i32([4], Int32Array.of(1))).toThrow('i32: shape [4] needs 4 values, got 1');
  });
});

describe('concatBytes', () => {
  it('lays the chunks end to end, empty chunks included', () => {
    const out = concatBytes([Uint8Array.of(1, 2), new Uint8Array(0), Uint8Array.of(3)]);
    expect(Array.from(out)).toEqual([1, 2, 3]);
    expect(concatBytes([]).byteLength).toBe(0);
  });
});
