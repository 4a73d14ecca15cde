export {
  type AppliedIntervention,
  type GenerationReport,
  type GenerationResult,
  type GenerationStep,
  type InterventionGenerateOptions,
  type InterventionOptions,
  type InterventionReport,
  type InterventionResult,
  Intervener,
  type ModeComparison,
  type PositionSummary,
} from './intervener.ts';
export { decoderDirection, differenceOfMeans, type PatchOptions, patchInterventions } from './patch.ts';
export * from './spec.ts';
export { type LogitDiff, type TopToken, klDivergence, largestDiffs, topTokens } from './summary.ts';
export {
  type InterventionRequest,
  type InterventionRunReport,
  parseInterventionRequest,
  type RunInterventionOptions,
  runInterventionRequest,
} from './run.ts';
