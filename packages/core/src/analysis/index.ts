export * from './activations.ts';
export * from './contrast.ts';
export * from './overlap.ts';
export * from './rank.ts';
export * from './explain.ts';
export * from './search.ts';
