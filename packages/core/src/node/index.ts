export { nodeOrt, nodeRuntime } from './runtime.ts';
export { nodeFiles } from './files.ts';
