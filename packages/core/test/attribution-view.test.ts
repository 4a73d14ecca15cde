import { describe, expect, it } from 'vitest';
import {
  type AttributionGraph,
  buildGraphView,
  compactLayout,
  computeGraphScores,
  createGraphJson,
  type GraphJson,
  graphLayout,
  importGraphJson,
  layoutView,
  nodeKind,
  nodeTitle,
  pruneView,
  rankByInfluence,
  readLoupeExtensions,
  searchNodes,
  stepRanking,
  strongestEdges,
  syntheticGraphJson,
  viewScores,
} from '../src/attribution/index.ts';
import { attribute } from '../src/attribution/trace-attribute.ts';
import { initWeights } from '../src/model/init.ts';
import { Model } from '../src/model/model.ts';
import { nodeRuntime } from '../src/node/runtime.ts';
import { randomDictionary } from './attribution-trace-fixtures.ts';
import { tinyConfig } from './model-configs.ts';

/** A 3-layer Llama-style model with a random JumpReLU dictionary of the given kind on its MLPs. */
async function tinyModelAndDictionary(kind: 'plt' | 'clt', skip: boolean) {
  const config = { ...tinyConfig('llama'), nLayers: 3, bosTokenId: 1 };
  const model = await Model.create(
    config,
    initWeights(config, { seed: 3, std: 0.4 }),
    undefined,
    nodeRuntime(),
  );
  const dict = randomDictionary(
    config,
    {
      kind,
      activation: { kind: 'jumprelu', rectify: false },
      skip,
      hooks: { input: 'mlp.hook_in', output: 'mlp.hook_out' },
    },
    11,
  );
  return { model, dict };
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/**
 * A traced-graph-shaped AttributionGraph: features in (layer, pos) cells, links only upwards (from lower
 * layers, tokens and errors, same or earlier positions) into feature and logit rows. Feature indices start at
 * 100 so that no error id "0_{layer}_{pos}" can equal a layer-0 feature id.
 */
function randomGraph(seed: number, nLayers = 3, nPos = 4, nActive = 30, nLogits = 3): AttributionGraph {
  const rand = rng(seed);
  const triples = new Set<string>();
  while (triples.size < nActive) {
    triples.add(
      [Math.floor(rand() * nLayers), 1 + Math.floor(rand() * (nPos - 1)), 100 + Math.floor(rand() * 50)].join(
        ',',
      ),
    );
  }
  const af = [...triples]
    .map((t) => t.split(',').map(Number))
    .sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]);
  const selected = af.flatMap((_, i) => (rand() < 0.8 ? [i] : []));
  const F = selected.length;
  const n = F + (nLayers + 1) * nPos + nLogits;
  const layerOf = (i: number) =>
    i < F ? af[selected[i]][0] : i < F + nLayers * nPos ? Math.floor((i - F) / nPos) : -1;
  const posOf = (i: number) =>
    i < F
      ? af[selected[i]][1]
      : i < F + nLayers * nPos
        ? (i - F) % nPos
        : i < n - nLogits
          ? i - F - nLayers * nPos
          : nPos - 1;
  const data = new Float32Array(n * n);
  for (let r = 0; r < n; r++) {
    const isLogit = r >= n - nLogits;
    if (r >= F && !isLogit) continue;
    for (let c = 0; c < n - nLogits; c++) {
      if (c === r) continue;
      const below = layerOf(c) < (isLogit ? nLayers : layerOf(r));
      if (below && posOf(c) <= posOf(r) && rand() < 0.5) data[r * n + c] = (rand() - 0.35) * 4;
    }
    // Every feature reads its own token, so thresholds of 1 keep the trace whole in the stored JSON.
    if (!isLogit) data[r * n + F + nLayers * nPos + posOf(r)] = 1 + rand();
  }
  const probs = Float32Array.from({ length: nLogits }, (_, k) => 0.5 / (k + 1));
  return {
    inputString: '<bos>abc',
    inputTokens: Int32Array.from({ length: nPos }, (_, p) => 10 + p),
    logitTargets: Array.from({ length: nLogits }, (_, k) => ({ tokenStr: `t${k}`, vocabIdx: 40 + k })),
    logitProbabilities: probs,
    vocabSize: 100,
    activeFeatures: Int32Array.from(af.flat()),
    activationValues: Float32Array.from(af, () => rand() * 3),
    selectedFeatures: Int32Array.from(selected),
    adjacency: { kind: 'dense', n, data },
    model: { nLayers, dVocab: 100, scan: 'test-scan' },
  };
}

