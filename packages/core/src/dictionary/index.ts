export * from './feature-index.ts';
export * from './features.ts';
export {
  type CircuitTracerConfig,
  circuitTracerConfigSchema,
  type ReadOptions,
  readCircuitTracer,
} from './formats/circuit-tracer.ts';
export { type WriteOptions, writeCircuitTracer } from './formats/circuit-tracer-write.ts';
export {
  type GemmaScopeOptions,
  gemmaScopeHookFromPath,
  gemmaScopeLayer,
  readGemmaScopeSae,
} from './formats/gemmascope.ts';
export { readSaeLens, type SaeLensConfig, saeLensConfigSchema, writeSaeLens } from './formats/saelens.ts';
export * from './load.ts';
export * from './subject.ts';
export * from './reference.ts';
export * from './types.ts';
export * from './onnx.ts';
export * from './train.ts';
export * from './metrics.ts';
export * from './index-runner.ts';
export * from './pipeline.ts';
