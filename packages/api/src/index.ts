export { digest, provisionWorkerToken, rotateWorkerToken, sessionCookie } from './auth.ts';
export { channels, EventBus, PgEventBus } from './bus.ts';
export {
  autoIndexBatches,
  autoIndexPriority,
  type CatalogModelEntry,
  catalogFile,
  discoverShippedCatalog,
  enqueueMissingIndexes,
  readCatalogFile,
  syncCatalog,
} from './catalog-sync.ts';
export { checkAuthSettings, type ContextInput, createContext } from './context.ts';
export { type GraphJson, graphJson } from './graph-store.ts';
export { type HttpOptions, handleTrpcRequest, maxBatchCalls, maxBodyBytes } from './http.ts';
export * from './jobs/contract.ts';
export { appRouter, type AppRouter } from './root.ts';
export type { ChangeEvent, FeatureIndexState, IndexStatus, Scope } from './router/catalog.ts';
export { backoffMs, inlineResultBytes, maxLogLines } from './jobs/queue.ts';
export type { Job, JobStatus } from './jobs/public.ts';
export type { Page } from './pagination.ts';
export { type Context, createCallerFactory, type Principal, type Role } from './trpc.ts';
export {
  type ExampleSeed,
  exampleSeed,
  examplesSeedKey,
  featureNodeId,
  readExampleSeed,
  type SeedOutcome,
  seedExamples,
} from './examples.ts';
