export { Intervener } from './intervener.ts';
export type {
  AppliedIntervention,
  GenerationReport,
  GenerationResult,
  GenerationStep,
  InterventionGenerateOptions,
  InterventionOptions,
  InterventionReport,
  InterventionResult,
  ModeComparison,
  PositionSummary,
} from './types.ts';
export {
  decoderDirection,
  differenceOfMeans,
  meanDifference,
  type PatchOptions,
  patchInterventions,
  residualSteering,
  residualSteeringHook,
} from './patch.ts';
export * from './spec.ts';
export {
  type LogitDiff,
  type TokenBeforeAfter,
  type TopToken,
  klDivergence,
  largestDiffs,
  topTokens,
  topUnion,
} from './summary.ts';
export {
  type InterventionRequest,
  type InterventionRunReport,
  parseInterventionRequest,
  type RunInterventionOptions,
  runInterventionRequest,
} from './run.ts';
