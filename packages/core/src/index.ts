export const LOUPE_CORE_VERSION = '0.1.0';
export * from './analysis/index.ts';
export * from './attribution/index.ts';
export * from './dictionary/index.ts';
export * from './io/index.ts';
export type { NpzLimits } from './io/npz.ts';
export { type ReferenceOptions, type ReferenceOutput, referenceForward } from './model/reference.ts';
export type * from './model/config.ts';
export * from './model/hooks.ts';
export type * from './model/weights.ts';
export * from './tensor/host.ts';
export { isPositiveInt, positiveInt } from './tensor/checks.ts';
export { Model, type RunOptions, type RunResult } from './model/model.ts';
export { argmax, sampleToken } from './model/sampling.ts';
export { Runtime, type RuntimeOptions } from './tensor/runtime.ts';
export {
  type AttrValue,
  type CompiledModel,
  type DType,
  type Dim,
  type ExternalFile,
  GraphBuilder,
  type GradInfo,
  type Node as GraphNode,
  type Shape,
  Tensor,
} from './tensor/graph.ts';
export {
  CompiledGraph,
  type LoadOptions as RuntimeLoadOptions,
  type OrtModule,
  outputF32,
  outputI64,
} from './tensor/runtime.ts';
export {
  buildTransformer,
  constantWeights,
  flattenWeights,
  type KvPair,
  mapWeights,
  type TransformerGraph,
  type TransformerOptions,
  type WeightTree,
} from './model/transformer.ts';
export * from './model/replacement.ts';
export type {
  AddSpec,
  FreezeSpec,
  GenerateOptions,
  GenerateResult,
  VjpOptions,
  VjpResult,
  VjpSeed,
} from './model/model.ts';
export { type InitOptions, initWeights, seededRandom } from './model/init.ts';
export * from './train/training.ts';
export * from './train/transformer.ts';
export * from './intervention/index.ts';
