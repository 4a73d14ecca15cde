export const LOUPE_CORE_VERSION = '0.1.0';
export * from './attribution/index.ts';
export * from './dictionary/index.ts';
export * from './io/index.ts';
export { activate, type ReferenceOutput, referenceForward, ropeInvFreq } from './model/reference.ts';
