import type { GraphView, ViewNodeKind } from '@loupe/core';

/** Node fill by kind; readable on both the light and the dark canvas. */
export const KIND_COLORS: Record<ViewNodeKind, string> = {
  embedding: '#2f9e6e',
  feature: '#d9962b',
  error: '#8c8f99',
  logit: '#9b59d0',
  other: '#4fa3b8',
};

export const KIND_NAMES: Record<ViewNodeKind, string> = {
  embedding: 'Embedding',
  feature: 'Feature',
  error: 'Error',
  logit: 'Logit',
  other: 'Other',
};

export const POSITIVE_RGB: readonly [number, number, number] = [59, 130, 246];
export const NEGATIVE_RGB: readonly [number, number, number] = [229, 72, 77];

/** '#rrggbb' → [r, g, b]. */
export function hexRgb(hex: string): [number, number, number] {
  const v = Number.parseInt(hex.slice(1, 7), 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

/** Blue for excitatory, red for inhibitory links; `alpha` in [0, 1]. */
export function edgeColor(weight: number, alpha: number): string {
  const [r, g, b] = weight >= 0 ? POSITIVE_RGB : NEGATIVE_RGB;
  return `rgba(${r},${g},${b},${alpha.toFixed(3)})`;
}

export function signClass(weight: number): 'positive' | 'negative' {
  return weight >= 0 ? 'positive' : 'negative';
}

/** Compact numbers for dense panels: 3 significant digits, no trailing noise. */
export function formatNumber(x: number): string {
  if (Number.isNaN(x)) return '—';
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1e4 || a < 1e-3) return x.toExponential(2);
  return String(Number(x.toPrecision(3)));
}

/** A node's layer as the panels show it: embeddings and logits sit below and above every layer. */
export function layerText(view: GraphView, i: number): string {
  const kind = view.kinds[i];
  if (kind === 'embedding') return 'embedding';
  if (kind === 'logit') return 'output';
  return view.layer[i] < 0 ? '—' : String(view.layer[i]);
}
