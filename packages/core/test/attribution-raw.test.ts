import { describe, expect, it } from 'vitest';
import {
  type AttributionGraph,
  exportRawGraph,
  graphFromRawTensors,
  importRawGraph,
  RAW_LAYOUTS,
  rawGraphChunks,
  rawGraphTensors,
  toCsr,
  toDense,
  validateGraph,
} from '../src/attribution/index.ts';
import { SafetensorsFile, writeSafetensors } from '../src/io/safetensors.ts';
import { bytesSource } from '../src/io/files.ts';
import type { HostTensor } from '../src/tensor/host.ts';

/** F=2 of 3 active features, L=2, T=3, K=2 → N = 2 + 9 + 2 = 13. */
function graph(): AttributionGraph {
  const n = 13;
  const data = new Float32Array(n * n);
  for (let i = 0; i < data.length; i += 7) data[i] = (i % 11) - 5;
  for (let r = 2; r < 11; r++) data.fill(0, r * n, (r + 1) * n); // error and token rows stay empty
  return {
    inputString: '<bos> the cat',
    inputTokens: Int32Array.from([1, 5, 9]),
    logitTargets: [
      { tokenStr: ' sat', vocabIdx: 7 },
      { tokenStr: 'logit(a)-logit(b)', vocabIdx: 20 },
    ],
    logitProbabilities: Float32Array.from([0.4, 1]),
    vocabSize: 20,
    activeFeatures: Int32Array.from([0, 1, 4, 0, 2, 1, 1, 2, 8]),
    activationValues: Float32Array.from([0.25, 1.5, 3]),
    selectedFeatures: Int32Array.from([0, 2]),
    adjacency: { kind: 'dense', n, data },
    model: {
      nLayers: 2,
      dVocab: 20,
      scan: ['tc0', 'tc1'],
      modelName: 'organism-s',
      tokenizerName: 'organism',
    },
  };
}

