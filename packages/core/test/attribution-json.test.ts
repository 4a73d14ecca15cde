import { describe, expect, it } from 'vitest';
import {
  type AttributionGraph,
  createGraphJson,
  formatFixed3,
  importGraphJson,
  parseGraphUrlState,
  parseNodeId,
  serializeGraphUrlState,
  toCsr,
  upsertGraphMetadata,
} from '../src/attribution/index.ts';

/** The reference 12-node example (F=5, L=2, T=2, K=1) dressed as a full graph. */
function smallGraph(): AttributionGraph {
  const n = 12;
  const data = new Float32Array(n * n);
  const edge = (t: number, s: number, w: number) => {
    data[t * n + s] = w;
  };
  for (const s of [1, 3, 6, 8]) edge(11, s, 10);
  for (const s of [0, 1, 6]) edge(3, s, 10);
  edge(1, 9, 10);
  edge(1, 10, -10);
  edge(0, 9, 10);
  return {
    inputString: '<bos>Hi',
    inputTokens: Int32Array.from([2, 17]),
    logitTargets: [{ tokenStr: ' Austin', vocabIdx: 42 }],
    logitProbabilities: Float32Array.from([0.0625]),
    vocabSize: 100,
    // (layer, pos, feat), lexicographic; active 3 is not selected.
    activeFeatures: Int32Array.from([0, 1, 3, 0, 1, 7, 1, 0, 2, 1, 1, 0, 1, 1, 4, 1, 1, 9]),
    activationValues: Float32Array.from([0.5, 1.5, 2.5, 3.5, 4.5, 5.5]),
    selectedFeatures: Int32Array.from([0, 1, 2, 4, 5]),
    adjacency: { kind: 'dense', n, data },
    model: { nLayers: 2, dVocab: 100, scan: 'loupe-organism-plt' },
  };
}

const decodeToken = (id: number) => `<${id}>`;

