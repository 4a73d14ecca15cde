import { zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { parseNpy, readNpz, writeNpy } from '../src/io/npz.ts';
import { f32, i32 } from '../src/tensor/host.ts';

function npyWithHeader(header: string, data: Uint8Array): Uint8Array {
  const h = new TextEncoder().encode(header);
  const out = new Uint8Array(10 + h.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, h.length, true);
  out.set(h, 10);
  out.set(data, 10 + h.length);
  return out;
}

describe('npz', () => {
  it('reads a GemmaScope-style params.npz, stored or deflated', () => {
    const arrays = {
      W_enc: f32(
        [3, 4],
        Array.from({ length: 12 }, (_, i) => i / 4),
      ),
      W_dec: f32(
        [4, 3],
        Array.from({ length: 12 }, (_, i) => -i),
      ),
      b_enc: f32([4], [1, 2, 3, 4]),
      b_dec: f32([3], [0, 0.5, 1]),
      threshold: f32([4], [0.1, 0.2, 0.3, 0.4]),
      steps: i32([1], [7]),
    };
    const entries = Object.fromEntries(Object.entries(arrays).map(([k, v]) => [`${k}.npy`, writeNpy(v)]));
    for (const level of [0, 6] as const) {
      const npz = readNpz(zipSync(entries, { level }));
      expect([...npz.keys()].sort()).toEqual(Object.keys(arrays).sort());
      for (const [k, v] of Object.entries(arrays)) {
        expect(npz.get(k)!.shape).toEqual(v.shape);
        expect([...npz.get(k)!.data]).toEqual([...v.data]);
        expect(npz.get(k)!.dtype).toBe(v.dtype);
      }
    }
  });

  it('converts float16 and float64 arrays to float32 and keeps scalars', () => {
    const half = npyWithHeader(
      "{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }\n",
      Uint8Array.from([0, 0x3c, 0, 0xc0]),
    );
    expect([...parseNpy(half).data]).toEqual([1, -2]);
    const f64 = new Float64Array([0.25]);
    const scalar = npyWithHeader(
      "{'descr': '<f8', 'fortran_order': False, 'shape': (), }\n",
      new Uint8Array(f64.buffer),
    );
    const t = parseNpy(scalar);
    expect(t.shape).toEqual([]);
    expect([...t.data]).toEqual([0.25]);
  });

  it('rejects malformed input with clear messages', () => {
    const four = new Uint8Array(4);
    expect(() => parseNpy(new Uint8Array(20))).toThrow(/magic/);
    expect(() =>
      parseNpy(npyWithHeader("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", four)),
    ).toThrow(/unsupported dtype '>f4'/);
    expect(() =>
      parseNpy(npyWithHeader("{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }", four)),
    ).toThrow(/Fortran/);
    expect(() =>
      parseNpy(npyWithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", four)),
    ).toThrow(/needs 8 data bytes, file has 4/);
    expect(() => parseNpy(npyWithHeader("{'descr': '<f4', 'shape': (1,), }", four))).toThrow(/lacks descr/);
    expect(() =>
      parseNpy(npyWithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", four)),
    ).toThrow(/invalid dimension '-1'/);
    expect(() => readNpz(new Uint8Array([1, 2, 3, 4]))).toThrow(/npz/);
    expect(() => readNpz(zipSync({ 'readme.txt': new Uint8Array(3) }))).toThrow(/no .npy arrays/);
  });

  /** The zip with every central-directory entry's uncompressed size set to `size`, as a crafted archive says. */
  function declaring(zip: Uint8Array, size: number): Uint8Array {
    const out = zip.slice();
    const dv = new DataView(out.buffer);
    for (let o = 0; o + 46 <= out.byteLength; o++) {
      if (dv.getUint32(o, true) === 0x02014b50) dv.setUint32(o + 24, size, true);
    }
    return out;
  }

  it('refuses archives whose declared sizes exceed the limits before allocating them', () => {
    const arr = writeNpy(f32([4], new Float32Array(4)));
    const zip = zipSync({ 'a.npy': arr, 'b.npy': arr, 'c.npy': arr }, { level: 6 });
    // Three arrays each declaring 3.75 GiB: under the per-array limit, 11 GiB in all, over the archive's 8 GiB.
    expect(() => readNpz(declaring(zip, 0xf0000000))).toThrow(
      /npz: arrays declare over 8589934592 bytes in all, the limit for one archive/,
    );
    expect(() => readNpz(zip, { entryBytes: 50 })).toThrow(
      /'a.npy' declares 144 bytes, over the 50-byte limit/,
    );
    expect(() => readNpz(zip, { entries: 2 })).toThrow(/more than 2 arrays/);
    // An entry declaring fewer bytes than it inflates to is cut to what it declared, never grown: a clear error.
    expect(() => readNpz(declaring(zip, 8))).toThrow(/^np[yz]/);
    expect(readNpz(zip).size).toBe(3);
  });
});
