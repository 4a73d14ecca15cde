/**
 * An automatic first pass over a pruned attribution graph (graph JSON), as suggestions a person accepts, edits
 * or discards:
 *   supernodes  features at one position grouped by agglomerative clustering (average linkage) on a similarity
 *               that averages what is known of each pair: their input edges, their output edges (cosines of
 *               the signed weights), their labels and their top contexts (Jaccard of words);
 *   influence   each node's indirect influence on the top logit, circuit-tracer's: rows of |weights| normalised
 *               to sum 1, summed over all paths; a supernode's share is the part of that flow that passes
 *               through at least one member (1 − what is left when its members are removed);
 *   paths       the strongest token → … → logit paths (largest product of normalised |weights|), one from each
 *               prompt token and one through each proposed supernode, written as supernodes where they pass one.
 */
import type { GraphJsonLink } from '../attribution/json-types.ts';

/** What explain reads of a graph JSON file (Loupe's own or circuit-tracer's). */
export interface ExplainableGraph {
  metadata: { prompt_tokens: string[] };
  nodes: {
    node_id: string;
    layer: string | number;
    ctx_idx: number;
    feature_type: string;
    clerp?: string;
    token_prob?: number;
  }[];
  links: GraphJsonLink[];
}

export interface ExplainOptions {
  /** Average-linkage similarity at or above which two clusters of one position merge; default 0.5. */
  mergeThreshold?: number;
  /** A feature's top-context words (from a feature index), compared by Jaccard; features without any skip it. */
  contexts?: (nodeId: string) => string[] | undefined;
  /** The logit node to explain; default the logit node of highest probability. */
  target?: string;
}

export interface ProposedSupernode {
  id: string;
  label: string;
  /** Node ids of the member features, strongest first. */
  members: string[];
  ctxIdx: number;
  /** Lowest and highest member layer. */
  layers: [number, number];
  /** Share of the target's influence flowing through at least one member, in [0, 1]. */
  influence: number;
  /** Mean pairwise similarity of the members, in [0, 1]. */
  cohesion: number;
  /** influence × cohesion: how the proposals are ranked. */
  score: number;
}

export interface ExplainedPath {
  /** From a token node to the target: supernode ids where the path passes a member, node ids elsewhere. */
  steps: string[];
  labels: string[];
  /** Product of the normalised |weights| along the node path. */
  strength: number;
}

export interface GraphExplanation {
  target: { node_id: string; label: string; probability: number };
  supernodes: ProposedSupernode[];
  paths: ExplainedPath[];
  /** Shares of the target's influence that reach it from the prompt's tokens and from error nodes. */
  sources: { tokens: number; errors: number };
  summary: string;
  settings: { mergeThreshold: number };
}

interface Indexed {
  n: number;
  ids: string[];
  /** Incoming links per node: sources and raw weights. */
  inSrc: number[][];
  inW: number[][];
  outDst: number[][];
  outW: number[][];
  /** Node indices, every source before its targets. */
  order: number[];
}

function indexGraph(g: ExplainableGraph): Indexed {
  const n = g.nodes.length;
  const ids = g.nodes.map((x) => x.node_id);
  const at = new Map(ids.map((id, i) => [id, i]));
  const inSrc: number[][] = Array.from({ length: n }, () => []);
  const inW: number[][] = Array.from({ length: n }, () => []);
  const outDst: number[][] = Array.from({ length: n }, () => []);
  const outW: number[][] = Array.from({ length: n }, () => []);
  for (const l of g.links) {
    const s = at.get(l.source);
    const t = at.get(l.target);
    if (s === undefined || t === undefined)
      throw new Error(`explain: link ${l.source} → ${l.target} names a node the graph does not have`);
    inSrc[t].push(s);
    inW[t].push(l.weight);
    outDst[s].push(t);
    outW[s].push(l.weight);
  }
  // Kahn's order: a link always runs forward in layers and positions, so a cycle means a malformed file.
  const indeg = inSrc.map((s) => s.length);
  const order: number[] = [];
  const queue = indeg.flatMap((d, i) => (d === 0 ? [i] : []));
  while (queue.length > 0) {
    const v = queue.pop() as number;
    order.push(v);
    for (const t of outDst[v]) if (--indeg[t] === 0) queue.push(t);
  }
  if (order.length !== n) throw new Error('explain: the graph has a cycle; attribution graphs cannot');
  return { n, ids, inSrc, inW, outDst, outW, order };
}

