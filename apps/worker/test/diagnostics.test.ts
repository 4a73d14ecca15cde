import { describe, expect, it } from 'vitest';
import { diagnosticsParams } from '@loupe/api/jobs';
import { RunTimes, runDiagnostics } from '../src/handlers/diagnostics.ts';
import { jobContext } from './helpers.ts';

describe('diagnostics handler', () => {
  it('times an ORT MatMul whose output matches plain-JS dot products', async () => {
    const { ctx, percents } = jobContext();
    const r = await runDiagnostics(diagnosticsParams.parse({ durationMs: 300, size: 64 }), ctx);
    expect(r.matmul.size).toBe(64);
    expect(r.matmul.runs).toBeGreaterThan(1);
    expect(r.matmul.maxAbsError).toBeLessThan(1e-4);
    expect(r.matmul.bestMs).toBeLessThanOrEqual(r.matmul.medianMs);
    expect(r.matmul.medianGflops).toBeCloseTo((2 * 64 ** 3) / (r.matmul.medianMs * 1e6), 6);
    expect(r.versions.onnxruntime).toBe('1.30.0');
    expect(r.host.cpus).toBeGreaterThan(0);
    expect(percents.at(-1)).toBe(100);
    expect(percents.every((p, i) => i === 0 || p >= percents[i - 1])).toBe(true);
  });

  it('stops as soon as its signal aborts', async () => {
    const ac = new AbortController();
    const run = runDiagnostics(
      diagnosticsParams.parse({ durationMs: 60_000, size: 64 }),
      jobContext(ac.signal).ctx,
    );
    setTimeout(() => ac.abort(new Error('cancelled by test')), 200);
    const t0 = Date.now();
    await expect(run).rejects.toThrow('cancelled by test');
    expect(Date.now() - t0).toBeLessThan(2_000);
  });

  it('rejects absurd sizes and unknown params', () => {
    expect(() => diagnosticsParams.parse({ size: 100_000 })).toThrow();
    expect(() => diagnosticsParams.parse({ durationMs: -1 })).toThrow();
    expect(() => diagnosticsParams.parse({ sizes: 4 })).toThrow();
    expect(diagnosticsParams.parse({})).toEqual({ durationMs: 2_000, size: 512, intraOpNumThreads: 1 });
  });

  it('keeps bounded run statistics however many runs there are', () => {
    // 300 000 sub-millisecond runs is what a few seconds of 64×64 products produce; a plain array spread into
    // Math.min overflowed the stack here.
    const t = new RunTimes(1_000);
    for (let i = 0; i < 300_000; i++) t.add(1 + (i % 7));
    t.add(0.5);
    expect(t.count).toBe(300_001);
    expect(t.best).toBe(0.5);
    expect(t.median()).toBe(4);
    const small = new RunTimes(8);
    for (const x of [5, 1, 3]) small.add(x);
    expect(small.median()).toBe(3);
    small.add(4);
    expect(small.median()).toBe(3.5);
  });
});
