/**
 * Synthetic graph JSON shaped like traced ones (embeddings, features spread over layer × position cells, error
 * nodes, logits; upward links with heavy-tailed signed weights), for rendering benchmarks and tests.
 */
import { seededRandom } from '../model/init.ts';
import type { GraphJson, GraphJsonLink, GraphJsonNode } from './json-types.ts';

export interface SyntheticGraphOptions {
  nodes: number;
  links: number;
  seed?: number;
  /** Prompt length (default 12) and model depth (default 18). */
  nPos?: number;
  nLayers?: number;
  nLogits?: number;
}

/**
 * A graph JSON with the shape of a traced one: embeddings per position, features spread over (layer, position)
 * cells with more at later positions, one error node per cell while nodes last, logits at the last position.
 * Links go upwards to features and logits only, from the same or earlier positions, mostly from nearby
 * layers, with heavy-tailed signed weights. Deterministic for a seed.
 */
export function syntheticGraphJson(opts: SyntheticGraphOptions): GraphJson {
  const T = opts.nPos ?? 12;
  const L = opts.nLayers ?? 18;
  const K = opts.nLogits ?? 5;
  const rand = seededRandom(opts.seed ?? 1);
  const nErr = Math.min(L * T, Math.floor(opts.nodes * 0.1));
  const nFeat = opts.nodes - T - K - nErr;
  if (!Number.isInteger(opts.nodes) || nFeat < 1)
    throw new Error(
      `synthetic graph: ${opts.nodes} nodes leave no room for features (need > ${T + K + nErr})`,
    );
  if (!Number.isInteger(opts.links) || opts.links < 0)
    throw new Error('synthetic graph: links must be a count');

  const tokens = Array.from({ length: T }, (_, p) => (p === 0 ? '<bos>' : `tok${p}`));
  const base = { token_prob: 0, is_target_logit: false, run_idx: 0, reverse_ctx_idx: 0, clerp: '' };
  const nodes: GraphJsonNode[] = [];
  for (let p = 0; p < T; p++) {
    nodes.push({
      ...base,
      node_id: `E_${100 + p}_${p}`,
      feature: p,
      layer: 'E',
      ctx_idx: p,
      feature_type: 'embedding',
      jsNodeId: `E_${100 + p}-${p}`,
      influence: null,
      activation: null,
    });
  }
  for (let f = 0; f < nFeat; f++) {
    // Later layers and later positions hold more active features, as in traced prompts.
    const layer = Math.min(L - 1, Math.floor(Math.sqrt(rand()) * L));
    const pos = Math.min(T - 1, 1 + Math.floor(Math.sqrt(rand()) * (T - 1)));
    const feat = 1000 + f;
    nodes.push({
      ...base,
      node_id: `${layer}_${feat}_${pos}`,
      feature: feat,
      layer: String(layer),
      ctx_idx: pos,
      feature_type: 'cross layer transcoder',
      jsNodeId: `${layer}_${feat}-0`,
      clerp: rand() < 0.3 ? `feature ${feat} (${['number', 'sum', 'digit', 'plus', 'equals'][f % 5]})` : '',
      influence: null,
      activation: Math.round(rand() * 1000) / 100,
    });
  }
  for (let e = 0; e < nErr; e++) {
    const layer = e % L;
    const pos = T - 1 - (Math.floor(e / L) % T);
    nodes.push({
      ...base,
      node_id: `0_${layer}_${pos}`,
      feature: -1,
      layer: String(layer),
      ctx_idx: pos,
      feature_type: 'mlp reconstruction error',
      jsNodeId: `${layer}_${pos}-0`,
      influence: null,
      activation: null,
    });
  }
  let mass = 0;
  for (let k = 0; k < K; k++) {
    const p = k === K - 1 ? 1 - mass : (1 - mass) * 0.6;
    mass += p;
    nodes.push({
      ...base,
      node_id: `${L + 1}_${500 + k}_${T - 1}`,
      feature: 500 + k,
      layer: String(L + 1),
      ctx_idx: T - 1,
      feature_type: 'logit',
      jsNodeId: `L_${500 + k}-${T - 1}`,
      token_prob: p,
      is_target_logit: k === 0,
      clerp: `Output "out${k}" (p=${p.toFixed(3)})`,
      influence: null,
      activation: null,
    });
  }

  // Cells by (row, pos): row 0 embeddings, layer + 1 for features and errors.
  const cell = (row: number, pos: number) => row * T + pos;
  const cells: number[][] = Array.from({ length: (L + 1) * T }, () => []);
  const targets: number[] = [];
  nodes.forEach((nd, i) => {
    if (nd.feature_type === 'logit') {
      targets.push(i);
      return;
    }
    const row = nd.feature_type === 'embedding' ? 0 : Number(nd.layer) + 1;
    cells[cell(row, nd.ctx_idx)].push(i);
    if (nd.feature_type === 'cross layer transcoder' && row > 1) targets.push(i);
  });
  const rowOf = (i: number) => (nodes[i].feature_type === 'logit' ? L + 1 : nodeRow(nodes[i]));
  const maxLinks = Math.min(opts.links, targets.length * 200);
  const links: GraphJsonLink[] = [];
  const seen = new Set<number>();
  let attempts = 0;
  while (links.length < maxLinks && attempts < maxLinks * 50) {
    attempts++;
    // Logits draw a share of the links; features the rest.
    const t =
      rand() < 0.05
        ? targets[targets.length - 1 - Math.floor(rand() * K)]
        : targets[Math.floor(rand() * targets.length)];
    const tRow = rowOf(t);
    const sRow = Math.max(0, tRow - 1 - Math.floor(-Math.log(1 - rand()) * 2));
    const tPos = nodes[t].ctx_idx;
    const sPos = rand() < 0.6 ? tPos : Math.floor(rand() * (tPos + 1));
    const from = cells[cell(sRow, sPos)];
    if (from.length === 0) continue;
    const s = from[Math.floor(rand() * from.length)];
    const key = s * nodes.length + t;
    if (seen.has(key)) continue;
    seen.add(key);
    const magnitude = -Math.log(1 - rand()) * (sRow === 0 ? 2 : 1);
    links.push({
      source: nodes[s].node_id,
      target: nodes[t].node_id,
      weight: rand() < 0.75 ? magnitude : -magnitude,
    });
  }
  return {
    metadata: {
      slug: `synthetic-${opts.nodes}-${opts.links}-${opts.seed ?? 1}`,
      scan: 'synthetic',
      transcoder_list: [],
      prompt_tokens: tokens,
      prompt: tokens.join(''),
      node_threshold: null,
      schema_version: 1,
    },
    qParams: { pinnedIds: [], supernodes: [], linkType: 'both', clickedId: '', sg_pos: '' },
    nodes,
    links,
  };
}

function nodeRow(nd: GraphJsonNode): number {
  return nd.feature_type === 'embedding' ? 0 : Number(nd.layer) + 1;
}
