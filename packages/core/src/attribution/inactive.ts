/**
 * Inactive-but-inhibited features: features that do not fire at a position because the graph's nodes push
 * them down, so that inhibition becomes visible as negative edges into them.
 *
 * Which ones. A feature's pre-activation in the linearised model is the sum of its direct inputs from the
 * nodes (token embeddings, active features, errors) plus the constants (its own b_enc, decoder and other
 * biases). A large negative b_enc alone says only that the feature is usually silent, not that this prompt
 * inhibits it, so the ranking leaves the constants out: per (layer, position) the features not active there
 * with the most negative total direct input from the nodes, W_enc[g]·n(l, p), where n(l, p) is the part of
 * the feature input that the nodes write. n comes from the same linearised backward as every edge (one row
 * per input dimension, summed over sources), and W_enc·n for every feature at once from the dictionary's
 * encoder graph. Each chosen feature's row is then computed like an active feature's: its entries are its
 * incoming edges and they sum, with the constants, to its pre-activation.
 *
 * They are targets only: no row of the graph reads them, so influence, pruning and every target's
 * contributions are those of the graph without them.
 */
import { runDictionary } from '../dictionary/onnx.ts';
import type { Dictionary } from '../dictionary/types.ts';
import type { Model } from '../model/model.ts';
import { f32 } from '../tensor/host.ts';
import type { InjectionSite, Tracer } from './trace.ts';
import { positiveInt } from '../tensor/checks.ts';

export interface InactiveFeatures {
  /** Features chosen per (layer, position). */
  perSite: number;
  features: Int32Array; // [M, 3] (layer, pos, feat), ascending
  /** Clean pre-activation W_enc·x + b_enc (below the threshold: the feature is inactive). */
  preActivations: Float32Array; // [M]
  /** Direct input from each source, in adjacency-row column order: active features, errors, tokens. */
  rows: Float32Array; // [M, nActive + (L + 1)·T]
  /** The constants' total contribution, b_enc included: rows' sum + bias = preActivations. */
  bias: Float32Array; // [M]
}

/** Rows per backward pass while measuring n(l, p): one position's d identity rows at a time, at most this many. */
const MAX_ROWS = 1024;

/** n(l, p) for every layer and position ≥ zeroCount: what the nodes write into the feature input. */
async function nodeInputs(tracer: Tracer, zeroCount: number): Promise<Float32Array> {
  const { nLayers: L, nPos: T, dModel: d, nActive } = tracer.context;
  const rowSize = nActive + (L + 1) * T;
  const n = new Float32Array(L * T * d); // [L, T, d]
  const chunk = Math.max(1, Math.min(d, MAX_ROWS));
  for (let l = 0; l < L; l++) {
    for (let p = zeroCount; p < T; p++) {
      for (let i0 = 0; i0 < d; i0 += chunk) {
        const B = Math.min(chunk, d - i0);
        const eye = new Float32Array(B * d);
        for (let b = 0; b < B; b++) eye[b * d + i0 + b] = 1;
        const sites: InjectionSite[] = Array.from({ length: B }, () => ({
          kind: 'featureInput',
          layer: l,
          pos: p,
        }));
        const rows = await tracer.injectedRows(eye, sites); // [B, rowSize]
        for (let b = 0; b < B; b++) {
          let s = 0;
          for (let c = 0; c < rowSize; c++) s += rows[b * rowSize + c];
          n[(l * T + p) * d + i0 + b] = s;
        }
      }
    }
  }
  return n;
}

/**
 * The `perSite` most inhibited inactive features per (layer, position ≥ zeroCount), with their incoming rows.
 * Only features whose direct input from the nodes is negative qualify.
 */
export async function findInhibitedFeatures(
  model: Model,
  dict: Dictionary,
  tracer: Tracer,
  perSite: number,
  zeroCount: number,
): Promise<InactiveFeatures> {
  positiveInt(perSite, 'inactive features per site');
  const ctx = tracer.context;
  const { nLayers: L, nPos: T, dModel: d, nActive } = ctx;
  const rowSize = nActive + (L + 1) * T;
  const n = await nodeInputs(tracer, zeroCount);
  const fromNodes = (await runDictionary(model.runtime, dict, f32([L, T, d], n), { reconstruction: false }))
    .pre.data; // [L, T, width]: W_enc·n + b_enc
  const clean = (
    await runDictionary(model.runtime, dict, f32([L, T, d], ctx.inputs), { reconstruction: false })
  ).pre.data; // [L, T, width]
  const width = fromNodes.length / (L * T);
  const act = ctx.components.activations;
  const active = new Set<number>();
  for (let i = 0; i < nActive; i++) active.add((act.layer[i] * T + act.pos[i]) * width + act.feature[i]);
  const chosen: number[] = []; // flat (l·T + p)·width + g, ascending
  for (let l = 0; l < L; l++) {
    const bEnc = dict.layers[l].bEnc.data;
    for (let p = zeroCount; p < T; p++) {
      const base = (l * T + p) * width;
      const cands: number[] = [];
      for (let g = 0; g < width; g++) {
        if (!active.has(base + g) && fromNodes[base + g] - bEnc[g] < 0) cands.push(g);
      }
      cands.sort((a, b) => fromNodes[base + a] - bEnc[a] - (fromNodes[base + b] - bEnc[b]) || a - b);
      chosen.push(
        ...cands
          .slice(0, perSite)
          .sort((a, b) => a - b)
          .map((g) => base + g),
      );
    }
  }
  const M = chosen.length;
  const features = new Int32Array(M * 3);
  const preActivations = new Float32Array(M);
  const rows = new Float32Array(M * rowSize);
  const bias = new Float32Array(M);
  for (let m0 = 0; m0 < M; m0 += MAX_ROWS) {
    const part = chosen.slice(m0, m0 + MAX_ROWS);
    const vectors = new Float32Array(part.length * d);
    const sites: InjectionSite[] = part.map((flat, b) => {
      const g = flat % width;
      const lp = Math.floor(flat / width);
      const l = Math.floor(lp / T);
      vectors.set(dict.layers[l].wEnc.data.subarray(g * d, (g + 1) * d), b * d);
      return { kind: 'featureInput', layer: l, pos: lp % T };
    });
    const out = await tracer.injectedRowsWithBias(vectors, sites);
    const nBias = out.bias.length / part.length;
    part.forEach((flat, b) => {
      const m = m0 + b;
      const g = flat % width;
      const l = Math.floor(flat / width / T);
      features.set([l, Math.floor(flat / width) % T, g], 3 * m);
      preActivations[m] = clean[flat];
      rows.set(out.rows.subarray(b * rowSize, (b + 1) * rowSize), m * rowSize);
      let c = dict.layers[l].bEnc.data[g];
      for (let s = 0; s < nBias; s++) c += out.bias[b * nBias + s];
      bias[m] = c;
    });
  }
  return { perSite, features, preActivations, rows, bias };
}
