/**
 * The figures of docs/concepts.md, computed from organism-s and its shipped transcoders (PLT and CLT) on
 * "36+59=", and written as SVG into docs/img/concepts/. Run `pnpm --filter @loupe/docs figures` after the
 * organism, its dictionaries or the attribution change.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type AttributionGraph,
  attribute,
  computeGraphScores,
  createGraphJson,
  type Dictionary,
  graphLayout,
  INTERVENTION_MODES,
  Intervener,
  loadCheckpoint,
  loadDictionary,
  logitWeights,
  Model,
  nodeAt,
  nodeInfluence,
  prepareTokens,
  type TopToken,
} from '@loupe/core';
import { nodeFiles, nodeRuntime } from '@loupe/core/node';

const PROMPT = '36+59=';
const models = join(import.meta.dirname, '../../packages/organism/models/organism-s');
const outDir = join(import.meta.dirname, '../img/concepts');

// ---- a minimal SVG writer: every figure is a few rects, lines and labels.

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const n2 = (x: number) => Number(x.toFixed(1));
const text = (x: number, y: number, s: string, attrs = '') =>
  `<text x="${n2(x)}" y="${n2(y)}" ${attrs}>${esc(s)}</text>`;
const rect = (x: number, y: number, w: number, h: number, fill: string, attrs = '') =>
  `<rect x="${n2(x)}" y="${n2(y)}" width="${n2(w)}" height="${n2(h)}" fill="${fill}" ${attrs}/>`;
const line = (x1: number, y1: number, x2: number, y2: number, stroke: string, attrs = '') =>
  `<line x1="${n2(x1)}" y1="${n2(y1)}" x2="${n2(x2)}" y2="${n2(y2)}" stroke="${stroke}" ${attrs}/>`;

function svg(w: number, h: number, title: string, body: string[]): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="Inter, Helvetica, Arial, sans-serif" font-size="12">
<title>${esc(title)}</title>
${rect(0, 0, w, h, '#ffffff')}
${text(16, 22, title, 'font-size="14" font-weight="600"')}
${body.join('\n')}
</svg>
`;
}

const BLUE = '#2563eb';
const RED = '#dc2626';
const GREY = '#9ca3af';
const INK = '#111827';

/** Horizontal probability bars: one row per token, one bar per series. */
function probabilityBars(title: string, series: { name: string; color: string; tokens: TopToken[] }[]) {
  // Tokens above 1% in some series: the rest would be empty rows.
  const shown = (s: { tokens: TopToken[] }) => s.tokens.filter((t) => t.prob >= 0.01);
  const tokens = [...new Set(series.flatMap((s) => shown(s).map((t) => t.token ?? String(t.id))))];
  const rowH = 14 * series.length + 10;
  const left = 70;
  const width = 420;
  const h = 60 + tokens.length * rowH + 20 * series.length;
  const body: string[] = [];
  tokens.forEach((tok, r) => {
    const y0 = 44 + r * rowH;
    body.push(
      text(left - 8, y0 + rowH / 2, JSON.stringify(tok), 'text-anchor="end" dominant-baseline="middle"'),
    );
    series.forEach((s, k) => {
      const p = s.tokens.find((t) => (t.token ?? String(t.id)) === tok)?.prob ?? 0;
      body.push(rect(left, y0 + k * 14, width * p, 12, s.color));
      body.push(text(left + width * p + 4, y0 + k * 14 + 10, `${(100 * p).toFixed(1)}%`, 'font-size="10"'));
    });
  });
  series.forEach((s, k) => {
    const y = h - 12 - 18 * (series.length - 1 - k);
    body.push(rect(left, y - 10, 12, 12, s.color), text(left + 18, y, s.name));
  });
  return svg(left + width + 70, h, title, body);
}

// ---- the figures