const decodeToken = (id: number) => `<${id}>`;

function keptIds(json: GraphJson, types: string[]): string[] {
  return json.nodes
    .filter((nd) => types.includes(nd.feature_type))
    .map((nd) => nd.node_id)
    .sort();
}

/** A 6-node graph with known answers: two tokens, two features, one error, one logit. */
function handGraph(): GraphJson {
  const node = (node_id: string, feature_type: string, layer: string, ctx_idx: number, extra = {}) => ({
    node_id,
    feature: 0,
    layer,
    ctx_idx,
    feature_type,
    token_prob: 0,
    is_target_logit: false,
    run_idx: 0,
    reverse_ctx_idx: 0,
    jsNodeId: node_id,
    clerp: '',
    influence: null,
    activation: null,
    ...extra,
  });
  return {
    metadata: {
      slug: 'hand',
      scan: 's',
      transcoder_list: [],
      prompt_tokens: ['<bos>', 'x'],
      prompt: '<bos>x',
      node_threshold: null,
      schema_version: 1,
    },
    qParams: { pinnedIds: [], supernodes: [], linkType: 'both', clickedId: '', sg_pos: '' },
    nodes: [
      node('E_1_0', 'embedding', 'E', 0),
      node('E_2_1', 'embedding', 'E', 1),
      // An error whose id has the feature form: kinds must come from feature_type.
      node('0_0_1', 'mlp reconstruction error', '0', 1),
      node('0_7_1', 'cross layer transcoder', '0', 1, { clerp: 'plus sign', activation: 2 }),
      node('1_9_1', 'cross layer transcoder', '1', 1, { activation: 1 }),
      node('3_5_1', 'logit', '3', 1, { token_prob: 1, is_target_logit: true, clerp: 'Output "y"' }),
    ] as GraphJson['nodes'],
    links: [
      { source: 'E_1_0', target: '0_7_1', weight: 1 },
      { source: 'E_2_1', target: '0_7_1', weight: 3 },
      { source: '0_7_1', target: '1_9_1', weight: 2 },
      { source: '0_0_1', target: '1_9_1', weight: -2 },
      { source: '1_9_1', target: '3_5_1', weight: 4 },
      { source: 'E_2_1', target: '3_5_1', weight: -4 },
    ],
  };
}

describe('buildGraphView', () => {
  it('decides kinds from feature_type and fields, tolerating unknown kinds', () => {
    expect(nodeKind({ feature_type: 'embedding' })).toBe('embedding');
    expect(nodeKind({ feature_type: 'logit' })).toBe('logit');
    expect(nodeKind({ feature_type: 'mlp reconstruction error' })).toBe('error');
    expect(nodeKind({ feature_type: 'lorsa error' })).toBe('error');
    expect(nodeKind({ feature_type: 'cross layer transcoder' })).toBe('feature');
    expect(nodeKind({ feature_type: 'lorsa' })).toBe('feature');
    expect(nodeKind({ feature_type: 'per layer transcoder' })).toBe('feature');
    expect(nodeKind({ feature_type: 'sparse autoencoder' })).toBe('feature');
    expect(nodeKind({ feature_type: 'bias' })).toBe('other');
    expect(nodeKind({ feature_type: 'something new' })).toBe('other');
    expect(nodeKind({ feature_type: 'something new', is_target_logit: true })).toBe('logit');
  });

  it('lays out CSR links both ways and recomputes influence', () => {
    const v = buildGraphView(handGraph());
    expect(v.kinds).toEqual(['embedding', 'embedding', 'error', 'feature', 'feature', 'logit']);
    expect(Array.from(v.row)).toEqual([0, 0, 1, 1, 2, 3]);
    expect(v.nLayers).toBe(2);
    expect(v.nRows).toBe(4);
    // Rows are targets: 0_7_1 (index 3) has inputs from nodes 0 and 1.
    expect(Array.from(v.rowPtr)).toEqual([0, 0, 0, 0, 2, 4, 6]);
    expect(Array.from(v.colIdx)).toEqual([0, 1, 2, 3, 1, 4]);
    expect(Array.from(v.weights)).toEqual([1, 3, -2, 2, -4, 4]);
    const outOf = (i: number) =>
      Array.from(v.outEdge.slice(v.outPtr[i], v.outPtr[i + 1]), (k) => v.edgeTarget[k]);
    expect(outOf(1)).toEqual([3, 5]);
    expect(outOf(4)).toEqual([5]);
    // Influence by hand: the logit row splits 4/4 between 1_9_1 and E_2_1 (|w| normalised → 0.5 each);
    // 1_9_1's row splits 2/2 between 0_0_1 and 0_7_1 (0.25 each); 0_7_1 splits 1:3 between the tokens.
    const expected = [0.25 * 0.25, 0.5 + 0.25 * 0.75, 0.25, 0.25, 0.5, 1];
    expected.forEach((x, i) => {
      expect(v.influence[i]).toBeCloseTo(x, 12);
    });
  });

  it('rejects links to missing nodes, duplicate links and duplicate ids', () => {
    const g = handGraph();
    expect(() =>
      buildGraphView({ ...g, links: [...g.links, { source: 'nope', target: '3_5_1', weight: 1 }] }),
    ).toThrow(/links\[6\]\.source 'nope'/);
    expect(() => buildGraphView({ ...g, links: [...g.links, g.links[0]] })).toThrow(
      /two links join 'E_1_0' to '0_7_1'/,
    );
    expect(() => buildGraphView({ ...g, nodes: [...g.nodes, g.nodes[0]] })).toThrow(/'E_1_0' appears twice/);
    expect(() => buildGraphView({ ...g, nodes: [], links: [] })).toThrow(/no nodes/);
    expect(() =>
      buildGraphView({
        ...g,
        links: [...g.links, { source: '3_5_1', target: '0_7_1', weight: 1 }],
      }),
    ).toThrow(/form a cycle/);
  });
});

