import { type Dictionary, decoderOutputs } from '../dictionary/types.ts';
import type { TraceContext } from './trace-prepare.ts';

/**
 * Decoder vectors (a·W_dec, every output layer) of the active features of source layer `layer`, packed into
 * slots of `width` features that each belong to one position: [S, nOut·d, width]. One batched matmul
 * G[slotPos] [S, B, nOut·d] @ D gives every feature's entry (CLT output layers summed by the contraction).
 * Padding every position to the layer's most crowded one instead costs T·maxN columns, gigabytes on a long
 * prompt where a few positions carry hundreds of features; slots waste less than one slot per position.
 */
export interface DecoderSlots {
  layer: number;
  nOut: number;
  width: number;
  data: Float32Array; // [S, nOut·d, width]
  /** Position of each slot, ascending. */
  slotPos: BigInt64Array; // [S]
  /** Slots before position p: the first slotStart[P] slots cover a prefix of P positions. */
  slotStart: Int32Array; // [T + 1]
  /** Active index of the layer's first feature: its features are active indices first, first + 1, …. */
  first: number;
  /** Each of the layer's features in active order, as slot·width + column: [n_l]. */
  columns: BigInt64Array;
  /** The layer's features before position p: the first featStart[P] of them lie in a prefix of P positions. */
  featStart: Int32Array; // [T + 1]
}

/** Active features in their canonical order: by layer, then position (features of a layer are contiguous). */
function checkCanonicalOrder(layer: Int32Array, pos: Int32Array): void {
  for (let i = 1; i < layer.length; i++) {
    if (layer[i] < layer[i - 1] || (layer[i] === layer[i - 1] && pos[i] < pos[i - 1]))
      throw new Error(
        `active feature ${i} (layer ${layer[i]}, position ${pos[i]}) is out of (layer, position) order`,
      );
  }
}

export function slotDecoders(dict: Dictionary, ctx: TraceContext): DecoderSlots[] {
  const { nLayers: L, nPos: T, dModel: d, nActive } = ctx;
  const act = ctx.components.activations;
  checkCanonicalOrder(act.layer, act.pos);
  const count = new Int32Array(L * T);
  const rank = new Int32Array(nActive); // index of the feature among those of its (layer, position)
  for (let i = 0; i < nActive; i++) rank[i] = count[act.layer[i] * T + act.pos[i]]++;
  const blocks: DecoderSlots[] = [];
  const firstSlot = new Int32Array(L * T);
  for (let l = 0; l < L; l++) {
    let n = 0;
    let occupied = 0;
    for (let p = 0; p < T; p++) {
      n += count[l * T + p];
      if (count[l * T + p] > 0) occupied++;
    }
    if (n === 0) continue;
    const width = Math.ceil(n / occupied);
    const slotStart = new Int32Array(T + 1);
    for (let p = 0; p < T; p++) {
      firstSlot[l * T + p] = slotStart[p];
      slotStart[p + 1] = slotStart[p] + Math.ceil(count[l * T + p] / width);
    }
    const S = slotStart[T];
    const slotPos = new BigInt64Array(S);
    for (let p = 0; p < T; p++) for (let s = slotStart[p]; s < slotStart[p + 1]; s++) slotPos[s] = BigInt(p);
    const nOut = decoderOutputs(dict, l);
    const featStart = new Int32Array(T + 1);
    for (let p = 0; p < T; p++) featStart[p + 1] = featStart[p] + count[l * T + p];
    blocks.push({
      layer: l,
      nOut,
      width,
      data: new Float32Array(S * nOut * d * width),
      slotPos,
      slotStart,
      first: 0,
      columns: new BigInt64Array(n),
      featStart,
    });
  }
  const byLayer = new Map(blocks.map((b) => [b.layer, b]));
  // Each active feature's slot within its layer's block, and its column in that slot.
  const slot = new Int32Array(nActive);
  const col = new Int32Array(nActive);
  for (let i = 0; i < nActive; i++) {
    const w = (byLayer.get(act.layer[i]) as DecoderSlots).width;
    slot[i] = firstSlot[act.layer[i] * T + act.pos[i]] + Math.floor(rank[i] / w);
    col[i] = rank[i] % w;
  }
  for (const b of blocks) {
    b.first = act.layer.indexOf(b.layer);
    for (let j = 0; j < b.columns.length; j++)
      b.columns[j] = BigInt(slot[b.first + j] * b.width + col[b.first + j]);
  }
  const vecs = ctx.components.decoderVecs.data;
  const map = ctx.components.encoderToDecoderMap;
  const loc = ctx.components.decoderLocations;
  const nDec = map.length;
  for (let j = 0; j < nDec; j++) {
    const i = map[j];
    const b = byLayer.get(act.layer[i]) as DecoderSlots;
    const o = loc[j] - act.layer[i];
    if (loc[nDec + j] !== act.pos[i])
      throw new Error(`decoder vector ${j} sits at position ${loc[nDec + j]}, its feature at ${act.pos[i]}`);
    const w = b.width;
    const base = slot[i] * b.nOut * d * w + o * d * w + col[i];
    for (let k = 0; k < d; k++) b.data[base + k * w] = vecs[j * d + k];
  }
  return blocks;
}