describe('createGraphJson', () => {
  it('writes the reference ids, fields, node filter and link order', () => {
    const j = createGraphJson(smallGraph(), { slug: 'small', decodeToken, idFormat: 'circuit-tracer' });
    expect(j.metadata).toEqual({
      slug: 'small',
      scan: 'loupe-organism-plt',
      transcoder_list: [],
      prompt_tokens: ['<2>', '<17>'],
      prompt: '<bos>Hi',
      node_threshold: 0.8,
      schema_version: 1,
    });
    expect(j.qParams).toEqual({ pinnedIds: [], supernodes: [], linkType: 'both', clickedId: '', sg_pos: '' });
    expect(j.nodes.map((x) => x.node_id)).toEqual([
      '0_7_1',
      '1_4_1',
      '0_0_1',
      '0_1_1',
      'E_2_0',
      'E_17_1',
      '3_42_1',
    ]);
    const [f1, f3, e6, e8, t0, t1, logit] = j.nodes;
    expect(f1).toMatchObject({
      feature: 35, // cantor(0, 7)
      layer: '0',
      ctx_idx: 1,
      feature_type: 'cross layer transcoder',
      jsNodeId: '0_7-0',
      activation: 1.5,
      clerp: '',
      token_prob: 0,
      is_target_logit: false,
    });
    expect(f1.influence).toBeCloseTo(0.2, 12);
    expect(f3).toMatchObject({ feature: 19, layer: '1', jsNodeId: '1_4-0', activation: 4.5 });
    expect(e6).toMatchObject({
      feature: -1,
      layer: '0',
      ctx_idx: 1,
      feature_type: 'mlp reconstruction error',
      jsNodeId: '0_1-0',
    });
    expect(e8).toMatchObject({ layer: '1', jsNodeId: '1_1-0', activation: null });
    expect(t0).toMatchObject({
      feature: 0,
      layer: 'E',
      ctx_idx: 0,
      feature_type: 'embedding',
      jsNodeId: 'E_2-0',
    });
    expect(t1).toMatchObject({ feature: 1, jsNodeId: 'E_17-1' });
    expect(logit).toEqual({
      node_id: '3_42_1',
      feature: 42,
      layer: '3',
      ctx_idx: 1,
      feature_type: 'logit',
      token_prob: 0.0625,
      is_target_logit: true,
      run_idx: 0,
      reverse_ctx_idx: 0,
      jsNodeId: 'L_42-1',
      clerp: 'Output " Austin" (p=0.062)',
      influence: null,
      activation: null,
    });
    expect(j.links).toEqual([
      { source: 'E_2_0', target: '0_7_1', weight: 10 },
      { source: 'E_17_1', target: '0_7_1', weight: -10 },
      { source: '0_7_1', target: '1_4_1', weight: 10 },
      { source: '0_0_1', target: '1_4_1', weight: 10 },
      { source: '0_7_1', target: '3_42_1', weight: 10 },
      { source: '1_4_1', target: '3_42_1', weight: 10 },
      { source: '0_0_1', target: '3_42_1', weight: 10 },
      { source: '0_1_1', target: '3_42_1', weight: 10 },
    ]);
  });

  it('keeps embeddings and logits even when nothing links to them', () => {
    const g = smallGraph();
    g.adjacency = { kind: 'dense', n: 12, data: new Float32Array(144) };
    const j = createGraphJson(g, { slug: 's', decodeToken });
    expect(j.nodes.map((x) => x.feature_type)).toEqual(['embedding', 'embedding', 'logit']);
    expect(j.links).toEqual([]);
  });

  it('rejects a bad adjacency in either storage, checked as pruning reads it', () => {
    const g = smallGraph();
    const nan = new Float32Array(144);
    nan[11 * 12 + 3] = Number.NaN;
    expect(() =>
      createGraphJson({ ...g, adjacency: { kind: 'dense', n: 12, data: nan } }, { slug: 's', decodeToken }),
    ).toThrow(/adjacency entry \[11, 3\] is not finite/);
    const csr = toCsr(g.adjacency);
    const swapped = Int32Array.from(csr.colIdx);
    const at = csr.rowPtr[1]; // row 1 reads nodes 9 and 10
    [swapped[at], swapped[at + 1]] = [swapped[at + 1], swapped[at]];
    expect(() =>
      createGraphJson({ ...g, adjacency: { ...csr, colIdx: swapped } }, { slug: 's', decodeToken }),
    ).toThrow(/columns are not strictly ascending/);
    const inf = Float32Array.from(csr.values);
    inf[inf.length - 1] = Number.POSITIVE_INFINITY;
    expect(() =>
      createGraphJson({ ...g, adjacency: { ...csr, values: inf } }, { slug: 's', decodeToken }),
    ).toThrow(/adjacency entry \[11, 8\] is not finite \(Infinity\)/);
  });

  it('names per-layer transcoder lists as custom-<hash>, and needs some scan', () => {
    const g = smallGraph();
    const j = createGraphJson(g, { slug: 's', decodeToken, scan: ['tc0', 'tc1'] });
    expect(j.metadata.scan).toMatch(/^custom-[0-9a-f]{8}$/);
    expect(j.metadata.transcoder_list).toEqual(['tc0', 'tc1']);
    expect(createGraphJson(g, { slug: 's', decodeToken, scan: ['tc0', 'tc1'] }).metadata.scan).toBe(
      j.metadata.scan,
    );
    g.model.scan = null;
    expect(() => createGraphJson(g, { slug: 's', decodeToken })).toThrow(/scan/);
  });

  it('round-trips through the importer, sparse input giving the same file', () => {
    const g = smallGraph();
    const dense = createGraphJson(g, {
      slug: 's',
      decodeToken,
      extraMetadata: { info: { creator_name: 'loupe' } },
    });
    const sparse = createGraphJson(
      { ...g, adjacency: toCsr(g.adjacency) },
      {
        slug: 's',
        decodeToken,
        extraMetadata: { info: { creator_name: 'loupe' } },
      },
    );
    expect(sparse).toEqual(dense);
    const back = importGraphJson(JSON.stringify(dense, null, 2));
    expect(back.nodes.length).toBe(7);
    expect(back.metadata.info).toEqual({ creator_name: 'loupe' });
  });
});

/** Every node id of a file, bias nodes included; a Set of them has the same size only if none repeats. */
function allIds(j: ReturnType<typeof createGraphJson>): string[] {
  return [...j.nodes.map((x) => x.node_id), ...(j.loupe?.bias?.nodes ?? []).map((x) => x.node_id)];
}

