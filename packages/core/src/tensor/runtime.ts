/**
 * Runs compiled graphs in onnxruntime. The ORT module is passed in (onnxruntime-node in Node,
 * onnxruntime-web in the browser) so that the core imports neither.
 */
import type { InferenceSession, Tensor as OrtTensor, TensorConstructor } from 'onnxruntime-common';
import type { CompiledModel } from './graph.ts';
import { asF32, type F32, type HostDType, type HostTensor } from './host.ts';

/** The part of an onnxruntime module the core uses; both onnxruntime-node and onnxruntime-web satisfy it. */
export interface OrtModule {
  InferenceSession: {
    create(model: Uint8Array, options?: InferenceSession.SessionOptions): Promise<InferenceSession>;
  };
  Tensor: TensorConstructor;
}

export interface RuntimeOptions {
  /** Intra-op threads; 1 measured fastest on the 2-core machines this project targets. */
  intraOpNumThreads?: number;
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /** How many compiled sessions to keep (least recently used are released). */
  maxSessions?: number;
  /**
   * Bound on the constant bytes held by cached sessions: onnxruntime copies every initializer into each
   * session, so a model with many graph signatures costs its weights once per signature. Default 4 GiB.
   */
  maxSessionBytes?: number;
  /**
   * Let idle intra-op threads spin (default false). Spinning buys little on an idle machine and burns the
   * cores that other processes (and the JS thread) need on a shared one.
   */
  spinning?: boolean;
  /**
   * onnxruntime execution providers in order of preference (e.g. ['cuda', 'cpu']); the runtime's default
   * (its CPU provider in Node, wasm in the browser) when absent.
   */
  executionProviders?: readonly InferenceSession.ExecutionProviderConfig[];
}

const ORT_TYPE: Partial<Record<HostDType, OrtTensor.Type>> = {
  float32: 'float32',
  int32: 'int32',
  int64: 'int64',
  bool: 'bool',
  uint8: 'uint8',
};

/** Per-session choices for `Runtime.load`. */
export interface LoadOptions {
  /**
   * ORT's CPU arena (default true). A session run at many different shapes (symbolic dims) grows the arena to
   * the sum of its fragments and never returns it; without the arena, large buffers go back to the OS.
   */
  cpuMemArena?: boolean;
}

/** One ONNX model loaded into an inference session. */
export class CompiledGraph {
  private active = 0;
  private disposed = false;

  constructor(
    private readonly ort: OrtModule,
    readonly session: InferenceSession,
  ) {}

  /** Releases the session once no run is in flight (an evicted graph may still be running). */
  async dispose(): Promise<void> {
    this.disposed = true;
    if (this.active === 0) await this.session.release();
  }

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  /** Feeds host tensors and returns the requested outputs (all outputs when `fetch` is omitted). */
  async run(
    feeds: Record<string, HostTensor>,
    fetch?: readonly string[],
  ): Promise<Record<string, HostTensor>> {
    const ortFeeds: Record<string, OrtTensor> = {};
    for (const name of this.session.inputNames) {
      const t = feeds[name];
      if (!t) throw new Error(`missing graph input '${name}'`);
      const type = ORT_TYPE[t.dtype];
      if (!type) throw new Error(`input '${name}': dtype ${t.dtype} is not supported`);
      ortFeeds[name] = new this.ort.Tensor(type, t.data as Float32Array, t.shape as number[]);
    }
    const names = fetch ?? this.session.outputNames;
    for (const n of names)
      if (!this.session.outputNames.includes(n)) throw new Error(`graph has no output '${n}'`);
    if (this.disposed) throw new Error('this compiled graph was released');
    this.active++;
    let res: InferenceSession.ReturnType;
    try {
      res = await this.session.run(ortFeeds, names as string[]);
    } finally {
      this.active--;
      if (this.disposed && this.active === 0) await this.session.release();
    }
    const out: Record<string, HostTensor> = {};
    for (const n of names) {
      const v = res[n] as OrtTensor;
      out[n] = { dtype: v.type as HostDType, shape: [...v.dims], data: v.data as Float32Array };
    }
    return out;
  }
}