/** Indirect influence of every node on `target` with the nodes in `removed` cut out: [n]. */
function influenceOn(ix: Indexed, target: number, removed?: ReadonlySet<number>): Float64Array {
  const inf = new Float64Array(ix.n);
  inf[target] = 1;
  for (let o = ix.order.length - 1; o >= 0; o--) {
    const t = ix.order[o];
    if (inf[t] === 0 || removed?.has(t)) continue;
    const w = ix.inW[t];
    let total = 0;
    for (const x of w) total += Math.abs(x);
    if (total === 0) continue;
    ix.inSrc[t].forEach((s, i) => {
      inf[s] += (inf[t] * Math.abs(w[i])) / total;
    });
  }
  if (removed) for (const r of removed) inf[r] = 0;
  return inf;
}

function cosine(
  aIdx: readonly number[],
  aW: readonly number[],
  bIdx: readonly number[],
  bW: readonly number[],
): number | undefined {
  if (aIdx.length === 0 || bIdx.length === 0) return undefined;
  const b = new Map(bIdx.map((j, i) => [j, bW[i]]));
  let dot = 0;
  let na = 0;
  let nb = 0;
  aIdx.forEach((j, i) => {
    dot += aW[i] * (b.get(j) ?? 0);
    na += aW[i] * aW[i];
  });
  for (const x of bW) nb += x * x;
  return na > 0 && nb > 0 ? dot / Math.sqrt(na * nb) : undefined;
}

function jaccardWords(a: ReadonlySet<string>, b: ReadonlySet<string>): number | undefined {
  if (a.size === 0 || b.size === 0) return undefined;
  let both = 0;
  for (const w of a) if (b.has(w)) both++;
  return both / (a.size + b.size - both);
}

/** Words of a label that say something about the feature: quoted tokens, or words of 3+ letters. */
export function labelWords(label: string): Set<string> {
  const quoted = [...label.matchAll(/'([^']+)'|"([^"]+)"|`([^`]+)`/g)].map((m) => m[1] ?? m[2] ?? m[3]);
  const words = quoted.length > 0 ? quoted : (label.toLowerCase().match(/\p{L}{3,}/gu) ?? []);
  return new Set(words.map((w) => w.trim()).filter((w) => w.length > 0));
}

const isFeature = (n: ExplainableGraph['nodes'][number]) =>
  n.feature_type.endsWith('transcoder') || n.feature_type === 'sparse autoencoder';

/** Average-linkage clusters of `items` under `sim` (symmetric, [0, 1]) merged while the best link ≥ threshold. */
function agglomerate(count: number, sim: (i: number, j: number) => number, threshold: number): number[][] {
  let clusters = Array.from({ length: count }, (_, i) => [i]);
  const pair = Array.from({ length: count }, (_, i) => Array.from({ length: count }, (_, j) => sim(i, j)));
  for (;;) {
    let best = -1;
    let bi = -1;
    let bj = -1;
    for (let i = 0; i < clusters.length; i++) {
      for (let j = i + 1; j < clusters.length; j++) {
        let s = 0;
        for (const a of clusters[i]) for (const b of clusters[j]) s += pair[a][b];
        s /= clusters[i].length * clusters[j].length;
        if (s > best) [best, bi, bj] = [s, i, j];
      }
    }
    if (bi < 0 || best < threshold) return clusters;
    clusters = [...clusters.filter((_, k) => k !== bi && k !== bj), [...clusters[bi], ...clusters[bj]]];
  }
}

/** Most frequent label words of the members, else their layer range and position. */
function supernodeLabel(
  members: readonly number[],
  g: ExplainableGraph,
  words: readonly Set<string>[],
  layers: [number, number],
): string {
  const counts = new Map<string, number>();
  for (const m of members) for (const w of words[m]) counts.set(w, (counts.get(w) ?? 0) + 1);
  const shared = [...counts.entries()]
    .filter(([, c]) => c >= 2)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, 3)
    .map(([w]) => w);
  const token =
    g.metadata.prompt_tokens[g.nodes[members[0]].ctx_idx] ?? `position ${g.nodes[members[0]].ctx_idx}`;
  const where = `L${layers[0]}${layers[1] !== layers[0] ? `–${layers[1]}` : ''} at ${JSON.stringify(token)}`;
  return shared.length > 0 ? `${shared.join(', ')} (${where})` : `features ${where}`;
}

