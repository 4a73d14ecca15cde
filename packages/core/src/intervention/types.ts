/** The options and results of feature interventions and intervened generation (intervener.ts). */
import type { HookName } from '../model/hooks.ts';
import type { F32 } from '../tensor/host.ts';
import type { InterventionMode } from './spec.ts';
import type { LogitDiff, TokenBeforeAfter, TopToken } from './summary.ts';

export interface InterventionOptions {
  mode: InterventionMode;
  /** Tokens per position in the summaries (default 5). */
  topK?: number;
  /** Extra hooks whose intervened values to return. */
  hooks?: readonly HookName[];
  signal?: AbortSignal;
}

/** One resolved (layer, pos, feature) intervention and what it did. */
export interface AppliedIntervention {
  layer: number;
  pos: number;
  feature: number;
  value: number;
  /** Activation on the clean run. */
  clean: number;
  /** The activation Δ was taken from: clean (constrained) or recomputed on the perturbed residual. */
  current: number;
  delta: number;
}

export interface PositionSummary {
  pos: number;
  token: number;
  clean: TopToken[];
  intervened: TopToken[];
  /** Tokens whose logit moved most. */
  diffs: LogitDiff[];
  /** The union of both top-k lists, each token with its clean and intervened logit and probability. */
  union: TokenBeforeAfter[];
  /** KL(clean ‖ intervened) of the next-token distributions. */
  kl: number;
}

/** The JSON-serialisable part of an intervention result. */
export interface InterventionReport {
  mode: InterventionMode;
  tokens: number[];
  applied: AppliedIntervention[];
  positions: PositionSummary[];
}

export interface InterventionResult {
  report: InterventionReport;
  logits: F32; // [T, V]
  cleanLogits: F32; // [T, V]
  hooks: Record<string, F32>; // requested hooks, [T, ...] (hooks.ts shapes)
}

export interface ModeComparison {
  tokens: number[];
  runs: InterventionResult[];
  /** For each pair of modes, per position: do the top tokens agree, and KL between their distributions. */
  pairs: {
    a: InterventionMode;
    b: InterventionMode;
    positions: { pos: number; sameTop: boolean; kl: number }[];
  }[];
}

export interface InterventionGenerateOptions extends InterventionOptions {
  maxNewTokens: number;
  /** 0 (default): greedy. */
  temperature?: number;
  seed?: number;
  stopTokens?: readonly number[];
}

export interface GenerationStep {
  token: number;
  text?: string;
  top: TopToken[];
  /** Against the clean model on the same prefix. */
  diffs: LogitDiff[];
}

export interface GenerationReport {
  mode: InterventionMode;
  prompt: number[];
  /** The clean model's own continuation. */
  clean: { tokens: number[]; text?: string; steps: { token: number; top: TopToken[] }[] };
  intervened: { tokens: number[]; text?: string; steps: GenerationStep[] };
}

export interface GenerationResult {
  report: GenerationReport;
  logits: F32; // [n, V]: each generated token's distribution
  cleanLogits: F32; // [n, V]: the clean model on the same prefixes
}
