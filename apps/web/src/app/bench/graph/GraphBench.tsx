'use client';

import { buildGraphView, syntheticGraphJson } from '@loupe/core';
import { useEffect, useMemo, useRef, useState } from 'react';
import { GraphCanvas, type GraphCanvasController, type GraphRenderStats } from '@/components/graph';

/** What the benchmark leaves on window.__graphBench for the e2e suite. */
export interface GraphBenchResult {
  nodes: number;
  edges: number;
  /** From the start of building the view (graph JSON in memory) to the first frame drawn. */
  firstRenderMs: number;
  /** Of firstRenderMs, the part spent building the view (links to CSR, influence); the rest is layout and GL. */
  viewMs: number;
  /** From navigation start to the first frame drawn. */
  sincePageStartMs: number;
  /** Frames drawn per second while the camera pans and zooms continuously. */
  panZoomFps: number;
  panZoomFrames: number;
  panZoomMs: number;
  /** The WebGL renderer the browser reports (SwiftShader when there is no GPU). */
  renderer: string;
}

declare global {
  interface Window {
    __graphBench?: GraphBenchResult;
  }
}

function webglRenderer(): string {
  const gl = document.createElement('canvas').getContext('webgl2');
  if (!gl) return 'none';
  const ext = gl.getExtension('WEBGL_debug_renderer_info');
  return String(gl.getParameter(ext ? ext.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
}

function nextFrame(): Promise<void> {
  return new Promise((resolve) => requestAnimationFrame(() => resolve()));
}

/** Pans in a circle while zooming in and out, one camera step per animation frame, counting drawn frames. */
function panZoom(ctl: GraphCanvasController, durationMs: number): Promise<{ frames: number; ms: number }> {
  return new Promise((resolve) => {
    let frames = 0;
    const off = ctl.onFrame(() => {
      frames++;
    });
    const start = performance.now();
    const step = (now: number) => {
      const t = (now - start) / durationMs;
      if (t >= 1) {
        off();
        ctl.setCamera({ x: 0.5, y: 0.5, ratio: 1 });
        resolve({ frames, ms: now - start });
        return;
      }
      const a = t * 2 * Math.PI;
      ctl.setCamera({
        x: 0.5 + 0.2 * Math.cos(a),
        y: 0.5 + 0.2 * Math.sin(a),
        ratio: 0.45 + 0.4 * Math.cos(2 * a) ** 2,
      });
      requestAnimationFrame(step);
    };
    requestAnimationFrame(step);
  });
}

export function GraphBench({ nodes, links, seed = 1 }: { nodes: number; links: number; seed?: number }) {
  const json = useMemo(() => syntheticGraphJson({ nodes, links, seed }), [nodes, links, seed]);
  const started = useRef(0);
  const firstFrame = useRef(0);
  const viewMs = useRef(0);
  const view = useMemo(() => {
    started.current = performance.now();
    const v = buildGraphView(json);
    viewMs.current = performance.now() - started.current;
    return v;
  }, [json]);
  const controller = useRef<GraphCanvasController>(null);
  const [result, setResult] = useState<GraphBenchResult | null>(null);
  const [stats, setStats] = useState<GraphRenderStats | null>(null);

  useEffect(() => {
    const ctl = controller.current;
    if (!stats || !ctl) return;
    let cancelled = false;
    // A frame is on screen when the next one can start: the second animation frame after the draw call.
    nextFrame()
      .then(nextFrame)
      .then(() => {
        firstFrame.current = performance.now();
        return panZoom(ctl, 3000);
      })
      .then(({ frames, ms }) => {
        if (cancelled) return;
        const r: GraphBenchResult = {
          nodes: stats.nodes,
          edges: stats.edges,
          firstRenderMs: Math.round(firstFrame.current - started.current),
          viewMs: Math.round(viewMs.current),
          sincePageStartMs: Math.round(firstFrame.current),
          panZoomFps: Math.round((frames / ms) * 1000 * 10) / 10,
          panZoomFrames: frames,
          panZoomMs: Math.round(ms),
          renderer: webglRenderer(),
        };
        window.__graphBench = r;
        setResult(r);
      });
    return () => {
      cancelled = true;
    };
  }, [stats]);

  return (
    <div style={{ display: 'grid', gridTemplateRows: '1fr auto', height: '100vh' }}>
      <GraphCanvas
        controller={controller}
        view={view}
        selectedId={null}
        pinnedIds={[]}
        onSelect={() => {}}
        onRendered={(s) => setStats((prev) => prev ?? s)}
      />
      <output
        aria-label="Benchmark result"
        style={{ padding: '4px 8px', fontFamily: 'monospace', fontSize: 12 }}
      >
        {result
          ? `${result.nodes} nodes, ${result.edges} edges: first render ${result.firstRenderMs} ms, pan/zoom ${result.panZoomFps} fps (${result.renderer})`
          : 'measuring…'}
      </output>
    </div>
  );
}
