/** Rotary position embedding frequencies, shared by the compiled model and the float64 reference forward. */
import type { ModelConfig } from './config.ts';

/**
 * Rotary inverse frequencies [dim/2], with Llama-3 or linear rope scaling as HF computes them, in the precision
 * of `Arr`: every step is stored in it, so float32 rounds as the compiled model does and float64 stays exact.
 */
export function rotaryInvFreq<A extends Float32Array | Float64Array>(
  config: ModelConfig,
  Arr: new (n: number) => A,
): A {
  const rope = config.rope;
  if (!rope) throw new Error('ropeInvFreq: config has no rope settings');
  const dim = rope.dim ?? config.dHead;
  const inv = new Arr(dim / 2);
  for (let i = 0; i < dim / 2; i++) inv[i] = 1 / rope.theta ** ((2 * i) / dim);
  const s = rope.scaling;
  if (s?.type === 'linear') for (let i = 0; i < inv.length; i++) inv[i] /= s.factor;
  if (s?.type === 'llama3') {
    const lowWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
    const highWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
    for (let i = 0; i < inv.length; i++) {
      const f = inv[i];
      const wavelen = (2 * Math.PI) / f;
      if (wavelen > lowWavelen) inv[i] = f / s.factor;
      else if (wavelen >= highWavelen) {
        const smooth =
          (s.originalMaxPositionEmbeddings / wavelen - s.lowFreqFactor) /
          (s.highFreqFactor - s.lowFreqFactor);
        inv[i] = (1 - smooth) * (f / s.factor) + smooth * f;
      }
    }
  }
  return inv;
}