describe('node ids', () => {
  /**
   * smallGraph with active features (0, 1, 3) and (0, 1, 7) turned into (0, 1, 0) and (0, 1, 1): layer-0
   * features 0 and 1 at position 1, whose ids circuit-tracer also gives the errors of layers 0 and 1 there.
   */
  function collidingGraph(): AttributionGraph {
    const g = smallGraph();
    g.activeFeatures.set([0, 1, 0, 0, 1, 1], 0);
    return g;
  }

  it('are unambiguous in Loupe format: errors err_{layer}_{pos}, features named by dictionary kind', () => {
    const g = collidingGraph();
    g.model.dictionaryKind = 'plt';
    const j = createGraphJson(g, { slug: 's', decodeToken });
    expect(j.metadata.node_id_format).toBe('loupe');
    expect(j.nodes.map((x) => x.node_id)).toEqual([
      '0_1_1',
      '1_4_1',
      'err_0_1',
      'err_1_1',
      'E_2_0',
      'E_17_1',
      '3_42_1',
    ]);
    expect(new Set(allIds(j)).size).toBe(allIds(j).length);
    expect(j.nodes[0].feature_type).toBe('per layer transcoder');
    expect(j.nodes[2]).toMatchObject({ feature_type: 'mlp reconstruction error', jsNodeId: 'err_0-1' });
    // parseNodeId recovers what each node's fields say.
    for (const nd of j.nodes) {
      const p = parseNodeId(nd.node_id);
      expect(p.pos).toBe(nd.ctx_idx);
      if (nd.feature_type === 'mlp reconstruction error')
        expect(p).toMatchObject({ kind: 'error', layer: Number(nd.layer) });
      if (nd.feature_type === 'per layer transcoder')
        expect(p).toMatchObject({ kind: 'indexed', layer: Number(nd.layer) });
    }
    g.model.dictionaryKind = 'clt';
    expect(createGraphJson(g, { slug: 's', decodeToken }).nodes[0].feature_type).toBe(
      'cross layer transcoder',
    );
    g.model.dictionaryKind = undefined;
    expect(createGraphJson(g, { slug: 's', decodeToken }).nodes[0].feature_type).toBe('transcoder');
  });

  it('detects and resolves circuit-tracer collisions deterministically, and says so', () => {
    const g = collidingGraph();
    g.model.dictionaryKind = 'plt';
    const j = createGraphJson(g, { slug: 's', decodeToken, idFormat: 'circuit-tracer' });
    // The old scheme names the layer-1 error at position 1 '0_1_1', the id of layer-0 feature 1 there; the
    // layer-0 error is renamed too, because feature (0, 1, 0) is a node of the graph, though pruned from the file.
    const naive = j.nodes.map((x) =>
      x.feature_type === 'mlp reconstruction error' ? `0_${x.layer}_${x.ctx_idx}` : x.node_id,
    );
    expect(new Set(naive).size).toBe(naive.length - 1);
    expect(j.nodes.map((x) => x.node_id)).toEqual([
      '0_1_1',
      '1_4_1',
      'err_0_1',
      'err_1_1',
      'E_2_0',
      'E_17_1',
      '3_42_1',
    ]);
    expect(j.metadata.node_id_collisions).toEqual([
      { node_id: '0_0_1', layer: 0, ctx_idx: 1, error_node_id: 'err_0_1' },
      { node_id: '0_1_1', layer: 1, ctx_idx: 1, error_node_id: 'err_1_1' },
    ]);
    expect(j.metadata.dictionary_kind).toBe('per layer transcoder');
    // circuit-tracer's readers key feature panels on this exact string.
    expect(j.nodes[0].feature_type).toBe('cross layer transcoder');
    expect(j.links).toContainEqual({ source: 'err_1_1', target: '3_42_1', weight: 10 });
    expect(j.links).toContainEqual({ source: '0_1_1', target: '1_4_1', weight: 10 });
    expect(createGraphJson(g, { slug: 's', decodeToken, idFormat: 'circuit-tracer' })).toEqual(j);
    expect(() => importGraphJson(JSON.stringify(j))).not.toThrow();
    // A file that still has the collision is refused on import.
    const clash = {
      ...j,
      nodes: j.nodes.map((x) => (x.node_id === 'err_1_1' ? { ...x, node_id: '0_1_1' } : x)),
    };
    expect(() => importGraphJson(JSON.stringify(clash))).toThrow(/'0_1_1' is not unique/);
    expect(() => createGraphJson(g, { slug: 's', decodeToken, idFormat: 'x' as 'loupe' })).toThrow(
      /idFormat/,
    );
  });

  it('parses every form', () => {
    expect(parseNodeId('err_5_4')).toEqual({ kind: 'error', layer: 5, pos: 4 });
    expect(parseNodeId('bias_5_4')).toEqual({ kind: 'bias', layer: 5, pos: 4 });
    expect(parseNodeId('bias_E_2')).toEqual({ kind: 'bias', layer: -1, pos: 2 });
    expect(() => parseNodeId('err_E_2')).toThrow(/err_\{layer\}_\{pos\}/);
  });
});

