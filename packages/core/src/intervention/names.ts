/**
 * Feed and fetch names of the intervention graphs, built here from typed keys and never parsed back. The
 * clean run records each value a mode freezes under `fetchName.state(key)`; the intervened run takes it in
 * as `feedName.freeze(key)`.
 */
import type { HookName } from '../model/hooks.ts';
import { type FrozenSite, frozenSiteHook } from '../model/replacement.ts';

/**
 * A clean-run value that a mode freezes: a site of the replacement model, or the transcoder input of a model
 * layer, from which a frozen MLP output's skip term is recomputed on the live input.
 */
export type FrozenValue = FrozenSite | { kind: 'skipInput'; layer: number };

/** A distinct string per value, for names and map keys. */
export function frozenId(v: FrozenValue): string {
  if (v.kind === 'skipInput') return `skipin:${v.layer}`;
  if (v.kind === 'postNormScale') return `blocks.${v.layer}.${v.norm}.scale`;
  if (v.kind === 'mlpOut') return `mlp:${v.layer}`;
  const hook = frozenSiteHook(v);
  if (!hook) throw new Error(`frozen site '${v.kind}' has no hook`);
  return hook;
}

type KV = 'k' | 'v';

export const feedName = {
  tokens: 'tokens',
  past: (kv: KV, layer: number) => `past:${kv}:${layer}`,
  freeze: (v: FrozenValue) => `freeze:${frozenId(v)}`,
  /** Dense steering added at a hook, [1, T, dModel]. */
  add: (h: HookName) => `add:${h}`,
  /** Per dictionary layer index i: decoder rows of the intervened features [N, nOut·dModel]. */
  decoder: (i: number) => `dec:${i}`,
  /** Constrained mode: Δ from the clean activations, [1, T, N]. */
  delta: (i: number) => `delta:${i}`,
  /** Other modes: the intervened feature ids [N], where they are set [1, T, N] and to what [1, T, N]. */
  features: (i: number) => `feat:${i}`,
  mask: (i: number) => `mask:${i}`,
  value: (i: number) => `value:${i}`,
  /** The per-layer encoder graph's input [1, T, dModel]. */
  encoderInput: 'x',
} as const;

export const fetchName = {
  logits: 'logits',
  hook: (h: HookName) => `hook:${h}`,
  present: (kv: KV, layer: number) => `present:${kv}:${layer}`,
  /** Live activations of the intervened features at dictionary layer index i, [1, T, N]. */
  acts: (i: number) => `acts:${i}`,
  /** The clean run's record of a frozen value. */
  state: (v: FrozenValue) => `state:${frozenId(v)}`,
  /** The clean run's input of dictionary layer index i, [1, T, dModel]. */
  dictionaryInput: (i: number) => `state:in:${i}`,
  /** The per-layer encoder graph's activations [1, T, dTc]. */
  encoderActs: 'acts',
} as const;
