/**
 * Plain-TypeScript dictionary math: the test oracle for the ONNX graphs, for small sizes only.
 * Semantics follow circuit-tracer's SingleLayerTranscoder / CrossLayerTranscoder and SAELens.
 */
import { f32, type F32 } from '../tensor/host.ts';
import { type ActivationSpec, type Dictionary, decoderOutputs, type SparseActivations } from './types.ts';

/** Applies the activation to `pre` rows of width dTc; returns a new array. */
export function applyActivation(
  pre: Float32Array, // [rows, dTc]
  dTc: number,
  spec: ActivationSpec,
  threshold?: Float32Array, // [dTc], JumpReLU
): Float32Array {
  const out = new Float32Array(pre.length);
  if (spec.kind === 'relu') {
    for (let i = 0; i < pre.length; i++) out[i] = Math.max(pre[i], 0);
    return out;
  }
  if (spec.kind === 'jumprelu') {
    if (!threshold || threshold.length !== dTc)
      throw new Error(`JumpReLU needs a threshold of length ${dTc}`);
    for (let i = 0; i < pre.length; i++) {
      const x = pre[i];
      out[i] = x > threshold[i % dTc] && (!spec.rectify || x > 0) ? x : 0;
    }
    return out;
  }
  const k = Math.min(spec.k, dTc);
  const idx = Array.from({ length: dTc }, (_, i) => i);
  for (let r = 0; r * dTc < pre.length; r++) {
    const row = pre.subarray(r * dTc, (r + 1) * dTc);
    // Stable sort: among equal values the lower index wins, a deterministic stand-in for torch.topk.
    idx.sort((a, b) => row[b] - row[a] || a - b);
    for (let j = 0; j < k; j++) {
      const x = row[idx[j]];
      out[r * dTc + idx[j]] = spec.rectify && x < 0 ? 0 : x;
    }
    for (let i = 0; i < dTc; i++) idx[i] = i;
  }
  return out;
}

/** x @ Wᵀ (+ b): x [T, dIn], w [dOut, dIn], b [dOut] → [T, dOut]. */
function linearT(x: Float32Array, t: number, w: F32, b?: Float32Array): Float32Array {
  const [dOut, dIn] = w.shape;
  const out = new Float32Array(t * dOut);
  for (let i = 0; i < t; i++) {
    for (let o = 0; o < dOut; o++) {
      let s = b ? b[o] : 0;
      for (let j = 0; j < dIn; j++) s += x[i * dIn + j] * w.data[o * dIn + j];
      out[i * dOut + o] = s;
    }
  }
  return out;
}

function checkInput(dict: Dictionary, x: F32, what: string): number {
  if (x.shape.length !== 2 || x.shape[1] !== dict.dModel) {
    throw new Error(`${what}: expected input [T, ${dict.dModel}], got [${x.shape.join(', ')}]`);
  }
  return x.shape[0];
}

/** Pre-activations and activations of the encoder at dictionary layer `layerIndex`. x: [T, dModel]. */
export function referenceEncode(dict: Dictionary, layerIndex: number, x: F32): { pre: F32; acts: F32 } {
  const t = checkInput(dict, x, 'referenceEncode');
  const layer = dict.layers[layerIndex];
  let input = x.data;
  if (dict.applyBDecToInput) {
    input = new Float32Array(x.data);
    for (let i = 0; i < input.length; i++) input[i] -= layer.bDec.data[i % dict.dModel];
  }
  const pre = linearT(input, t, layer.wEnc, layer.bEnc.data);
  const acts = applyActivation(pre, dict.dTc, dict.activation, layer.threshold?.data);
  return { pre: f32([t, dict.dTc], pre), acts: f32([t, dict.dTc], acts) };
}

/** x @ wSkipᵀ for the output at dictionary layer `layerIndex`, or undefined without a skip. */
export function referenceSkip(dict: Dictionary, layerIndex: number, x: F32): F32 | undefined {
  const t = checkInput(dict, x, 'referenceSkip');
  const w = dict.layers[layerIndex].wSkip;
  return w ? f32([t, dict.dModel], linearT(x.data, t, w)) : undefined;
}

async function fullDecoder(dict: Dictionary, layerIndex: number): Promise<F32> {
  const all = Array.from({ length: dict.dTc }, (_, i) => i);
  return dict.decoder.rows(layerIndex, all);
}

/**
 * Reconstructions at every output layer from per-layer activations:
 * acts [L][T, dTc], inputs [L][T, dModel] (for skips) → [L][T, dModel].
 */