/** Active features per layer and position: the dictionary's sparse code of the prompt. */
function activeFeatureGrid(graph: AttributionGraph, tokens: string[], width: number): string {
  const L = graph.model.nLayers;
  const T = tokens.length;
  const counts = Array.from({ length: L }, () => new Array<number>(T).fill(0));
  for (let i = 0; i < graph.activeFeatures.length; i += 3)
    counts[graph.activeFeatures[i]][graph.activeFeatures[i + 1]]++;
  const max = Math.max(...counts.flat());
  const cell = 58;
  const left = 80;
  const top = 44;
  const body: string[] = [];
  for (let l = 0; l < L; l++) {
    const y = top + (L - 1 - l) * cell;
    body.push(text(left - 10, y + cell / 2, `layer ${l}`, 'text-anchor="end" dominant-baseline="middle"'));
    for (let t = 0; t < T; t++) {
      const v = counts[l][t];
      const shade = Math.round(245 - 170 * (v / max));
      body.push(rect(left + t * cell, y, cell - 3, cell - 3, `rgb(${shade},${shade + 5},255)`));
      body.push(
        text(
          left + t * cell + (cell - 3) / 2,
          y + cell / 2,
          String(v),
          'text-anchor="middle" dominant-baseline="middle"',
        ),
      );
    }
  }
  for (const [t, tok] of tokens.entries()) {
    body.push(
      text(
        left + t * cell + (cell - 3) / 2,
        top + L * cell + 14,
        JSON.stringify(tok),
        'text-anchor="middle"',
      ),
    );
  }
  const caption = `active features per layer and position, of ${width} per layer`;
  body.push(text(16, top + L * cell + 40, caption, `fill="${INK}"`));
  return svg(
    Math.max(left + T * cell + 20, 420),
    top + L * cell + 50,
    `${PROMPT} on organism-s: the PLT's active features`,
    body,
  );
}

/** The pruned graph: tokens across, layers up; features as circles, logits on top; links by sign. */
function prunedGraph(graph: AttributionGraph, decode: (id: number) => string): string {
  const json = createGraphJson(graph, { slug: 'concepts', scan: 'organism-s/plt', decodeToken: decode });
  const L = graph.model.nLayers;
  const T = graph.inputTokens.length;
  const perRow = 12;
  const rowH = 80;
  const left = 40;
  const top = 50;
  const levelOf = (n: (typeof json.nodes)[number]) =>
    n.feature_type === 'embedding' ? 0 : n.feature_type === 'logit' ? L + 1 : Number(n.layer) + 1;
  // Each node's slot in its (level, position) cell, and each position's column width from its fullest cell.
  const slot = new Map<string, number>();
  const filled = new Map<string, number>();
  const colW = new Array<number>(T).fill(70);
  for (const n of json.nodes) {
    const key = `${levelOf(n)}:${n.ctx_idx}`;
    const k = filled.get(key) ?? 0;
    filled.set(key, k + 1);
    slot.set(n.node_id, k);
    const step = n.feature_type === 'logit' ? 70 : 13;
    colW[n.ctx_idx] = Math.max(colW[n.ctx_idx], Math.min(k + 1, perRow) * step + 30);
  }
  const colX = colW.map((_, t) => left + colW.slice(0, t).reduce((a, b) => a + b, 0));
  const yOf = (level: number) => top + (L + 1 - level) * rowH + 20;
  const pos = new Map<string, [number, number]>();
  for (const n of json.nodes) {
    const k = slot.get(n.node_id) as number;
    const level = levelOf(n);
    const x = colX[n.ctx_idx] + 10 + (n.feature_type === 'logit' ? k * 70 : (k % perRow) * 13);
    pos.set(n.node_id, [x, yOf(level) - Math.floor(k / perRow) * 13]);
  }
  const right = colX[T - 1] + colW[T - 1];
  const maxW = Math.max(...json.links.map((l) => Math.abs(l.weight)));
  const body: string[] = [];
  for (let level = 0; level <= L + 1; level++) {
    const label = level === 0 ? 'tokens' : level === L + 1 ? 'logits' : `layer ${level - 1}`;
    body.push(line(left, yOf(level) + 9, right, yOf(level) + 9, '#e5e7eb'));
    body.push(text(right + 6, yOf(level) + 4, label, `fill="${GREY}"`));
  }
  for (const lk of [...json.links].sort((a, b) => Math.abs(a.weight) - Math.abs(b.weight))) {
    const a = pos.get(lk.source);
    const b = pos.get(lk.target);
    if (!a || !b) continue;
    const w = Math.abs(lk.weight) / maxW;
    const style = `stroke-opacity="${n2(0.12 + 0.6 * w)}" stroke-width="${n2(0.4 + 2.5 * w)}"`;
    body.push(line(a[0], a[1], b[0], b[1], lk.weight > 0 ? BLUE : RED, style));
  }
  for (const n of json.nodes) {
    const [x, y] = pos.get(n.node_id) as [number, number];
    if (n.feature_type === 'logit') {
      body.push(rect(x - 5, y - 5, 10, 10, '#f59e0b'));
      body.push(text(x, y - 10, n.clerp.replace(/^Output /, ''), 'font-size="10" text-anchor="middle"'));
    } else if (n.feature_type === 'embedding') {
      body.push(rect(x - 5, y - 5, 10, 10, '#6b7280'));
    } else {
      body.push(`<circle cx="${n2(x)}" cy="${n2(y)}" r="4.5" fill="#ffffff" stroke="${INK}"/>`);
    }
  }
  for (const [t, id] of graph.inputTokens.entries()) {
    body.push(text(colX[t] + 5, yOf(0) + 28, JSON.stringify(decode(id)), 'font-weight="600"'));
  }
  const caption = `${json.nodes.length} nodes and ${json.links.length} links kept of ${graph.adjacency.n} nodes; blue links excite, red inhibit`;
  body.push(text(left, yOf(0) + 52, caption, `fill="${INK}"`));
  return svg(right + 70, yOf(0) + 66, `${PROMPT}: the pruned attribution graph (organism-s, PLT)`, body);
}

