export { nodeFiles } from './files.ts';
export {
  type NodeExecutionProvider,
  nodeExecutionProviders,
  nodeOrt,
  nodeRuntime,
  parseExecutionProviders,
  probeExecutionProviders,
} from './runtime.ts';