/** Best (max-product) path from every node to `target` over normalised |weights|: next hop and strength. */
function bestPathsTo(ix: Indexed, target: number): { next: Int32Array; strength: Float64Array } {
  const next = new Int32Array(ix.n).fill(-1);
  const strength = new Float64Array(ix.n);
  strength[target] = 1;
  for (let o = ix.order.length - 1; o >= 0; o--) {
    const t = ix.order[o];
    if (strength[t] === 0) continue;
    const w = ix.inW[t];
    let total = 0;
    for (const x of w) total += Math.abs(x);
    if (total === 0) continue;
    ix.inSrc[t].forEach((s, i) => {
      const v = (strength[t] * Math.abs(w[i])) / total;
      if (v > strength[s]) [strength[s], next[s]] = [v, t];
    });
  }
  return { next, strength };
}

/** Best path from any token to `via` (strength of its prefix, node list). */
function bestPathFrom(
  ix: Indexed,
  tokens: readonly number[],
  via: number,
): { nodes: number[]; strength: number } {
  // Forward max-product from the tokens, with each target's row normalisation.
  const strength = new Float64Array(ix.n);
  const prev = new Int32Array(ix.n).fill(-1);
  for (const t of tokens) strength[t] = 1;
  const rowTotal = ix.inW.map((w) => w.reduce((s, x) => s + Math.abs(x), 0));
  for (const v of ix.order) {
    if (strength[v] === 0) continue;
    ix.outDst[v].forEach((t, i) => {
      const s = (strength[v] * Math.abs(ix.outW[v][i])) / rowTotal[t];
      if (s > strength[t]) [strength[t], prev[t]] = [s, v];
    });
  }
  const nodes = [via];
  while (prev[nodes[0]] >= 0) nodes.unshift(prev[nodes[0]]);
  return { nodes, strength: strength[via] };
}

