import os from 'node:os';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import type { DiagnosticsParams } from '@loupe/api/jobs';
import { contractHandler, type JobContext } from '../registry.ts';

// onnx-proto is CommonJS without static named exports, so Node's ESM loader only exposes its default.
const { onnx } = onnxProto;

export interface DiagnosticsResult {
  workerId: string;
  versions: { node: string; onnxruntime: string };
  host: { platform: string; arch: string; cpus: number; cpuModel: string; totalMemBytes: number };
  matmul: {
    size: number;
    intraOpNumThreads: number;
    runs: number;
    /** Over the last 10 000 runs. */
    medianMs: number;
    bestMs: number;
    medianGflops: number;
    bestGflops: number;
    /** Largest |ORT − plain-JS dot product| over the sampled output entries. */
    maxAbsError: number;
  };
}

/** A graph holding one MatMul: C [n, n] = A [n, n] @ B [n, n]. */
export function matmulModel(n: number): Uint8Array {
  const f32 = onnx.TensorProto.DataType.FLOAT;
  const square = (name: string) =>
    onnx.ValueInfoProto.create({
      name,
      type: { tensorType: { elemType: f32, shape: { dim: [{ dimValue: n }, { dimValue: n }] } } },
    });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'loupe-worker-diagnostics',
    opsetImport: [{ domain: '', version: 17 }],
    graph: onnx.GraphProto.create({
      name: 'matmul',
      node: [onnx.NodeProto.create({ opType: 'MatMul', input: ['A', 'B'], output: ['C'] })],
      input: [square('A'), square('B')],
      output: [square('C')],
    }),
  });
  return onnx.ModelProto.encode(model).finish();
}

/** Deterministic values in [-1, 1) so every worker times the same product. */
function filled(len: number, seed: number): Float32Array {
  const out = new Float32Array(len);
  let s = seed >>> 0;
  for (let i = 0; i < len; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/** Oracle for a few entries of C: plain JS dot products of rows of a with columns of b (both [n, n]). */
function maxAbsErrorAt(
  a: Float32Array,
  b: Float32Array,
  c: Float32Array,
  n: number,
  samples: number,
): number {
  let worst = 0;
  for (let k = 0; k < samples; k++) {
    const i = (k * 7919) % n;
    const j = (k * 104729 + 13) % n;
    let dot = 0;
    for (let t = 0; t < n; t++) dot += a[i * n + t] * b[t * n + j];
    worst = Math.max(worst, Math.abs(dot - c[i * n + j]));
  }
  return worst;
}

/**
 * Run times (ms) of the most recent `capacity` runs, plus the count and best of all of them: a long run of tiny
 * MatMuls would otherwise keep millions of samples.
 */
export class RunTimes {
  private readonly recent: Float64Array;
  count = 0;
  best = Number.POSITIVE_INFINITY;

  constructor(capacity = 10_000) {
    this.recent = new Float64Array(capacity);
  }

  add(ms: number): void {
    this.recent[this.count % this.recent.length] = ms;
    this.count++;
    if (ms < this.best) this.best = ms;
  }

  /** Median of the retained runs. */
  median(): number {
    const s = this.recent.slice(0, Math.min(this.count, this.recent.length)).sort();
    if (s.length === 0) return Number.NaN;
    const mid = s.length >> 1;
    return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  }
}

function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason ?? 'aborted'));
}

export async function runDiagnostics(p: DiagnosticsParams, ctx: JobContext): Promise<DiagnosticsResult> {
  const n = p.size;
  ctx.log(
    `MatMul ${n}x${n}x${n} float32 on onnxruntime-node ${ort.env.versions.common}, ${p.intraOpNumThreads} thread(s)`,
  );
  const session = await ort.InferenceSession.create(matmulModel(n), {
    intraOpNumThreads: p.intraOpNumThreads,
    graphOptimizationLevel: 'all',
  });
  try {
    const a = filled(n * n, 1);
    const b = filled(n * n, 2);
    const feeds = { A: new ort.Tensor('float32', a, [n, n]), B: new ort.Tensor('float32', b, [n, n]) };
    // The first run allocates and picks kernels; it is checked for correctness but not timed.
    const first = await session.run(feeds);
    const maxAbsError = maxAbsErrorAt(a, b, first.C.data as Float32Array, n, 16);
    first.C.dispose();

    const times = new RunTimes();
    const start = performance.now();
    let lastReport = start;
    // At least one timed run, even with durationMs 0, so the result always has a measurement.
    do {
      if (ctx.signal.aborted) throw abortError(ctx.signal);
      const t0 = performance.now();
      const out = await session.run(feeds);
      times.add(performance.now() - t0);
      out.C.dispose();
      const now = performance.now();
      if (now - lastReport >= 200) {
        lastReport = now;
        const pct = p.durationMs === 0 ? 100 : Math.min(99, (100 * (now - start)) / p.durationMs);
        ctx.progress(pct, `${times.count} runs, median ${times.median().toFixed(2)} ms`);
      }
      // Yield to the event loop so heartbeats (and cancellation) get through between runs.
      await new Promise<void>((r) => setImmediate(r));
    } while (performance.now() - start < p.durationMs);

    const flop = 2 * n ** 3;
    const medianMs = times.median();
    const bestMs = times.best;
    ctx.progress(100, `${times.count} runs, median ${medianMs.toFixed(2)} ms`);
    return {
      workerId: ctx.workerId,
      versions: { node: process.versions.node, onnxruntime: ort.env.versions.common },
      host: {
        platform: process.platform,
        arch: process.arch,
        cpus: os.availableParallelism(),
        cpuModel: os.cpus()[0]?.model ?? 'unknown',
        totalMemBytes: os.totalmem(),
      },
      matmul: {
        size: n,
        intraOpNumThreads: p.intraOpNumThreads,
        runs: times.count,
        medianMs,
        bestMs,
        medianGflops: flop / (medianMs * 1e6),
        bestGflops: flop / (bestMs * 1e6),
        maxAbsError,
      },
    };
  } finally {
    await session.release();
  }
}

export const diagnosticsHandler = contractHandler('diagnostics', runDiagnostics);
