export * from './explore.ts';
export * from './graph.ts';
export * from './influence.ts';
export * from './json.ts';
export * from './prune.ts';
export * from './raw.ts';
export * from './scores.ts';
export * from './targets.ts';