export function explainGraph(g: ExplainableGraph, options: ExplainOptions = {}): GraphExplanation {
  const threshold = options.mergeThreshold ?? 0.5;
  if (!(threshold >= 0 && threshold <= 1))
    throw new Error(`explain: the merge threshold must be in [0, 1], got ${threshold}`);
  const ix = indexGraph(g);
  const logits = g.nodes.flatMap((x, i) => (x.feature_type === 'logit' ? [i] : []));
  if (logits.length === 0) throw new Error('explain: the graph has no logit node');
  let target = logits.reduce((a, b) => ((g.nodes[b].token_prob ?? 0) > (g.nodes[a].token_prob ?? 0) ? b : a));
  if (options.target !== undefined) {
    const t = ix.ids.indexOf(options.target);
    if (t < 0 || g.nodes[t].feature_type !== 'logit')
      throw new Error(`explain: '${options.target}' is not a logit node of the graph`);
    target = t;
  }
  const influence = influenceOn(ix, target);
  const tokens = g.nodes.flatMap((x, i) => (x.feature_type === 'embedding' ? [i] : []));
  const errors = g.nodes.flatMap((x, i) => (x.feature_type === 'mlp reconstruction error' ? [i] : []));
  // Where the flow ends: nodes without inputs (tokens, errors, features whose inputs were pruned away).
  const roots = ix.inSrc.flatMap((s, i) => (s.length === 0 ? [i] : []));
  const reaching = (inf: Float64Array, xs: readonly number[]) => xs.reduce((s, i) => s + inf[i], 0);
  const total = reaching(influence, roots);

  const words = g.nodes.map((x) => labelWords(x.clerp ?? ''));
  const contextWords = g.nodes.map((x) => new Set(options.contexts?.(x.node_id) ?? []));
  const similarity = (a: number, b: number): number => {
    const parts = [
      cosine(ix.inSrc[a], ix.inW[a], ix.inSrc[b], ix.inW[b]),
      cosine(ix.outDst[a], ix.outW[a], ix.outDst[b], ix.outW[b]),
      jaccardWords(words[a], words[b]),
      jaccardWords(contextWords[a], contextWords[b]),
    ].filter((x): x is number => x !== undefined);
    // Opposite edges are as unlike as unrelated ones for grouping.
    return parts.length === 0 ? 0 : parts.reduce((s, x) => s + Math.max(0, x), 0) / parts.length;
  };

  const byPos = new Map<number, number[]>();
  g.nodes.forEach((x, i) => {
    if (isFeature(x) && influence[i] > 0) byPos.set(x.ctx_idx, [...(byPos.get(x.ctx_idx) ?? []), i]);
  });
  const groups: { members: number[]; cohesion: number }[] = [];
  for (const feats of byPos.values()) {
    const clusters = agglomerate(feats.length, (i, j) => similarity(feats[i], feats[j]), threshold);
    for (const c of clusters) {
      if (c.length < 2) continue;
      const members = c.map((k) => feats[k]).sort((a, b) => influence[b] - influence[a]);
      let s = 0;
      for (let i = 0; i < members.length; i++)
        for (let j = i + 1; j < members.length; j++) s += similarity(members[i], members[j]);
      groups.push({ members, cohesion: s / ((members.length * (members.length - 1)) / 2) });
    }
  }
  const proposals = groups
    .map(({ members, cohesion }) => {
      const left = influenceOn(ix, target, new Set(members));
      const share = total > 0 ? Math.max(0, 1 - reaching(left, roots) / total) : 0;
      const ls = members.map((m) => Number(g.nodes[m].layer));
      const layers: [number, number] = [Math.min(...ls), Math.max(...ls)];
      return { members, cohesion, influence: share, layers };
    })
    .sort((a, b) => b.influence * b.cohesion - a.influence * a.cohesion);
  const supernodes: ProposedSupernode[] = proposals.map((p, i) => ({
    id: `sn${i + 1}`,
    label: supernodeLabel(p.members, g, words, p.layers),
    members: p.members.map((m) => ix.ids[m]),
    ctxIdx: g.nodes[p.members[0]].ctx_idx,
    layers: p.layers,
    influence: p.influence,
    cohesion: p.cohesion,
    score: p.influence * p.cohesion,
  }));
  const groupOf = new Map<number, ProposedSupernode>();
  proposals.forEach((p, i) => {
    for (const m of p.members) groupOf.set(m, supernodes[i]);
  });

  const nodeLabel = (i: number): string => {
    const x = g.nodes[i];
    if (x.feature_type === 'embedding')
      return JSON.stringify(g.metadata.prompt_tokens[x.ctx_idx] ?? `token ${x.ctx_idx}`);
    if (x.feature_type === 'logit') return x.clerp || x.node_id;
    return x.clerp ? `${x.node_id} ${x.clerp}` : x.node_id;
  };
  const asPath = (nodes: number[], strength: number): ExplainedPath => {
    const steps: string[] = [];
    const labels: string[] = [];
    for (const v of nodes) {
      const sn = groupOf.get(v);
      const id = sn ? sn.id : ix.ids[v];
      if (steps[steps.length - 1] === id) continue;
      steps.push(id);
      labels.push(sn ? sn.label : nodeLabel(v));
    }
    return { steps, labels, strength };
  };
  const { next, strength } = bestPathsTo(ix, target);
  const follow = (from: number) => {
    const nodes = [from];
    while (next[nodes[nodes.length - 1]] >= 0) nodes.push(next[nodes[nodes.length - 1]]);
    return nodes;
  };
  const paths: ExplainedPath[] = tokens
    .filter((t) => strength[t] > 0)
    .map((t) => asPath(follow(t), strength[t]));
  for (const p of proposals) {
    const via = p.members[0];
    const head = bestPathFrom(ix, tokens, via);
    if (head.strength === 0 || strength[via] === 0) continue;
    paths.push(asPath([...head.nodes, ...follow(via).slice(1)], head.strength * strength[via]));
  }
  const seen = new Set<string>();
  const distinct = paths
    .sort((a, b) => b.strength - a.strength)
    .filter((p) => {
      const key = p.steps.join('>');
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });

  const share = (xs: readonly number[]) => (total > 0 ? reaching(influence, xs) / total : 0);
  const sources = { tokens: share(tokens), errors: share(errors) };
  const pct = (x: number) => `${Math.round(100 * x)}%`;
  const t = g.nodes[target];
  const probability = t.token_prob ?? 0;
  const lines = [
    `${nodeLabel(target)} (p = ${probability.toPrecision(2)}): ${pct(sources.tokens)} of its influence comes from the prompt's tokens, ${pct(sources.errors)} from error nodes.`,
    ...supernodes
      .slice(0, 5)
      .map((s) => `${s.id} ${s.label}: ${s.members.length} features carry ${pct(s.influence)}.`),
    ...distinct
      .slice(0, 3)
      .map((p) => `path ${p.labels.join(' → ')} (strength ${p.strength.toPrecision(2)})`),
  ];
  return {
    target: { node_id: ix.ids[target], label: nodeLabel(target), probability },
    supernodes,
    paths: distinct,
    sources,
    summary: lines.join('\n'),
    settings: { mergeThreshold: threshold },
  };
}