describe('pruneView', () => {
  it('re-prunes a stored graph exactly as pruneGraph prunes the traced one', () => {
    for (const seed of [1, 2, 3]) {
      const graph = randomGraph(seed);
      const full = createGraphJson(graph, { slug: 'full', decodeToken, nodeThreshold: 1, edgeThreshold: 1 });
      const view = buildGraphView(importGraphJson(JSON.stringify(full)));
      for (const [nodeThreshold, edgeThreshold] of [
        [0.8, 0.98],
        [0.5, 0.9],
        [0.3, 0.6],
      ]) {
        const cli = createGraphJson(graph, { slug: 'cli', decodeToken, nodeThreshold, edgeThreshold });
        const pr = pruneView(view, { nodeThreshold, edgeThreshold });
        const kept = view.ids.filter((_, i) => pr.nodeMask[i]);
        const keptJson = { nodes: full.nodes.filter((nd) => kept.includes(nd.node_id)) } as GraphJson;
        const types = ['cross layer transcoder', 'mlp reconstruction error'];
        expect(keptIds(keptJson, types)).toEqual(keptIds(cli, types));
        const links = (ls: { source: string; target: string }[]) =>
          ls.map((l) => `${l.source}>${l.target}`).sort();
        const viewLinks = Array.from(pr.edgeMask).flatMap((m, k) =>
          m ? [{ source: view.ids[view.colIdx[k]], target: view.ids[view.edgeTarget[k]] }] : [],
        );
        expect(links(viewLinks)).toEqual(links(cli.links));
        expect(pr.edgeCount).toBe(cli.links.length);
      }
    }
  });

  it('re-prunes a graph traced through a model and a transcoder as the CLI prunes it', async () => {
    const { model, dict } = await tinyModelAndDictionary('clt', true);
    const graph = await attribute(model, dict, { tokens: [1, 7, 3, 12, 5, 9, 3] });
    const opts = { slug: 'traced', decodeToken };
    const stored = buildGraphView(createGraphJson(graph, { ...opts, nodeThreshold: 1, edgeThreshold: 1 }));
    expect(new Set(stored.kinds)).toEqual(new Set(['embedding', 'feature', 'error', 'logit']));
    // Titles name a feature by its index within the layer, not by the Cantor pair stored in `feature`.
    const features = stored.ids.flatMap((id, i) => (stored.kinds[i] === 'feature' ? [[id, i] as const] : []));
    expect(features.length).toBeGreaterThan(0);
    for (const [id, i] of features) {
      const [layer, index] = id.split('_');
      expect(nodeTitle(stored, i)).toBe(`L${layer} #${index}`);
    }
    const cli = createGraphJson(graph, { ...opts, nodeThreshold: 0.6, edgeThreshold: 0.9 });
    const pr = pruneView(stored, { nodeThreshold: 0.6, edgeThreshold: 0.9 });
    const kept = new Set(stored.ids.filter((_, i) => pr.nodeMask[i] && stored.kinds[i] !== 'embedding'));
    const cliKept = new Set(
      cli.nodes.filter((nd) => nd.feature_type !== 'embedding').map((nd) => nd.node_id),
    );
    expect(kept).toEqual(cliKept);
    expect(pr.nodeCount).toBeLessThan(stored.n);
    expect(pr.edgeCount).toBe(cli.links.length);
    expect(pr.edgeCount).toBeLessThan(stored.weights.length);
  });

  it('keeps the whole stored graph at thresholds 1 and scores it as computeGraphScores scores the trace', () => {
    const graph = randomGraph(5);
    const full = createGraphJson(graph, { slug: 'full', decodeToken, nodeThreshold: 1, edgeThreshold: 1 });
    const view = buildGraphView(full);
    const pr = pruneView(view, { nodeThreshold: 1, edgeThreshold: 1 });
    expect(pr.nodeCount).toBe(view.n);
    expect(pr.edgeCount).toBe(view.weights.length);
    const ref = computeGraphScores(graph.adjacency, graphLayout(graph), graph.logitProbabilities);
    expect(pr.scores.replacement).toBeCloseTo(ref.replacement, 6);
    expect(pr.scores.completeness).toBeCloseTo(ref.completeness, 6);
    expect(viewScores(view).replacement).toBeCloseTo(ref.replacement, 6);
    // Sanity of the reference itself: errors carry some influence in this graph.
    expect(ref.replacement).toBeLessThan(1);
  });

  it('prunes more at lower thresholds and always keeps tokens and logits', () => {
    const view = buildGraphView(syntheticGraphJson({ nodes: 600, links: 4000, seed: 3 }));
    const loose = pruneView(view, { nodeThreshold: 0.95, edgeThreshold: 0.99 });
    const tight = pruneView(view, { nodeThreshold: 0.4, edgeThreshold: 0.7 });
    expect(tight.nodeCount).toBeLessThan(loose.nodeCount);
    expect(tight.edgeCount).toBeLessThan(loose.edgeCount);
    view.kinds.forEach((k, i) => {
      if (k === 'embedding' || k === 'logit') expect(tight.nodeMask[i]).toBe(1);
    });
    // No kept edge touches a dropped node.
    for (let k = 0; k < tight.edgeMask.length; k++) {
      if (tight.edgeMask[k]) {
        expect(tight.nodeMask[view.colIdx[k]]).toBe(1);
        expect(tight.nodeMask[view.edgeTarget[k]]).toBe(1);
      }
    }
    expect(() => pruneView(view, { nodeThreshold: 1.5 })).toThrow(/node_threshold must be between 0 and 1/);
  });
});