/** A float32 output of `CompiledGraph.run`, or a clear error when the graph did not return it as float32. */
export function outputF32(out: Readonly<Record<string, HostTensor>>, name: string): F32 {
  const t = out[name];
  if (!t) throw new Error(`graph output '${name}' is missing`);
  return asF32(t, `graph output '${name}'`);
}

/** An int64 output of `CompiledGraph.run` (indices from TopK, ArgMax, NonZero), or a clear error. */
export function outputI64(out: Readonly<Record<string, HostTensor>>, name: string): HostTensor<'int64'> {
  const t = out[name];
  if (!t) throw new Error(`graph output '${name}' is missing`);
  if (t.dtype !== 'int64') throw new Error(`graph output '${name}': expected int64, got ${t.dtype}`);
  return t as HostTensor<'int64'>;
}

/** Creates sessions with consistent options and caches them by a caller-chosen key. */
export class Runtime {
  private readonly cache = new Map<string, { graph: Promise<CompiledGraph>; bytes: number }>();
  private readonly options: Required<RuntimeOptions>;

  constructor(
    readonly ort: OrtModule,
    options: RuntimeOptions = {},
  ) {
    this.options = {
      intraOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      maxSessions: 32,
      maxSessionBytes: 4 * 2 ** 30,
      spinning: false,
      executionProviders: [],
      ...options,
    };
  }

  /** Loads ONNX bytes, or a CompiledModel whose large initializers travel as in-memory external data. */
  async load(model: Uint8Array | CompiledModel, options: LoadOptions = {}): Promise<CompiledGraph> {
    const compiled = model instanceof Uint8Array ? { model, externalData: [] } : model;
    const session = await this.ort.InferenceSession.create(compiled.model, {
      intraOpNumThreads: this.options.intraOpNumThreads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: this.options.graphOptimizationLevel,
      extra: { 'session.intra_op.allow_spinning': this.options.spinning ? '1' : '0' },
      ...(this.options.executionProviders.length > 0
        ? { executionProviders: this.options.executionProviders }
        : {}),
      ...(options.cpuMemArena === false ? { enableCpuMemArena: false } : {}),
      ...(compiled.externalData.length ? { externalData: compiled.externalData } : {}),
    });
    return new CompiledGraph(this.ort, session);
  }

  /** The session for `key`, compiling with `build` (and `options`) only the first time. */
  graph(
    key: string,
    build: () => Uint8Array | CompiledModel,
    options: LoadOptions = {},
  ): Promise<CompiledGraph> {
    const hit = this.cache.get(key);
    if (hit) {
      this.cache.delete(key);
      this.cache.set(key, hit);
      return hit.graph;
    }
    const compiled = build();
    const bytes =
      compiled instanceof Uint8Array
        ? compiled.byteLength
        : compiled.externalData.reduce((n, f) => n + f.data.byteLength, compiled.model.byteLength);
    const graph = this.load(compiled, options);
    graph.catch(() => this.cache.delete(key));
    this.cache.set(key, { graph, bytes });
    let total = 0;
    for (const e of this.cache.values()) total += e.bytes;
    while (
      this.cache.size > 1 &&
      (this.cache.size > this.options.maxSessions || total > this.options.maxSessionBytes)
    ) {
      const [oldKey, old] = this.cache.entries().next().value as [
        string,
        { graph: Promise<CompiledGraph>; bytes: number },
      ];
      this.cache.delete(oldKey);
      total -= old.bytes;
      old.graph.then((s) => s.dispose()).catch(() => undefined);
    }
    return graph;
  }

  async release(): Promise<void> {
    const all = [...this.cache.values()];
    this.cache.clear();
    await Promise.all(all.map((e) => e.graph.then((s) => s.dispose()).catch(() => undefined)));
  }
}
