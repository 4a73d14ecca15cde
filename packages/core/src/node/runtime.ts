import * as ort from 'onnxruntime-node';
import { type OrtModule, Runtime, type RuntimeOptions } from '../tensor/runtime.ts';

/** The onnxruntime-node module, typed as the core expects it. */
export const nodeOrt: OrtModule = ort as unknown as OrtModule;

/**
 * Providers onnxruntime-node can be built with on Linux, Windows and macOS. The npm package ships only the CPU
 * one; 'cuda' and 'tensorrt' need the provider libraries installed beside it.
 */
export const nodeExecutionProviders = ['cpu', 'cuda', 'tensorrt', 'dml', 'coreml'] as const;
export type NodeExecutionProvider = (typeof nodeExecutionProviders)[number];

/**
 * Reads an execution-provider list such as "cuda,cpu" (the worker's LOUPE_EXECUTION_PROVIDERS). Empty or
 * absent means the CPU provider. An unknown name is an error, not a silent fallback to CPU.
 */
export function parseExecutionProviders(text: string | undefined): NodeExecutionProvider[] {
  const names = (text ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '');
  if (names.length === 0) return ['cpu'];
  const known = new Set<string>(nodeExecutionProviders);
  const unknown = names.filter((n) => !known.has(n));
  if (unknown.length > 0) {
    throw new Error(
      `unknown execution provider(s) ${unknown.join(', ')}; known: ${nodeExecutionProviders.join(', ')}`,
    );
  }
  if (new Set(names).size !== names.length) throw new Error(`execution provider listed twice in '${text}'`);
  return names as NodeExecutionProvider[];
}

/** A Runtime backed by onnxruntime-node: its CPU execution provider unless `executionProviders` says otherwise. */
export function nodeRuntime(options: RuntimeOptions = {}): Runtime {
  return new Runtime(nodeOrt, options);
}

/**
 * Compiles and runs a one-node graph on each provider of `providers` alone, so that a worker configured for a
 * GPU stops at start-up with onnxruntime's own reason when the provider cannot load, instead of running every
 * job on the CPU without saying so.
 */
export async function probeExecutionProviders(providers: readonly NodeExecutionProvider[]): Promise<void> {
  const { GraphBuilder } = await import('../tensor/graph.ts');
  for (const provider of providers) {
    const g = new GraphBuilder();
    const x = g.input('x', 'float32', [2]);
    const model = g.compile({ y: g.add(x, x) });
    const runtime = nodeRuntime({ executionProviders: [provider] });
    try {
      const graph = await runtime.load(model);
      const out = await graph.run({ x: { dtype: 'float32', shape: [2], data: new Float32Array([1, 2]) } });
      const y = out.y?.data as Float32Array;
      if (y[0] !== 2 || y[1] !== 4) throw new Error(`computed ${Array.from(y).join(', ')} instead of 2, 4`);
    } catch (e) {
      throw new Error(
        `execution provider '${provider}' is not usable: ${e instanceof Error ? e.message : e}`,
      );
    } finally {
      await runtime.release();
    }
  }
}