describe('raw graph export', () => {
  it('writes the documented keys, dtypes and shapes', async () => {
    const file = await SafetensorsFile.open(bytesSource(exportRawGraph(graph())));
    const shapes = Object.fromEntries(
      file.names().map((k) => [k, [file.info(k).dtype, ...file.info(k).shape]]),
    );
    expect(shapes).toEqual({
      adjacency_matrix: ['F32', 13, 13],
      active_features: ['I32', 3, 3],
      activation_values: ['F32', 3],
      selected_features: ['I32', 2],
      logit_targets: ['I32', 2],
      logit_probabilities: ['F32', 2],
      input_tokens: ['I32', 3],
    });
    expect(file.metadata.input_string).toBe('<bos> the cat');
  });

  it('round-trips every field, from dense or sparse storage', async () => {
    const g = graph();
    for (const adjacency of [g.adjacency, toCsr(g.adjacency)]) {
      const back = await importRawGraph(exportRawGraph({ ...g, adjacency }));
      expect(back.adjacency.kind).toBe('dense');
      expect(toDense(back.adjacency).data).toEqual(toDense(g.adjacency).data);
      expect({ ...back, adjacency: null }).toEqual({ ...g, adjacency: null });
    }
  });

  it('streams the dense layout as the bytes the one-piece writer gave, a block of rows at a time', () => {
    const g = graph();
    const { tensors, metadata } = rawGraphTensors(g);
    const whole = writeSafetensors(tensors, metadata);
    for (const adjacency of [g.adjacency, toCsr(g.adjacency)]) {
      expect(exportRawGraph({ ...g, adjacency })).toEqual(whole);
      expect(exportRawGraph({ ...g, adjacency }, { layout: 'dense' })).toEqual(whole);
    }
    // 864 layers over T = 3 give N = 2 + 865·3 + 2 = 2599 nodes: the 27 MB matrix streams in several blocks.
    const L = 864;
    const n = 2 + (L + 1) * 3 + 2;
    const data = new Float32Array(n * n);
    for (let i = 0; i < data.length; i += 997) data[i] = (i % 13) - 6;
    const tall: AttributionGraph = {
      ...g,
      adjacency: { kind: 'dense', n, data },
      model: { ...g.model, nLayers: L },
    };
    const bytes = writeSafetensors(rawGraphTensors(tall).tensors, rawGraphTensors(tall).metadata);
    const sparse = { ...tall, adjacency: toCsr(tall.adjacency) };
    expect([...rawGraphChunks(sparse)].length).toBeGreaterThan(3);
    // Compared as buffers: a 27 MB deep equality would be a test of the matcher.
    expect(Buffer.compare(exportRawGraph(sparse), bytes)).toBe(0);
  });

  it('writes float16 and CSR layouts that read back as the same graph', async () => {
    const g = graph();
    expect(RAW_LAYOUTS).toEqual(['dense', 'dense-f16', 'csr']);
    const csr = await importRawGraph(exportRawGraph(g, { layout: 'csr' }));
    expect(csr.adjacency.kind).toBe('csr');
    expect(toDense(csr.adjacency).data).toEqual(toDense(g.adjacency).data);
    expect({ ...csr, adjacency: null }).toEqual({ ...g, adjacency: null });
    const file = await SafetensorsFile.open(bytesSource(exportRawGraph(g, { layout: 'csr' })));
    expect(file.metadata.adjacency_layout).toBe('csr');
    expect(file.names()).not.toContain('adjacency_matrix');

    const half = await importRawGraph(exportRawGraph(g, { layout: 'dense-f16' }));
    const want = toDense(g.adjacency).data;
    const got = toDense(half.adjacency).data;
    // float16 keeps 11 significant bits: relative error ≤ 2^-11 on these (normal-range) weights.
    want.forEach((v, i) => {
      expect(Math.abs(got[i] - v)).toBeLessThanOrEqual(Math.abs(v) * 2 ** -11);
    });
    const f16 = await SafetensorsFile.open(bytesSource(exportRawGraph(g, { layout: 'dense-f16' })));
    expect(f16.info('adjacency_matrix').dtype).toBe('F16');
    expect(() => exportRawGraph(g, { layout: 'sparse' as 'csr' })).toThrow(
      /layout must be one of dense, dense-f16, csr/,
    );
  });

  it('refuses a malformed CSR adjacency with a clear error', () => {
    const { tensors, metadata } = rawGraphTensors(graph());
    const m = new Map(Object.entries(tensors));
    m.delete('adjacency_matrix');
    const ptr = new Int32Array(14);
    const i32 = (data: Int32Array): HostTensor => ({ dtype: 'int32', shape: [data.length], data });
    const f = (data: Float32Array): HostTensor => ({ dtype: 'float32', shape: [data.length], data });
    m.set('adjacency_row_ptr', i32(ptr));
    expect(() => graphFromRawTensors(m, metadata)).toThrow(/come together/);
    m.set('adjacency_col_idx', i32(Int32Array.of(3, 1)));
    m.set('adjacency_values', f(Float32Array.of(1, 2)));
    ptr.fill(2, 1);
    expect(() => graphFromRawTensors(m, metadata)).toThrow(/must ascend within \[0, 13\)/);
    m.set('adjacency_col_idx', i32(Int32Array.of(1, 3)));
    ptr[13] = 1;
    expect(() => graphFromRawTensors(m, metadata)).toThrow(/must run from 0 to 2/);
  });

  it('round-trips the bias extension and the dictionary kind', async () => {
    const g = graph();
    g.model.dictionaryKind = 'clt';
    // F + K = 4 rows over (L + 2)·T = 12 bias sites.
    g.bias = {
      rows: Float32Array.from({ length: 48 }, (_, i) => i / 4 - 3),
      values: Float32Array.from([1, -2, 3, 0.5]),
    };
    const back = await importRawGraph(exportRawGraph(g));
    expect(back.bias).toEqual(g.bias);
    expect(back.model.dictionaryKind).toBe('clt');
    const { tensors, metadata } = rawGraphTensors(g);
    const half = new Map(Object.entries(tensors).filter(([k]) => k !== 'bias_values'));
    expect(() => graphFromRawTensors(half, metadata)).toThrow(/come together/);
    const wrong = new Map(
      Object.entries({ ...tensors, bias_rows: { ...tensors.bias_rows, shape: [4, 11] } }),
    );
    expect(() => graphFromRawTensors(wrong, metadata)).toThrow(/bias_rows has shape \[4, 11\]/);
  });

  it('reads files written elsewhere: int64 indices, no metadata', async () => {
    const { tensors } = rawGraphTensors(graph());
    const asI64 = (t: HostTensor): HostTensor =>
      t.dtype === 'int32'
        ? { dtype: 'int64', shape: t.shape, data: BigInt64Array.from(t.data as Int32Array, BigInt) }
        : t;
    const foreign = writeSafetensors(
      Object.fromEntries(Object.entries(tensors).map(([k, t]) => [k, asI64(t)])),
    );
    const g = await importRawGraph(foreign);
    expect(g.model.nLayers).toBe(2); // from N = F + (L + 1)·T + K
    expect(g.model.scan).toBeNull();
    expect(g.logitTargets.map((t) => t.vocabIdx)).toEqual([7, 20]);
    expect(g.vocabSize).toBe(21);
    validateGraph(g);
  });

  it('refuses inconsistent tensors with a clear error', () => {
    const { tensors, metadata } = rawGraphTensors(graph());
    const m = new Map(Object.entries(tensors));
    const without = new Map(m);
    without.delete('selected_features');
    expect(() => graphFromRawTensors(without, metadata)).toThrow(/'selected_features' is missing/);
    const badShape = new Map(m);
    badShape.set('activation_values', { dtype: 'float32', shape: [2], data: new Float32Array(2) });
    expect(() => graphFromRawTensors(badShape, metadata)).toThrow(
      /activation_values has shape \[2\], expected \[3\]/,
    );
    expect(() => graphFromRawTensors(m, { ...metadata, n_layers: '3' })).toThrow(/does not fit/);
    expect(() => graphFromRawTensors(m, { ...metadata, n_layers: 'two' })).toThrow(/n_layers/);
    const badSel = new Map(m);
    badSel.set('selected_features', { dtype: 'int32', shape: [2], data: Int32Array.from([2, 0]) });
    expect(() => graphFromRawTensors(badSel, metadata)).toThrow(/ascending/);
    const nanAdj = new Map(m);
    const d = new Float32Array(169);
    d[5] = Number.NaN;
    nanAdj.set('adjacency_matrix', { dtype: 'float32', shape: [13, 13], data: d });
    expect(() => graphFromRawTensors(nanAdj, metadata)).toThrow(/\[0, 5\] is not finite/);
  });
});
