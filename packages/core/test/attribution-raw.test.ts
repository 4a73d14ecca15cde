import { describe, expect, it } from 'vitest';
import {
  type AttributionGraph,
  exportRawGraph,
  graphFromRawTensors,
  importRawGraph,
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