describe('bias extension', () => {
  /** smallGraph (L = 2, T = 2, F = 5, K = 1) with bias rows [6, (L + 2)·T = 8] of known values. */
  function biasedGraph(): AttributionGraph {
    const g = smallGraph();
    const rows = new Float32Array(6 * 8);
    rows[5 * 8 + 2 * 2 + 1] = 3; // logit row ← layer 1, position 1
    rows[5 * 8 + 0 * 2 + 0] = -1; // logit row ← embedding level, position 0
    rows[5 * 8 + 3 * 2 + 1] = 0.5; // logit row ← final norm, position 1
    rows[3 * 8 + 1 * 2 + 0] = 2; // feature (1, 1, 4) ← layer 0, position 0
    rows[2 * 8 + 1 * 2 + 1] = 7; // feature (1, 0, 2), not in the file
    g.bias = { rows, values: Float32Array.from([1, 2, 3, 4, 5, 6]) };
    return g;
  }

  it("writes bias nodes, their links into the file's targets, and each target's value", () => {
    const j = createGraphJson(biasedGraph(), { slug: 's', decodeToken });
    const bias = j.loupe?.bias;
    expect(bias?.nodes.map((x) => [x.node_id, x.layer, x.ctx_idx, x.feature_type])).toEqual([
      ['bias_E_0', 'E', 0, 'bias'],
      ['bias_0_0', '0', 0, 'bias'],
      ['bias_1_1', '1', 1, 'bias'],
      ['bias_2_1', '2', 1, 'bias'],
    ]);
    expect(bias?.links).toEqual([
      { source: 'bias_0_0', target: '1_4_1', weight: 2 },
      { source: 'bias_E_0', target: '3_42_1', weight: -1 },
      { source: 'bias_1_1', target: '3_42_1', weight: 3 },
      { source: 'bias_2_1', target: '3_42_1', weight: 0.5 },
    ]);
    expect(bias?.targets).toEqual([
      { node_id: '0_7_1', value: 2, bias: 0 },
      { node_id: '1_4_1', value: 4, bias: 2 },
      { node_id: '3_42_1', value: 6, bias: 2.5 },
    ]);
    expect(new Set(allIds(j)).size).toBe(allIds(j).length);
    const back = importGraphJson(JSON.stringify(j));
    expect(back.loupe?.bias?.links.length).toBe(4);
    // Readers of circuit-tracer's format see the same nodes and links as without the extension.
    const plain = createGraphJson(smallGraph(), { slug: 's', decodeToken });
    expect(j.nodes).toEqual(plain.nodes);
    expect(j.links).toEqual(plain.links);
    expect(plain.loupe?.bias).toBeUndefined();
  });

  it('is validated on import', () => {
    const j = createGraphJson(biasedGraph(), { slug: 's', decodeToken });
    const bias = j.loupe?.bias as NonNullable<NonNullable<typeof j.loupe>['bias']>;
    const bad = (b: typeof bias) => () => importGraphJson(JSON.stringify({ ...j, loupe: { bias: b } }));
    expect(bad({ ...bias, links: [{ source: '0_7_1', target: '1_4_1', weight: 1 }] })).toThrow(
      /not a bias node/,
    );
    expect(bad({ ...bias, links: [{ source: 'bias_E_0', target: 'nope', weight: 1 }] })).toThrow(/'nope'/);
    expect(bad({ ...bias, nodes: [...bias.nodes, { ...bias.nodes[0], node_id: '0_7_1' }] })).toThrow(
      /not unique/,
    );
    const g = biasedGraph();
    g.bias = { rows: new Float32Array(3), values: new Float32Array(6) };
    expect(() => createGraphJson(g, { slug: 's', decodeToken })).toThrow(/bias rows must be/);
  });
});