describe('inactive features and attention edges in a stored graph', () => {
  it('keeps inactive features with their links from kept nodes and leaves the rest of the pruning alone', async () => {
    const { model, dict } = await tinyModelAndDictionary('plt', false);
    const tokens = [1, 7, 3, 12, 5];
    const graph = await attribute(
      model,
      dict,
      { tokens },
      { inactivePerSite: 2, qk: { edges: [{ layer: 1, head: 0, queryPos: 4, keyPos: 2 }] } },
    );
    const opts = { slug: 'inactive', decodeToken, nodeThreshold: 1, edgeThreshold: 1 };
    const file = createGraphJson(graph, opts);
    const plain = createGraphJson({ ...graph, inactive: undefined, qk: undefined }, opts);
    const view = buildGraphView(importGraphJson(JSON.stringify(file)));
    const base = buildGraphView(plain);
    const inactiveIds = view.ids.filter((_, i) => view.inactive[i]);
    expect(inactiveIds.length).toBeGreaterThan(0);
    expect(inactiveIds.sort()).toEqual(
      file.nodes
        .filter((nd) => nd.inactive)
        .map((nd) => nd.node_id)
        .sort(),
    );
    expect(base.inactive.every((v) => v === 0)).toBe(true);

    for (const [nt, et] of [
      [0.8, 0.98],
      [0.5, 0.8],
    ]) {
      const pr = pruneView(view, { nodeThreshold: nt, edgeThreshold: et });
      const ref = pruneView(base, { nodeThreshold: nt, edgeThreshold: et });
      // Every other node is kept or dropped as without the inactive ones, with the same scores.
      base.ids.forEach((id, j) => {
        expect(pr.nodeMask[view.index.get(id) as number], id).toBe(ref.nodeMask[j]);
      });
      expect(pr.scores.replacement).toBeCloseTo(ref.scores.replacement, 9);
      expect(pr.scores.completeness).toBeCloseTo(ref.scores.completeness, 9);
      // An inactive feature is shown exactly when a kept node links to it, with all such links.
      let shown = 0;
      for (const id of inactiveIds) {
        const i = view.index.get(id) as number;
        let fromKept = 0;
        for (let k = view.rowPtr[i]; k < view.rowPtr[i + 1]; k++) {
          const kept = pr.nodeMask[view.colIdx[k]];
          expect(pr.edgeMask[k]).toBe(kept);
          fromKept += kept;
        }
        expect(pr.nodeMask[i]).toBe(fromKept > 0 ? 1 : 0);
        shown += pr.nodeMask[i];
      }
      expect(shown).toBeGreaterThan(0);
      expect(pr.nodeCount).toBe(ref.nodeCount + shown);
    }

    // The extension fields read back as written; a graph without them, or with a malformed one, reads as empty.
    const ext = readLoupeExtensions(JSON.parse(JSON.stringify(file)));
    expect(ext.problem).toBeNull();
    expect(ext.qk).toEqual(file.loupe?.qk);
    expect(ext.qk[0]).toMatchObject({ layer: 1, head: 0, query: 4, key: 2 });
    expect(ext.inactive.map((t) => t.node_id).sort()).toEqual(inactiveIds);
    expect(readLoupeExtensions(plain)).toEqual({ qk: [], inactive: [], problem: null });
    const bad = readLoupeExtensions({ ...file, loupe: { qk: [{ layer: 'one' }] } });
    expect(bad.qk).toEqual([]);
    expect(bad.problem).toMatch(/^graph JSON loupe is invalid: qk\[0\]\.layer: /);
  });
});

