import * as ort from 'onnxruntime-node';
import { Runtime, type OrtModule, type RuntimeOptions } from '../tensor/runtime.ts';

/** The onnxruntime-node module, typed as the core expects it. */
export const nodeOrt: OrtModule = ort as unknown as OrtModule;

/** A Runtime backed by onnxruntime-node's native CPU execution provider. */
export function nodeRuntime(options: RuntimeOptions = {}): Runtime {
  return new Runtime(nodeOrt, options);
}
