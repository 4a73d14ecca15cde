import { seededRandom } from '../model/init.ts';
import { GraphBuilder } from '../tensor/graph.ts';
import { f32, type F32 } from '../tensor/host.ts';
import type { Runtime } from '../tensor/runtime.ts';
import type { DictionaryKind } from './types.ts';
import { kthLargest } from './train-graph.ts';

/**
 * Per-layer statistics of rows x [N, L, d] in one graph: rms [L] = sqrt(mean ‖x_l‖² / d) (1 where it is 0)
 * and mean [L, 1, d].
 */
export async function layerStats(
  runtime: Runtime,
  rows: Float32Array,
  n: number,
  L: number,
  d: number,
): Promise<{ rms: Float64Array; mean: F32 }> {
  const graph = await runtime.graph(`dictionary-layer-stats:${L}:${d}`, () => {
    const g = new GraphBuilder();
    const x = g.input('x', 'float32', ['N', L, d]);
    const rms = g.sqrt(g.reduceMean(g.mul(x, x), [0, 2], false)); // [L]
    const mean = g.transpose(g.reduceMean(x, [0], true), [1, 0, 2]); // [L, 1, d]
    return g.compile({ rms, mean });
  });
  const out = await graph.run({ x: f32([n, L, d], rows.subarray(0, n * L * d)) });
  return { rms: Float64Array.from(out.rms.data as Float32Array, (v) => v || 1), mean: out.mean as F32 };
}

/** Per-layer, per-coordinate median of rows x [N, L, d] in one graph: [L, 1, d] (the upper median for even N). */
export async function layerMedian(
  runtime: Runtime,
  rows: Float32Array,
  n: number,
  L: number,
  d: number,
): Promise<F32> {
  const graph = await runtime.graph(`dictionary-layer-median:${n}:${L}:${d}`, () => {
    const g = new GraphBuilder();
    const x = g.input('x', 'float32', [n, L, d]);
    const median = kthLargest(g, g.transpose(x, [1, 2, 0]), Math.ceil(n / 2)); // [L, d, 1]
    return g.compile({ median: g.transpose(median, [0, 2, 1]) });
  });
  return (await graph.run({ x: f32([n, L, d], rows.subarray(0, n * L * d)) })).median as F32;
}

/** Unit-norm random rows [n, d] from a seeded Gaussian. */
function unitRows(n: number, d: number, rand: () => number): Float32Array {
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    let norm = 0;
    for (let j = 0; j < d; j++) {
      const u = Math.max(rand(), 1e-12);
      const v = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
      out[i * d + j] = v;
      norm += v * v;
    }
    norm = Math.sqrt(norm);
    for (let j = 0; j < d; j++) out[i * d + j] /= norm;
  }
  return out;
}

/**
 * Initial row norms. Unit decoder rows would add k features of size ≈ 3 to the first reconstructions (FVU ≈ 2
 * at step 0); tiny ones let a few features win every early BatchTopK while the rest die. Measured on a tiny
 * organism (PLT, width 128, k 8, 200 steps): decoder 1 → FVU 0.064 / dead 4.7%; 0.1 with encoder 0.1 → 0.022 /
 * 52%; 0.1 with encoder 1 → 0.019 / 16%; 0.3 with encoder 1 → 0.020 / 9%.
 */
const DECODER_INIT_NORM = 0.3;
const ENCODER_INIT_NORM = 1;

/** Initial parameters in normalised space: random rows, encoder = decoder direction, b_dec the data mean. */
export function initDictionaryParameters(
  kind: DictionaryKind,
  L: number,
  width: number,
  d: number,
  bDec: F32, // [L, 1, d]
  seed: number,
): Record<string, F32> {
  const rand = seededRandom(seed);
  const rows = Array.from({ length: L }, () => unitRows(width, d, rand));
  const wEnc = new Float32Array(L * width * d);
  rows.forEach((r, l) => {
    wEnc.set(
      r.map((v) => v * ENCODER_INIT_NORM),
      l * width * d,
    );
  });
  for (const r of rows) for (let i = 0; i < r.length; i++) r[i] *= DECODER_INIT_NORM;
  const params: Record<string, F32> = {
    wEnc: f32([L, width, d], wEnc),
    bEnc: f32([L, 1, width]),
    bDec,
  };
  if (kind === 'clt') {
    // Only the same-layer output starts non-zero; later outputs learn what carries across layers.
    for (let l = 0; l < L; l++) {
      const w = new Float32Array(width * (L - l) * d);
      for (let f = 0; f < width; f++) w.set(rows[l].subarray(f * d, (f + 1) * d), f * (L - l) * d);
      params[`wDec${l}`] = f32([width, L - l, d], w);
    }
  } else params.wDec = f32([L, width, d], Float32Array.from(rows.flatMap((r) => Array.from(r))));
  return params;
}
