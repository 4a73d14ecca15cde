export { nodeFiles } from './files.ts';
export {
  type NodeExecutionProvider,
  nodeExecutionProviders,
  nodeOrt,
  nodeRuntime,
  parseExecutionProviders,
  probeExecutionProviders,
} from './runtime.ts';
export { type OpenModelAndDictionary, openModelAndDictionary, withModelAndDictionary } from './subject.ts';