describe('layoutView', () => {
  it('puts tokens across, layers up, errors at the right of their cell, and never two nodes on one spot', () => {
    const view = buildGraphView(syntheticGraphJson({ nodes: 1500, links: 9000, seed: 4 }));
    const pr = pruneView(view, { nodeThreshold: 0.9, edgeThreshold: 0.98 });
    const lay = layoutView(view, pr.nodeMask);
    const spots = new Set<string>();
    for (let i = 0; i < view.n; i++) {
      if (!pr.nodeMask[i]) {
        expect(Number.isNaN(lay.x[i])).toBe(true);
        continue;
      }
      const spot = `${lay.x[i]},${lay.y[i]}`;
      expect(spots.has(spot)).toBe(false);
      spots.add(spot);
      const col = lay.columns[view.ctxIdx[i]];
      expect(lay.x[i]).toBeGreaterThanOrEqual(col.x0);
      expect(lay.x[i]).toBeLessThanOrEqual(col.x1);
      // Each node stays within half a band of its row's line.
      const band = lay.rows[1].y - lay.rows[0].y;
      expect(Math.abs(lay.y[i] - lay.rows[view.row[i]].y)).toBeLessThan(band / 2);
    }
    const ys = (kind: string) =>
      view.kinds.flatMap((k, i) => (k === kind && pr.nodeMask[i] ? [lay.y[i]] : []));
    expect(Math.max(...ys('embedding'))).toBeLessThan(Math.min(...ys('feature')));
    expect(Math.min(...ys('logit'))).toBeGreaterThan(Math.max(...ys('feature')));
    for (let i = 0; i < view.n; i++) {
      if (view.kinds[i] !== 'error' || !pr.nodeMask[i]) continue;
      for (let j = 0; j < view.n; j++) {
        if (
          pr.nodeMask[j] &&
          view.kinds[j] === 'feature' &&
          view.row[j] === view.row[i] &&
          view.ctxIdx[j] === view.ctxIdx[i]
        )
          expect(lay.x[j]).toBeLessThan(lay.x[i]);
      }
    }
    for (let p = 1; p < lay.columns.length; p++)
      expect(lay.columns[p].x0).toBeGreaterThan(lay.columns[p - 1].x1);
    expect(lay.rows.map((r) => r.label)).toEqual([
      'Emb',
      ...Array.from({ length: 18 }, (_, l) => `L${l}`),
      'Logit',
    ]);
  });

  it('spreads narrow layouts to the viewport aspect without moving nodes between columns or rows', () => {
    const view = buildGraphView(handGraph());
    const narrow = layoutView(view, null);
    const wide = layoutView(view, null, { aspect: 4 });
    expect(wide.width / wide.height).toBeCloseTo(4, 5);
    expect(narrow.width / narrow.height).toBeLessThan(4);
    const f = wide.width / narrow.width;
    for (let i = 0; i < view.n; i++) {
      expect(wide.x[i]).toBeCloseTo(narrow.x[i] * f, 4);
      expect(wide.y[i]).toBe(narrow.y[i]);
    }
    // A layout already wider than the aspect is left alone.
    expect(layoutView(view, null, { aspect: 0.01 }).width).toBe(narrow.width);
  });

  it('draws a pinned subgraph compactly: one line per used row, distinct spots in [0, 1]', () => {
    const view = buildGraphView(handGraph());
    const nodes = [5, 3, 1, 4, 2];
    const { x, y } = compactLayout(view, nodes);
    [1, 1 / 3, 0, 2 / 3, 1 / 3].forEach((v, j) => {
      expect(y[j]).toBeCloseTo(v, 6);
    });
    // Nodes 3 and 2 share row 1 and position 1 with equal influence: the lower index goes left.
    expect(x[1]).toBeCloseTo(2 / 3, 6);
    expect(x[4]).toBeCloseTo(1 / 3, 6);
    const spots = new Set(nodes.map((_, j) => `${x[j]},${y[j]}`));
    expect(spots.size).toBe(nodes.length);
    for (const v of [...x, ...y]) {
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(1);
    }
  });
});

