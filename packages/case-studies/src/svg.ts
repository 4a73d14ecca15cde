/**
 * A small static picture of an attribution graph for the docs: prompt tokens across, layers up, the most
 * influential feature nodes plus every supernode member, the strongest edges between the drawn nodes
 * (blue excitatory, red inhibitory), supernodes coloured with a legend.
 */
import { adjacencyEntry, graphLayout, logitNodeIndex, tokenNodeIndex } from '@loupe/core';
import type { GraphFeature, TracedGraph } from './query.ts';

export interface Supernode {
  label: string;
  /** Keys `layer:pos:feature`. */
  members: ReadonlySet<string>;
}

const COLORS = ['#d95f02', '#1b9e77', '#7570b3', '#e7298a', '#66a61e', '#e6ab02'];
const esc = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
export const nodeKey = (f: { layer: number; pos: number; feature: number }) =>
  `${f.layer}:${f.pos}:${f.feature}`;

interface Placed {
  node: number;
  x: number;
  y: number;
  color: string;
  r: number;
}

export function graphSvg(
  t: TracedGraph,
  decode: (ids: number[]) => string,
  supernodes: readonly Supernode[],
  { topNodes = 24, topEdges = 60, title }: { topNodes?: number; topEdges?: number; title: string },
): string {
  const layout = graphLayout(t.graph);
  const T = layout.nPos;
  const L = layout.nLayers;
  const rowH = 62;
  const left = 30;
  const top = 70;
  const legendH = 18 * supernodes.length + 10;
  const height = top + rowH * (L + 1) + 60 + legendH;
  const yOfLayer = (l: number) => top + rowH * (L - l);
  const groupOf = (f: GraphFeature) => supernodes.findIndex((g) => g.members.has(nodeKey(f)));
  const drawn = t.features.filter((f, i) => i < topNodes || groupOf(f) >= 0);
  // Each token's column is as wide as its busiest layer needs, so crowded positions stay readable.
  const busiest = new Array<number>(T).fill(0);
  const counts = new Map<string, number>();
  for (const f of drawn) {
    const c = (counts.get(`${f.layer}:${f.pos}`) ?? 0) + 1;
    counts.set(`${f.layer}:${f.pos}`, c);
    busiest[f.pos] = Math.max(busiest[f.pos], c);
  }
  const colW = busiest.map((c) => Math.max(80, Math.min(24 + 14 * c, 300)));
  const colX = colW.map((_, p) => left + colW.slice(0, p).reduce((a, b) => a + b, 0));
  const width = left * 2 + colW.reduce((a, b) => a + b, 0) + 60;
  const xOfPos = (p: number) => colX[p] + colW[p] / 2;
  const placed: Placed[] = [];
  const perCell = new Map<string, number>();
  for (const f of drawn) {
    const cell = `${f.layer}:${f.pos}`;
    const k = perCell.get(cell) ?? 0;
    perCell.set(cell, k + 1);
    const g = groupOf(f);
    placed.push({
      node: f.node,
      x: colX[f.pos] + 12 + ((k * 14) % (colW[f.pos] - 20)),
      y: yOfLayer(f.layer) - 8 - 12 * Math.floor((k * 14) / (colW[f.pos] - 20)),
      color: g >= 0 ? COLORS[g % COLORS.length] : '#9a9a9a',
      r: g >= 0 ? 5 : 4,
    });
  }
  for (let p = 0; p < T; p++)
    placed.push({
      node: tokenNodeIndex(layout, p),
      x: xOfPos(p),
      y: top + rowH * (L + 1) - 10,
      color: '#444',
      r: 4,
    });
  for (let k = 0; k < layout.nLogits; k++)
    placed.push({ node: logitNodeIndex(layout, k), x: xOfPos(T - 1), y: top - 30, color: '#000', r: 6 });
  const edges: { a: Placed; b: Placed; w: number }[] = [];
  for (const target of placed) {
    for (const source of placed) {
      if (source === target) continue;
      const w = adjacencyEntry(t.graph.adjacency, target.node, source.node);
      if (w !== 0) edges.push({ a: source, b: target, w });
    }
  }
  edges.sort((x, y) => Math.abs(y.w) - Math.abs(x.w));
  const kept = edges.slice(0, topEdges);
  const maxW = kept.length > 0 ? Math.abs(kept[0].w) : 1;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="${left}" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`,
  );
  for (let l = 0; l < L; l++)
    out.push(
      `<text x="4" y="${yOfLayer(l) - 4}" fill="#888" font-size="10">L${l}</text>`,
      `<line x1="${left}" x2="${width - left}" y1="${yOfLayer(l)}" y2="${yOfLayer(l)}" stroke="#eee"/>`,
    );
  for (const e of kept.reverse()) {
    const op = (0.15 + (0.85 * Math.abs(e.w)) / maxW).toFixed(2);
    out.push(
      `<line x1="${e.a.x.toFixed(1)}" y1="${e.a.y.toFixed(1)}" x2="${e.b.x.toFixed(1)}" y2="${e.b.y.toFixed(1)}" stroke="${e.w > 0 ? '#2166ac' : '#b2182b'}" stroke-opacity="${op}" stroke-width="${(0.5 + (2.5 * Math.abs(e.w)) / maxW).toFixed(2)}"/>`,
    );
  }
  for (const p of placed)
    out.push(`<circle cx="${p.x.toFixed(1)}" cy="${p.y.toFixed(1)}" r="${p.r}" fill="${p.color}"/>`);
  for (let p = 0; p < T; p++)
    out.push(
      `<text x="${xOfPos(p)}" y="${top + rowH * (L + 1) + 10}" text-anchor="middle">${esc(JSON.stringify(decode([t.graph.inputTokens[p]])))}</text>`,
    );
  out.push(
    `<text x="${xOfPos(T - 1) + 12}" y="${top - 26}">${esc(Array.from({ length: layout.nLogits }, (_, k) => t.graph.logitTargets[k].tokenStr).join(', '))}</text>`,
  );
  supernodes.forEach((g, i) => {
    const y = top + rowH * (L + 1) + 40 + 18 * i;
    out.push(
      `<circle cx="${left + 6}" cy="${y - 4}" r="5" fill="${COLORS[i % COLORS.length]}"/>`,
      `<text x="${left + 16}" y="${y}">${esc(g.label)} (${g.members.size} nodes)</text>`,
    );
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