/** How much of the logits' influence each kind of node carries, per layer, for PLT and CLT. */
function influenceByKind(graphs: { name: string; graph: AttributionGraph }[]): string {
  const body: string[] = [];
  const left = 90;
  const barW = 300;
  let y = 50;
  for (const { name, graph } of graphs) {
    const layout = graphLayout(graph);
    const influence = nodeInfluence(
      graph.adjacency,
      logitWeights(graph.adjacency.n, graph.logitProbabilities),
    );
    const L = layout.nLayers;
    const features = new Array<number>(L).fill(0);
    const errors = new Array<number>(L).fill(0);
    let tokens = 0;
    for (let i = 0; i < graph.adjacency.n; i++) {
      const ref = nodeAt(layout, i);
      if (ref.kind === 'feature')
        features[graph.activeFeatures[3 * graph.selectedFeatures[ref.selected]]] += influence[i];
      else if (ref.kind === 'error') errors[ref.layer] += influence[i];
      else if (ref.kind === 'token') tokens += influence[i];
    }
    const total = tokens + features.reduce((a, b) => a + b) + errors.reduce((a, b) => a + b);
    const scores = computeGraphScores(graph.adjacency, layout, graph.logitProbabilities);
    body.push(
      text(
        16,
        y + 4,
        `${name}: replacement score ${scores.replacement.toFixed(3)}, completeness ${scores.completeness.toFixed(3)}`,
        'font-weight="600"',
      ),
    );
    y += 14;
    const rows: [string, number, number][] = [
      ...features.map((f, l): [string, number, number] => [`layer ${l}`, f, errors[l]]),
      ['tokens', tokens, 0],
    ];
    const widest = Math.max(...rows.map(([, f, e]) => f + e));
    const pct = (v: number) => `${((100 * v) / total).toFixed(1)}%`;
    for (const [label, f, e] of rows) {
      body.push(text(left - 8, y + 9, label, 'text-anchor="end"'));
      body.push(rect(left, y, (barW * f) / widest, 12, BLUE));
      body.push(rect(left + (barW * f) / widest, y, (barW * e) / widest, 12, RED));
      const note = label === 'tokens' ? pct(f) : `${pct(f)} features, ${pct(e)} errors`;
      body.push(text(left + (barW * (f + e)) / widest + 6, y + 10, note, 'font-size="10"'));
      y += 16;
    }
    y += 22;
  }
  body.push(rect(left, y - 10, 12, 12, BLUE), text(left + 18, y, 'features (and tokens)'));
  body.push(rect(left + 170, y - 10, 12, 12, RED), text(left + 188, y, 'error nodes'));
  return svg(left + barW + 190, y + 16, `${PROMPT}: where the influence on the logits comes from`, body);
}

