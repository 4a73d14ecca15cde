/**
 * browserRuntime's option checks and its set-up of onnxruntime-web, exercised with the real onnxruntime-web
 * module (its Node build runs the same wasm), so no browser is needed.
 */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as ortWeb from 'onnxruntime-web';
import { describe, expect, it } from 'vitest';
import { browserRuntime } from '../src/browser/runtime.ts';
import { GraphBuilder } from '../src/tensor/graph.ts';
import { f32 } from '../src/tensor/host.ts';

const wasmPaths = pathToFileURL(dirname(createRequire(import.meta.url).resolve('onnxruntime-web/wasm'))).href;

function tripleGraph(): Uint8Array {
  const g = new GraphBuilder();
  const x = g.input('x', 'float32', [3]);
  return g.compile({ y: g.mul(x, 3) });
}

describe('browserRuntime', () => {
  it('rejects unusable options with a message naming the option', () => {
    expect(() => browserRuntime(ortWeb, { wasmPaths: '' })).toThrow(/wasmPaths/);
    expect(() => browserRuntime(ortWeb, { wasmPaths, numThreads: 0 })).toThrow(
      /numThreads.*positive integer/,
    );
    expect(() => browserRuntime(ortWeb, { wasmPaths, numThreads: 1.5 })).toThrow(/numThreads/);
    expect(() => browserRuntime(ortWeb, { wasmPaths, initTimeoutMs: -1 })).toThrow(/initTimeoutMs/);
    // Node has no crossOriginIsolated: more than one thread cannot work here.
    expect(() => browserRuntime(ortWeb, { wasmPaths, numThreads: 2 })).toThrow(/cross-origin isolated/);
  });

  it('sets env.wasm (one thread when not isolated, a trailing slash on the prefix)', () => {
    browserRuntime(ortWeb, { wasmPaths, initTimeoutMs: 5_000 });
    expect(ortWeb.env.wasm.wasmPaths).toBe(`${wasmPaths}/`);
    expect(ortWeb.env.wasm.numThreads).toBe(1);
    expect(ortWeb.env.wasm.initTimeout).toBe(5_000);
  });

  it('runs a compiled graph, passing the execution providers to every session', async () => {
    const rt = browserRuntime(ortWeb, { wasmPaths, executionProviders: ['wasm'] });
    const s = await rt.load(tripleGraph());
    const { y } = await s.run({ x: f32([3], [1, -2, 0.5]) });
    expect([...(y.data as Float32Array)]).toEqual([3, -6, 1.5]);
    await rt.release();

    const bad = browserRuntime(ortWeb, { wasmPaths, executionProviders: ['no-such-provider'] });
    await expect(bad.load(tripleGraph())).rejects.toThrow(/no-such-provider/);
  });
});
