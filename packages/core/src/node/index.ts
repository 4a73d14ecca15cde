export { nodeOrt, nodeRuntime } from './runtime.ts';