export async function referenceDecode(
  dict: Dictionary,
  acts: readonly F32[],
  inputs?: readonly F32[],
): Promise<F32[]> {
  const nL = dict.layers.length;
  if (acts.length !== nL)
    throw new Error(`referenceDecode: expected ${nL} activation tensors, got ${acts.length}`);
  const t = acts[0]?.shape[0] ?? 0;
  const d = dict.dModel;
  const out = dict.layers.map((l) => {
    const y = new Float32Array(t * d);
    for (let i = 0; i < y.length; i++) y[i] = l.bDec.data[i % d];
    return y;
  });
  for (let l = 0; l < nL; l++) {
    const wDec = await fullDecoder(dict, l); // [dTc, nOut, dModel] (nOut = 1 for PLT/SAE)
    const nOut = decoderOutputs(dict, l);
    const a = acts[l].data;
    for (let p = 0; p < t; p++) {
      for (let f = 0; f < dict.dTc; f++) {
        const v = a[p * dict.dTc + f];
        if (v === 0) continue;
        for (let o = 0; o < nOut; o++) {
          const y = out[l + o];
          const base = (f * nOut + o) * d;
          for (let j = 0; j < d; j++) y[p * d + j] += v * wDec.data[base + j];
        }
      }
    }
  }
  if (inputs) {
    for (let k = 0; k < nL; k++) {
      const skip = referenceSkip(dict, k, inputs[k]);
      if (skip) for (let i = 0; i < skip.data.length; i++) out[k][i] += skip.data[i];
    }
  }
  return out.map((y) => f32([t, d], y));
}

/** Half-open range of positions whose activations and errors are zeroed (BOS: [0, 1)). */
export interface ZeroPositions {
  start: number;
  end: number;
}

export interface AttributionComponents {
  activations: SparseActivations;
  reconstruction: F32; // [L, T, dModel] = Σ a·W_dec + b_dec + skip(x)
  encoderVecs: F32; // [nActive, dModel], unscaled W_enc rows of active features
  decoderVecs: F32; // [nDecoders, dModel], a·W_dec rows (CLT: feature-major, then output layer)
  encoderToDecoderMap: Int32Array; // [nDecoders] → index of the active feature
  decoderLocations: Int32Array; // [2, nDecoders]: row 0 output layer, row 1 position
}

/**
 * circuit-tracer's `compute_attribution_components`: inputs [L, T, dModel] are the activations at the input
 * hook of every dictionary layer. Activations at zero positions are set to 0 before anything is derived.
 */
export async function referenceAttributionComponents(
  dict: Dictionary,
  inputs: F32,
  zeroPositions: ZeroPositions = { start: 0, end: 1 },
): Promise<AttributionComponents> {
  const nL = dict.layers.length;
  const d = dict.dModel;
  if (inputs.shape.length !== 3 || inputs.shape[0] !== nL || inputs.shape[2] !== d) {
    throw new Error(
      `attribution components: expected inputs [${nL}, T, ${d}], got [${inputs.shape.join(', ')}]`,
    );
  }
  const t = inputs.shape[1];
  const layerInputs = Array.from({ length: nL }, (_, l) =>
    f32([t, d], inputs.data.subarray(l * t * d, (l + 1) * t * d)),
  );
  const sLayer: number[] = [];
  const sPos: number[] = [];
  const sFeat: number[] = [];
  const sVal: number[] = [];
  const enc: number[] = [];
  const dec: number[] = [];
  const map: number[] = [];
  const locLayer: number[] = [];
  const locPos: number[] = [];
  const recon = new Float32Array(nL * t * d);
  for (let k = 0; k < nL; k++) {
    for (let i = 0; i < t * d; i++) recon[k * t * d + i] = dict.layers[k].bDec.data[i % d];
  }
  for (let l = 0; l < nL; l++) {
    const { acts } = referenceEncode(dict, l, layerInputs[l]);
    for (let p = Math.max(0, zeroPositions.start); p < Math.min(t, zeroPositions.end); p++) {
      acts.data.fill(0, p * dict.dTc, (p + 1) * dict.dTc);
    }
    const active: number[] = [];
    for (let i = 0; i < acts.data.length; i++) if (acts.data[i] !== 0) active.push(i);
    const rows = await dict.decoder.rows(
      l,
      active.map((i) => i % dict.dTc),
    );
    const nOut = decoderOutputs(dict, l);
    const wEnc = dict.layers[l].wEnc.data;
    active.forEach((i, n) => {
      const p = Math.floor(i / dict.dTc);
      const f = i % dict.dTc;
      const a = acts.data[i];
      const src = sVal.length;
      sLayer.push(l);
      sPos.push(p);
      sFeat.push(f);
      sVal.push(a);
      for (let j = 0; j < d; j++) enc.push(wEnc[f * d + j]);
      for (let o = 0; o < nOut; o++) {
        const base = (n * nOut + o) * d;
        for (let j = 0; j < d; j++) {
          const v = a * rows.data[base + j];
          dec.push(v);
          recon[((l + o) * t + p) * d + j] += v;
        }
        map.push(src);
        locLayer.push(l + o);
        locPos.push(p);
      }
    });
  }
  for (let k = 0; k < nL; k++) {
    const skip = referenceSkip(dict, k, layerInputs[k]);
    if (skip) for (let i = 0; i < t * d; i++) recon[k * t * d + i] += skip.data[i];
  }
  return {
    activations: {
      nLayers: nL,
      nPos: t,
      dTc: dict.dTc,
      layer: Int32Array.from(sLayer),
      pos: Int32Array.from(sPos),
      feature: Int32Array.from(sFeat),
      value: Float32Array.from(sVal),
    },
    reconstruction: f32([nL, t, d], recon),
    encoderVecs: f32([sVal.length, d], enc),
    decoderVecs: f32([map.length, d], dec),
    encoderToDecoderMap: Int32Array.from(map),
    decoderLocations: Int32Array.from([...locLayer, ...locPos]),
  };
}