describe('navigation and details', () => {
  const view = buildGraphView(handGraph());

  it('ranks by influence and steps with wrap-around', () => {
    const rank = rankByInfluence(view);
    expect(Array.from(rank)).toEqual([5, 1, 4, 2, 3, 0]);
    expect(stepRanking(rank, null, 1)).toBe(5);
    expect(stepRanking(rank, null, -1)).toBe(0);
    expect(stepRanking(rank, 5, 1)).toBe(1);
    expect(stepRanking(rank, 5, -1)).toBe(0);
    expect(stepRanking(rank, 0, 1)).toBe(5);
    const kept = Uint8Array.from([1, 1, 0, 1, 1, 1]);
    expect(Array.from(rankByInfluence(view, kept))).toEqual([5, 1, 4, 3, 0]);
  });

  it('lists the strongest signed edges each way', () => {
    expect(strongestEdges(view, 5, 'in')).toEqual([
      { edge: 4, node: 1, weight: -4 },
      { edge: 5, node: 4, weight: 4 },
    ]);
    expect(strongestEdges(view, 1, 'out').map((e) => [e.node, e.weight])).toEqual([
      [5, -4],
      [3, 3],
    ]);
    expect(strongestEdges(view, 1, 'out', 1)).toHaveLength(1);
    const mask = Uint8Array.from([1, 1, 1, 1, 0, 1]);
    expect(strongestEdges(view, 5, 'in', 10, mask).map((e) => e.node)).toEqual([4]);
  });

  it('searches ids, feature ids, clerps and labels', () => {
    expect(searchNodes(view, 'PLUS')).toEqual([3]);
    expect(searchNodes(view, 'E_2')).toEqual([1]);
    expect(searchNodes(view, 'carry', new Map([['1_9_1', 'carry the one']]))).toEqual([4]);
    expect(searchNodes(view, '   ')).toEqual([]);
  });
});

describe('syntheticGraphJson', () => {
  it('makes a valid, deterministic graph of the requested size', () => {
    const a = syntheticGraphJson({ nodes: 5000, links: 50000, seed: 7 });
    expect(a.nodes).toHaveLength(5000);
    expect(a.links).toHaveLength(50000);
    const imported = importGraphJson(JSON.stringify(a));
    const view = buildGraphView(imported);
    expect(view.weights.length).toBe(50000);
    expect(new Set(view.kinds)).toEqual(new Set(['embedding', 'feature', 'error', 'logit']));
    expect(JSON.stringify(syntheticGraphJson({ nodes: 5000, links: 50000, seed: 7 }))).toBe(
      JSON.stringify(a),
    );
    expect(JSON.stringify(syntheticGraphJson({ nodes: 5000, links: 50000, seed: 8 }))).not.toBe(
      JSON.stringify(a),
    );
    const pr = pruneView(view, { nodeThreshold: 0.8, edgeThreshold: 0.98 });
    expect(pr.nodeCount).toBeGreaterThan(100);
    expect(() => syntheticGraphJson({ nodes: 10, links: 5 })).toThrow(/leave no room for features/);
  });
});