/** The ranked nodes' cumulative influence and the node threshold pruning keeps. */
function pruningCurve(graph: AttributionGraph, threshold: number): string {
  const influence = nodeInfluence(graph.adjacency, logitWeights(graph.adjacency.n, graph.logitProbabilities));
  const sorted = [...influence].sort((a, b) => b - a);
  const total = sorted.reduce((a, b) => a + b, 0);
  const left = 60;
  const top = 44;
  const w = 440;
  const h = 200;
  const shown =
    sorted.findIndex((_, i) => sorted.slice(0, i + 1).reduce((a, b) => a + b, 0) / total >= 0.999) + 1;
  let cum = 0;
  const pts = sorted.slice(0, shown).map((v, i) => {
    cum += v / total;
    return `${n2(left + (w * (i + 1)) / shown)},${n2(top + h * (1 - cum))}`;
  });
  let kept = 0;
  for (let c = 0; kept < sorted.length && c < threshold; kept++) c += sorted[kept] / total;
  const xk = left + (w * kept) / shown;
  const body = [
    line(left, top + h, left + w, top + h, INK),
    line(left, top, left, top + h, INK),
    `<polyline points="${pts.join(' ')}" fill="none" stroke="${BLUE}" stroke-width="2"/>`,
    line(left, top + h * (1 - threshold), left + w, top + h * (1 - threshold), RED, 'stroke-dasharray="4 3"'),
    line(xk, top, xk, top + h, RED, 'stroke-dasharray="4 3"'),
    text(
      xk + 6,
      top + h * (1 - threshold) + 16,
      `node threshold ${threshold}: the top ${kept} nodes`,
      `fill="${RED}"`,
    ),
    text(left - 6, top + 4, '1', 'text-anchor="end"'),
    text(left - 6, top + h, '0', 'text-anchor="end"'),
    text(
      left + w / 2,
      top + h + 30,
      `nodes ranked by influence on the logits (first ${shown} of ${sorted.length})`,
      'text-anchor="middle"',
    ),
    text(left - 40, top + h / 2, 'cumulative', 'text-anchor="middle" transform="rotate(-90 20 144)"'),
  ];
  return svg(left + w + 30, top + h + 44, `${PROMPT}: cumulative influence, and what pruning keeps`, body);
}

async function main(): Promise<void> {
  const files = nodeFiles();
  const ckpt = await loadCheckpoint(models, files);
  const runtime = nodeRuntime();
  const dicts: Dictionary[] = [];
  try {
    const model = await Model.create(ckpt.config, ckpt.weights, ckpt.tokenizer, runtime);
    const decode = (id: number) => ckpt.tokenizer?.decode([id]) ?? String(id);
    const graphs: { name: string; graph: AttributionGraph; dict: Dictionary }[] = [];
    for (const kind of ['plt', 'clt']) {
      const dict = await loadDictionary(join(models, `dictionaries/${kind}-2048`), files);
      dicts.push(dict);
      const graph = await attribute(model, dict, { text: PROMPT }, { modelName: 'organism-s' });
      graphs.push({ name: kind.toUpperCase(), graph, dict });
    }
    const [plt] = graphs;
    const tokens = [...plt.graph.inputTokens].map(decode);
    const iv = Intervener.create(model, plt.dict);
    const promptTokens = prepareTokens({ text: PROMPT }, ckpt.config.dVocab, ckpt.tokenizer);
    const cmp = await iv.compareModes(
      promptTokens,
      { features: [{ layer: 3, pos: 4, feature: 1457, value: 0 }] },
      [...INTERVENTION_MODES],
      { topK: 4 },
    );
    const last = (r: (typeof cmp.runs)[number]) => r.report.positions[r.report.positions.length - 1];
    const colors = ['#f59e0b', '#7c3aed', '#059669'];
    const figures: Record<string, string> = {
      'active-features.svg': activeFeatureGrid(plt.graph, tokens, plt.dict.dTc),
      'attribution-graph.svg': prunedGraph(plt.graph, decode),
      'influence-by-kind.svg': influenceByKind(graphs),
      'pruning.svg': pruningCurve(plt.graph, 0.8),
      'intervention-modes.svg': probabilityBars(`${PROMPT}: L3 feature 1457 at "=" set to 0`, [
        { name: 'clean', color: GREY, tokens: last(cmp.runs[0]).clean },
        ...cmp.runs.map((r, i) => ({ name: r.report.mode, color: colors[i], tokens: last(r).intervened })),
      ]),
    };
    mkdirSync(outDir, { recursive: true });
    for (const [name, body] of Object.entries(figures)) {
      writeFileSync(join(outDir, name), body);
      console.log(`docs/img/concepts/${name}: ${body.length} bytes`);
    }
  } finally {
    for (const d of dicts) await d.close();
    await runtime.release();
  }
}

await main();
