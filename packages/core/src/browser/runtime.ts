/**
 * onnxruntime-web set-up for the core Runtime. The ORT module is passed in (as everywhere in the core) so
 * the page chooses the build: `onnxruntime-web/wasm` (CPU) or `onnxruntime-web/webgpu`.
 */
import type { Env, InferenceSession } from 'onnxruntime-common';
import { type OrtModule, Runtime, type RuntimeOptions } from '../tensor/runtime.ts';
import { positiveInt } from '../tensor/checks.ts';

/** An onnxruntime-web module: the part the Runtime uses plus its global `env`. */
export interface WebOrtModule extends OrtModule {
  env: Env;
}

export interface BrowserRuntimeOptions extends RuntimeOptions {
  /**
   * URL prefix under which onnxruntime-web's `dist/ort-wasm-simd-threaded*.{mjs,wasm}` are served, e.g.
   * '/ort/'. There is no CDN offline, and the worker script must come from the page's origin.
   */
  wasmPaths: string;
  /** wasm threads. Default: 2 on a cross-origin isolated page (threads need SharedArrayBuffer), else 1. */
  numThreads?: number;
  /**
   * Milliseconds before a wasm start-up that never finishes rejects. Without COEP on the worker script,
   * Chromium blocks the thread workers and ORT would otherwise wait forever. Default 30 000; 0 waits forever.
   */
  initTimeoutMs?: number;
  /**
   * Execution providers in order of preference, e.g. ['webgpu', 'wasm'] with `onnxruntime-web/webgpu`;
   * nodes a provider cannot run fall back to the next. Default: ORT's own (wasm).
   */
  executionProviders?: readonly InferenceSession.ExecutionProviderConfig[];
}

const isolated = (): boolean =>
  (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;

/**
 * Configures `ort.env.wasm` and returns a Runtime over onnxruntime-web. ORT reads `env.wasm` once, when its
 * first session starts, so call this before creating any session.
 */
export function browserRuntime(ort: WebOrtModule, options: BrowserRuntimeOptions): Runtime {
  const { wasmPaths, numThreads, initTimeoutMs = 30_000, executionProviders, ...runtimeOptions } = options;
  if (typeof wasmPaths !== 'string' || wasmPaths.length === 0) {
    throw new Error(
      'browserRuntime: wasmPaths must name the URL prefix serving ort-wasm-simd-threaded.{mjs,wasm}',
    );
  }
  const threads = numThreads ?? (isolated() ? 2 : 1);
  positiveInt(threads, 'browserRuntime: numThreads');
  if (threads > 1 && !isolated()) {
    throw new Error(
      `browserRuntime: ${threads} threads need a cross-origin isolated page ` +
        '(Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp)',
    );
  }
  if (!Number.isInteger(initTimeoutMs) || initTimeoutMs < 0) {
    throw new Error(`browserRuntime: initTimeoutMs must be a non-negative integer, got ${initTimeoutMs}`);
  }
  const prefix = wasmPaths.endsWith('/') ? wasmPaths : `${wasmPaths}/`;
  ort.env.wasm.wasmPaths = prefix;
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.initTimeout = initTimeoutMs;
  const eps = executionProviders ? { executionProviders: [...executionProviders] } : {};
  const create = async (model: Uint8Array, sessionOptions?: InferenceSession.SessionOptions) => {
    try {
      return await ort.InferenceSession.create(model, { ...sessionOptions, ...eps });
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      if (!/initializ\w* failed due to timeout/.test(message)) throw e;
      const hint =
        threads > 1
          ? `${prefix}ort-wasm-simd-threaded*.mjs must be served from the page's origin with ` +
            'Cross-Origin-Embedder-Policy: require-corp, or Chromium blocks its thread workers ' +
            '(or use numThreads: 1)'
          : `loading ${prefix}ort-wasm-simd-threaded*.wasm took too long (raise initTimeoutMs)`;
      const what = `${threads} thread${threads > 1 ? 's' : ''}`;
      throw new Error(`onnxruntime-web did not start within ${initTimeoutMs} ms (${what}): ${hint}`, {
        cause: e,
      });
    }
  };
  return new Runtime({ Tensor: ort.Tensor, InferenceSession: { create } }, runtimeOptions);
}
