/**
 * The graph-rendering benchmark as the e2e suite runs it: open /bench/graph (5,000 nodes, 50,000 edges drawn
 * whole), wait for the figures the page leaves on window.__graphBench, and print them beside the goals.
 */
import type { Page } from 'playwright-core';
import type { GraphBenchResult } from '../../src/app/bench/graph/GraphBench';

/**
 * Chromium flags under which WebGL2 runs on SwiftShader with no GPU. With --disable-gpu the WebGL canvas is
 * composited in software, which moves a drawn frame several times faster than --use-angle=swiftshader does.
 */
export const GRAPH_CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export const GRAPH_RENDER_GOALS = { firstRenderMs: 2000, panZoomFps: 30 } as const;

export type { GraphBenchResult };

export async function measureGraphRender(
  page: Page,
  baseUrl: string,
  timeoutMs = 120_000,
): Promise<GraphBenchResult> {
  await page.goto(`${baseUrl.replace(/\/$/, '')}/bench/graph`);
  await page.waitForFunction(() => window.__graphBench !== undefined, null, { timeout: timeoutMs });
  const r = await page.evaluate(() => window.__graphBench!);
  if (r.nodes !== 5000 || r.edges !== 50000) {
    throw new Error(`the benchmark drew ${r.nodes} nodes and ${r.edges} edges, not 5000 and 50000`);
  }
  return r;
}

/** One line for the test log: the figures, the goals, and whether each is met. */
export function formatGraphRender(r: GraphBenchResult): string {
  const first = r.firstRenderMs <= GRAPH_RENDER_GOALS.firstRenderMs ? 'met' : 'MISSED';
  const fps = r.panZoomFps >= GRAPH_RENDER_GOALS.panZoomFps ? 'met' : 'MISSED';
  return (
    `graph render, ${r.nodes} nodes / ${r.edges} edges: first render ${r.firstRenderMs} ms ` +
    `(goal < ${GRAPH_RENDER_GOALS.firstRenderMs} ms: ${first}; view ${r.viewMs} ms), pan/zoom ${r.panZoomFps} fps over ` +
    `${r.panZoomFrames} frames (goal ≥ ${GRAPH_RENDER_GOALS.panZoomFps}: ${fps}); WebGL: ${r.renderer}`
  );
}