describe('formatFixed3 follows Python', () => {
  it('rounds exact ties to even and everything else to nearest', () => {
    expect(formatFixed3(0.0625)).toBe('0.062');
    expect(formatFixed3(0.1875)).toBe('0.188');
    expect(formatFixed3(0.3125)).toBe('0.312');
    expect(formatFixed3(0.9375)).toBe('0.938');
    expect(formatFixed3(0.95)).toBe('0.950');
    expect(formatFixed3(Math.fround(0.123456))).toBe('0.123');
    expect(formatFixed3(1)).toBe('1.000');
    expect(formatFixed3(-0.0625)).toBe('-0.062');
    expect(formatFixed3(Number.NaN)).toBe('nan');
  });
});

/** Hand-written in Neuronpedia's style: extra metadata, integer layers, null features, QK results, extra keys. */
const NEURONPEDIA_FILE = JSON.stringify({
  metadata: {
    slug: 'gemma-fact-dallas-austin',
    scan: 'gemma-2-2b',
    prompt_tokens: ['<bos>', 'Fact', ':'],
    prompt: '<bos>Fact:',
    node_threshold: 0.8,
    schema_version: 1,
    feature_details: { neuronpedia_source_set: 'gemmascope-transcoder-16k' },
    info: {
      description: 'demo',
      creator_name: 'someone',
      source_urls: ['https://example.org'],
      generator: { name: 'circuit-tracer', version: '0.4.1' },
      create_time_ms: 1700000000000,
      neuronpedia_link: 'https://example.org/graph',
    },
    generation_settings: {
      max_n_logits: 10,
      desired_logit_prob: 0.95,
      batch_size: 48,
      max_feature_nodes: 5000,
    },
    pruning_settings: { node_threshold: 0.8, edge_threshold: 0.98 },
    replacement_score: 0.7,
    completeness_score: 0.9,
  },
  qParams: {
    pinnedIds: ['27_22605_2'],
    supernodes: [['Texas', '20_15589_2']],
    linkType: 'both',
    pruningThreshold: 0.6,
  },
  nodes: [
    {
      node_id: 'E_2_0',
      feature: 0,
      layer: 'E',
      ctx_idx: 0,
      feature_type: 'embedding',
      jsNodeId: 'E_2-0',
      clerp: '',
    },
    {
      node_id: '20_15589_2',
      feature: 123,
      layer: 20,
      ctx_idx: 2,
      feature_type: 'cross layer transcoder',
      jsNodeId: '20_15589-0',
      clerp: 'Texas',
      influence: 0.4,
      activation: 12.5,
      is_lorsa: false,
      qk_tracing_results: {
        pair_wise_contributors: [['E_2_0', 'E_2_0', 0.5]],
        top_q_marginal_contributors: [['E_2_0', 0.2]],
        top_k_marginal_contributors: [],
      },
    },
    {
      node_id: '27_22605_2',
      feature: null,
      layer: '27',
      ctx_idx: 2,
      feature_type: 'logit',
      jsNodeId: 'L_22605-2',
      clerp: 'Output " Austin" (p=0.451)',
      token_prob: 0.451,
      is_target_logit: true,
    },
  ],
  links: [
    { source: 'E_2_0', target: '20_15589_2', weight: 1.5, pctInput: 0.3 },
    { source: '20_15589_2', target: '27_22605_2', weight: -0.25 },
  ],
  qk_only_nodes: {
    '3_7_1': {
      node_id: '3_7_1',
      feature_type: 'cross layer transcoder',
      layer: '3',
      ctx_idx: 1,
      jsNodeId: '3_7-0',
      clerp: '',
    },
  },
});

describe('importGraphJson', () => {
  it('accepts a Neuronpedia-style file and keeps its extra fields', () => {
    const g = importGraphJson(NEURONPEDIA_FILE);
    expect(g.nodes.length).toBe(3);
    expect(g.nodes[1].is_lorsa).toBe(false);
    expect(g.metadata.replacement_score).toBe(0.7);
    expect(g.qParams.pruningThreshold).toBe(0.6);
    expect(g.links[0].pctInput).toBe(0.3);
  });

  it('names the path of a bad or missing required field', () => {
    const bad = JSON.parse(NEURONPEDIA_FILE);
    delete bad.nodes[1].node_id;
    expect(() => importGraphJson(JSON.stringify(bad))).toThrow(/nodes\[1\]\.node_id/);
    const bad2 = JSON.parse(NEURONPEDIA_FILE);
    bad2.links[1].weight = 'heavy';
    expect(() => importGraphJson(JSON.stringify(bad2))).toThrow(/links\[1\]\.weight/);
    const bad3 = JSON.parse(NEURONPEDIA_FILE);
    delete bad3.metadata.prompt_tokens;
    expect(() => importGraphJson(JSON.stringify(bad3))).toThrow(/metadata\.prompt_tokens/);
    const bad4 = JSON.parse(NEURONPEDIA_FILE);
    bad4.links[0].target = 'nope';
    expect(() => importGraphJson(JSON.stringify(bad4))).toThrow(/links\[0\]\.target 'nope'/);
    expect(() => importGraphJson('{"metadata":')).toThrow(/not valid JSON/);
    expect(() => importGraphJson('[]')).toThrow(/invalid/);
  });
});

describe('graph-metadata.json and URL state', () => {
  it('upserts by slug', () => {
    const old = JSON.stringify({
      graphs: [
        { slug: 'a', prompt: 'x' },
        { slug: 'b', prompt: 'y' },
      ],
    });
    const next = upsertGraphMetadata(old, { slug: 'a', prompt: 'z' });
    expect(next.graphs).toEqual([
      { slug: 'b', prompt: 'y' },
      { slug: 'a', prompt: 'z' },
    ]);
    expect(upsertGraphMetadata(null, { slug: 'c' })).toEqual({ graphs: [{ slug: 'c' }] });
    expect(() => upsertGraphMetadata('{"graphs": [{}]}', { slug: 'c' })).toThrow(/graphs\[0\]\.slug/);
    expect(() => upsertGraphMetadata('nope', { slug: 'c' })).toThrow(/not valid JSON/);
  });

  it('parses and serializes pinnedIds, supernodes and clerps', () => {
    const q =
      'pinnedIds=27_22605_10,E_26865_9,20_15589_10&supernodes=' +
      encodeURIComponent(JSON.stringify([['Texas', '20_15589_10', '19_7477_9']])) +
      '&clerps=' +
      encodeURIComponent(
        JSON.stringify([
          ['23_2312237_10', 'capital'],
          [35, 'x'],
        ]),
      ) +
      '&pruningThreshold=0.6&clickedId=27_22605_10';
    const s = parseGraphUrlState(q);
    expect(s).toEqual({
      pinnedIds: ['27_22605_10', 'E_26865_9', '20_15589_10'],
      supernodes: [{ label: 'Texas', nodeIds: ['20_15589_10', '19_7477_9'] }],
      clerps: [
        { featureId: '23_2312237_10', label: 'capital' },
        { featureId: '35', label: 'x' },
      ],
      clickedId: '27_22605_10',
      pruningThreshold: 0.6,
    });
    expect(parseGraphUrlState(serializeGraphUrlState(s))).toEqual(s);
    expect(parseGraphUrlState('')).toEqual({ pinnedIds: [], supernodes: [], clerps: [] });
    expect(() => parseGraphUrlState('supernodes=[[1]]')).toThrow(/supernodes/);
    expect(() => parseGraphUrlState('clerps={')).toThrow(/clerps is not valid JSON/);
    expect(() => parseGraphUrlState('pruningThreshold=2')).toThrow(/pruningThreshold/);
  });

  it('parses node ids', () => {
    expect(parseNodeId('E_26865_9')).toEqual({ kind: 'embedding', tokenId: 26865, pos: 9 });
    expect(parseNodeId('20_15589_10')).toEqual({ kind: 'indexed', layer: 20, index: 15589, pos: 10 });
    expect(() => parseNodeId('x_1')).toThrow(/node id 'x_1'/);
  });
});
