/**
 * The graph explorer's components in headless Chromium: the harness (test/fixtures/graph-harness.tsx) bundled
 * with esbuild and served from a loopback server, on a synthetic graph of 5,000 nodes and 50,000 links.
 * Correctness is asserted; render time and frame rate are printed against their goals.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatGraphRender, GRAPH_CHROMIUM_ARGS, measureGraphRender } from './e2e/graph-render';
import { probabilityText } from '../src/components/graph/logit-probability.tsx';
import { webDir } from './helpers';

let outDir = '';
let server: http.Server;
let baseUrl = '';
let browser: Browser;

beforeAll(async () => {
  outDir = mkdtempSync(path.join(os.tmpdir(), 'loupe-graph-harness-'));
  await build({
    entryPoints: { 'graph-harness': path.join(webDir, 'test/fixtures/graph-harness.tsx') },
    bundle: true,
    outdir: outDir,
    format: 'esm',
    platform: 'browser',
    jsx: 'automatic',
    define: { 'process.env.NODE_ENV': '"production"' },
    minify: true,
    logLevel: 'error',
  });
  const files: Record<string, [string, string]> = {
    '/graph-harness.js': [path.join(outDir, 'graph-harness.js'), 'text/javascript'],
    '/graph-harness.css': [path.join(outDir, 'graph-harness.css'), 'text/css'],
  };
  const html = readFileSync(path.join(webDir, 'test/fixtures/graph-harness.html'));
  server = http.createServer((req, res) => {
    const file = files[new URL(req.url ?? '/', 'http://x').pathname];
    res.setHeader('content-type', file ? file[1] : 'text/html');
    res.end(file ? readFileSync(file[0]) : html);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: GRAPH_CHROMIUM_ARGS,
  });
});

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => server?.close(resolve));
  if (outDir) rmSync(outDir, { recursive: true, force: true });
});

/** A page that records every console error and uncaught exception. */
async function openPage(colorScheme: 'light' | 'dark' = 'light'): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 860 }, colorScheme });
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  return { page, errors };
}

describe('graph explorer in Chromium', () => {
  it('draws the pruned graph and answers hover, click, keyboard, labels, pins, groups and thresholds', async () => {
    const { page, errors } = await openPage();
    await page.goto(`${baseUrl}/`);
    await page.waitForFunction(
      () => window.__graphHarness?.rendered && window.__graphHarness.controller,
      null,
      {
        timeout: 90_000,
      },
    );
    await expect(page.getByRole('application', { name: 'Attribution graph' }).count()).resolves.toBe(1);

    // Everything the pruning keeps is drawn, and nothing else.
    const counts = await page.evaluate(() => {
      const h = window.__graphHarness!;
      return {
        drawn: h.controller!.drawn(),
        kept: { nodes: h.pruning.nodeCount, edges: h.pruning.edgeCount },
      };
    });
    expect(counts.drawn).toEqual(counts.kept);
    expect(counts.kept.nodes).toBeGreaterThan(100);
    expect(counts.kept.nodes).toBeLessThan(5000);
    console.log(
      `explorer harness: ${counts.drawn.nodes} nodes and ${counts.drawn.edges} edges drawn after pruning`,
    );

    // Hover the most influential kept feature: the tooltip names its layer, position and influence.
    const target = await page.evaluate(() => {
      const { view, pruning } = window.__graphHarness!;
      let best = -1;
      for (let i = 0; i < view.n; i++) {
        if (
          view.kinds[i] === 'feature' &&
          pruning.nodeMask[i] &&
          (best < 0 || view.influence[i] > view.influence[best])
        )
          best = i;
      }
      return { id: view.ids[best], layer: view.layer[best], pos: view.ctxIdx[best] };
    });
    const at = await page.evaluate((id) => window.__graphHarness!.controller!.nodePosition(id), target.id);
    expect(at).not.toBeNull();
    await page.mouse.move(at!.x, at!.y);
    const tooltip = page.getByRole('tooltip');
    await tooltip.waitFor();
    const tip = (await tooltip.textContent()) ?? '';
    expect(tip).toContain('Influence');
    expect(tip).toMatch(new RegExp(`Layer\\s*${target.layer}(?!\\d)`));
    expect(tip).toMatch(new RegExp(`Position\\s*${target.pos}(?!\\d)`));
    await page.screenshot({ path: screenshotPath('graph-hover.png') });

    // Click selects; the details list its strongest inputs, and picking one jumps there.
    await page.mouse.click(at!.x, at!.y);
    await page.waitForFunction((id) => window.__graphHarness!.selectedId === id, target.id);
    const details = page.getByRole('region', { name: 'Node details' });
    await expect(details.textContent()).resolves.toContain(target.id);
    const strongestInput = await page.evaluate((id) => {
      const { view, pruning } = window.__graphHarness!;
      const i = view.index.get(id)!;
      let best = -1;
      for (let k = view.rowPtr[i]; k < view.rowPtr[i + 1]; k++) {
        if (pruning.edgeMask[k] && (best < 0 || Math.abs(view.weights[k]) > Math.abs(view.weights[best])))
          best = k;
      }
      return view.ids[view.colIdx[best]];
    }, target.id);
    await details.getByRole('region', { name: 'Strongest inputs' }).getByRole('button').first().click();
    await page.waitForFunction((id) => window.__graphHarness!.selectedId === id, strongestInput);

    // The most probable output token: its tooltip and its panel give the model's probability, as a number and
    // as a bar on a 0–100% scale.
    const answer = await page.evaluate(() => {
      const { view } = window.__graphHarness!;
      let best = -1;
      for (let i = 0; i < view.n; i++)
        if (view.kinds[i] === 'logit' && (best < 0 || view.tokenProb[i] > view.tokenProb[best])) best = i;
      return { id: view.ids[best], p: view.tokenProb[best] };
    });
    expect(answer.p).toBeGreaterThan(0);
    const logitAt = await page.evaluate(
      (id) => window.__graphHarness!.controller!.nodePosition(id),
      answer.id,
    );
    await page.mouse.move(logitAt!.x, logitAt!.y);
    await expect
      .poll(async () => (await tooltip.textContent()) ?? '')
      .toContain(`Probability${probabilityText(answer.p)}`);
    await page.mouse.click(logitAt!.x, logitAt!.y);
    await page.waitForFunction((id) => window.__graphHarness!.selectedId === id, answer.id);
    const meter = details.getByRole('meter', { name: 'Next-token probability' });
    await expect(meter.getAttribute('aria-valuetext')).resolves.toBe(probabilityText(answer.p));
    await expect(meter.getAttribute('aria-valuenow')).resolves.toBe(String(answer.p));
    await page.screenshot({ path: screenshotPath('graph-logit.png') });

    // Keyboard: Esc clears, j walks by influence, p pins, g groups.
    await page.keyboard.press('Escape');
    await page.waitForFunction(() => window.__graphHarness!.selectedId === null);
    await page.keyboard.press('j');
    const first = await page.evaluate(() => {
      const { view, pruning } = window.__graphHarness!;
      let best = -1;
      for (let i = 0; i < view.n; i++)
        if (pruning.nodeMask[i] && (best < 0 || view.influence[i] > view.influence[best])) best = i;
      return view.ids[best];
    });
    await page.waitForFunction((id) => window.__graphHarness!.selectedId === id, first);
    await page.keyboard.press('p');
    await page.keyboard.press('j');
    await page.keyboard.press('p');
    const pinned = page.getByRole('region', { name: 'Pinned nodes' });
    await page.waitForFunction(() => window.__graphHarness!.pinnedIds.length === 2);
    await expect(pinned.getByRole('listitem').count()).resolves.toBe(2);
    await page.keyboard.press('g');
    await pinned.getByRole('group', { name: 'Group 1' }).waitFor();
    await expect(pinned.getByRole('img', { name: 'Pinned subgraph' }).count()).resolves.toBe(1);

    // The investigation's label: Enter saves it.
    const labelBox = details.getByRole('textbox', { name: 'Label' });
    await labelBox.fill('carries the one');
    await labelBox.press('Enter');
    const selected = await page.evaluate(() => window.__graphHarness!.selectedId!);
    await page.waitForFunction((id) => window.__graphHarness!.labels[id] === 'carries the one', selected);
    await labelBox.blur();

    // / searches nodes by label: the label just saved finds its node.
    await page.keyboard.press('Escape');
    await page.keyboard.press('Slash');
    const search = page.getByRole('dialog', { name: 'Search nodes' });
    await search.waitFor();
    await search.getByRole('textbox', { name: 'Search nodes' }).fill('carries the');
    await expect(
      search.getByRole('list', { name: 'Matching nodes' }).getByRole('listitem').count(),
    ).resolves.toBe(1);
    await search.getByRole('textbox', { name: 'Search nodes' }).press('Enter');
    await search.waitFor({ state: 'detached' });
    await page.waitForFunction((id) => window.__graphHarness!.selectedId === id, selected);

    // ? lists every shortcut.
    await page.keyboard.press('Shift+Slash');
    const help = page.getByRole('dialog', { name: 'Keyboard shortcuts' });
    await help.waitFor();
    await expect(help.getByRole('row').count()).resolves.toBe(7);
    await page.screenshot({ path: screenshotPath('graph-shortcuts.png') });
    await page.keyboard.press('Escape');
    await help.waitFor({ state: 'detached' });

    // A lower node threshold keeps fewer nodes, and the canvas draws exactly those.
    const before = counts.kept.nodes;
    await page.getByRole('slider', { name: 'Node threshold' }).focus();
    for (let i = 0; i < 20; i++) await page.keyboard.press('ArrowLeft');
    await page.waitForFunction((n) => window.__graphHarness!.pruning.nodeCount < n, before);
    await page.waitForFunction(() => {
      const h = window.__graphHarness!;
      return h.controller!.drawn().nodes === h.pruning.nodeCount;
    });
    await expect(page.getByRole('slider', { name: 'Edge threshold' }).count()).resolves.toBe(1);

    // The wheel zooms; the camera reaches the page's state once it rests.
    const box = (await page.getByRole('application', { name: 'Attribution graph' }).boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.wheel(0, -400);
    await page.waitForFunction(() => (window.__graphHarness!.camera?.ratio ?? 1) < 1);

    await page.mouse.move(box.x + 5, box.y + 5);
    await page.waitForTimeout(300);
    await page.screenshot({ path: screenshotPath('graph-explorer.png') });
    expect(errors).toEqual([]);
    await page.close();
  });

  it.each(['light', 'dark'] as const)(
    'labels of many marked nodes overlap neither each other nor any node; hidden ones show on hover (%s)',
    async (scheme) => {
      const { page, errors } = await openPage(scheme);
      await page.goto(`${baseUrl}/`);
      await page.waitForFunction(
        () => window.__graphHarness?.rendered && window.__graphHarness.controller,
        null,
        {
          timeout: 90_000,
        },
      );
      // The 24 most influential nodes pinned (j walks by influence, p pins), the last one left selected.
      await page.getByRole('application', { name: 'Attribution graph' }).focus();
      for (let k = 0; k < 24; k++) {
        await page.keyboard.press('j');
        await page.keyboard.press('p');
      }
      await page.waitForFunction(() => window.__graphHarness!.pinnedIds.length === 24);
      await page.waitForTimeout(300);
      const found = await page.evaluate(() => {
        const h = window.__graphHarness!;
        const c = h.controller!;
        const circles: { x: number; y: number; r: number }[] = [];
        for (let i = 0; i < h.view.n; i++) {
          const p = h.pruning.nodeMask[i] ? c.nodePosition(h.view.ids[i]) : null;
          if (p) circles.push({ x: p.x, y: p.y, r: p.radius });
        }
        const marks = [...document.querySelectorAll<HTMLElement>('[data-mark]')].filter(
          (m) => m.style.display !== 'none',
        );
        const labels = marks.map((m) => {
          const span = m.firstElementChild as HTMLElement;
          const b = span.getBoundingClientRect();
          const ring = m.getBoundingClientRect();
          return {
            text: span.textContent ?? '',
            side: span.dataset.side ?? '',
            mark: m.dataset.mark ?? '',
            box: { x0: b.left, y0: b.top, x1: b.right, y1: b.bottom },
            ring: { x: (ring.left + ring.right) / 2, y: (ring.top + ring.bottom) / 2, r: ring.width / 2 },
          };
        });
        return { circles, labels };
      });
      type B = { x0: number; y0: number; x1: number; y1: number };
      const overlap = (a: B, b: B) =>
        a.x0 < b.x1 - 0.5 && b.x0 < a.x1 - 0.5 && a.y0 < b.y1 - 0.5 && b.y0 < a.y1 - 0.5;
      const hits = (b: B, c: { x: number; y: number; r: number }) =>
        Math.hypot(c.x - Math.max(b.x0, Math.min(c.x, b.x1)), c.y - Math.max(b.y0, Math.min(c.y, b.y1))) <
        c.r - 0.5;
      expect(found.labels).toHaveLength(24);
      const shown = found.labels.filter((l) => l.side !== 'hidden');
      const hidden = found.labels.filter((l) => l.side === 'hidden');
      expect(found.labels.find((l) => l.mark === 'selected')?.side).not.toBe('hidden');
      expect(shown.length).toBeGreaterThan(1);
      for (let a = 0; a < shown.length; a++)
        for (let b = a + 1; b < shown.length; b++) expect(overlap(shown[a].box, shown[b].box)).toBe(false);
      for (const l of shown.filter((x) => x.mark !== 'selected')) {
        for (const c of found.circles) expect(hits(l.box, c)).toBe(false);
        for (const other of found.labels) if (other !== l) expect(hits(l.box, other.ring)).toBe(false);
      }
      console.log(
        `labels (${scheme}): ${shown.length} of ${found.labels.length} shown, ${hidden.length} hidden`,
      );
      await page.mouse.move(5, 5);
      await page.screenshot({ path: screenshotPath(`graph-labels-${scheme}.png`) });
      // A hidden label's node still names itself in the tooltip on hover.
      if (hidden.length > 0) {
        await page.mouse.move(hidden[0].ring.x, hidden[0].ring.y);
        await expect
          .poll(async () => (await page.getByRole('tooltip').textContent()) ?? '')
          .toContain(hidden[0].text);
      }
      expect(errors).toEqual([]);
      await page.close();
    },
  );

  it('measures first render and pan/zoom with 5,000 nodes and 50,000 edges drawn whole', async () => {
    const { page, errors } = await openPage();
    const r = await measureGraphRender(page, baseUrl);
    console.log(formatGraphRender(r));
    expect(r.panZoomFrames).toBeGreaterThan(0);
    expect(r.firstRenderMs).toBeGreaterThan(0);
    expect(r.renderer).not.toBe('none');
    await page.screenshot({ path: screenshotPath('graph-bench.png') });
    expect(errors).toEqual([]);
    await page.close();
  });
});

function screenshotPath(name: string): string {
  const dir = path.join(webDir, 'test-results');
  mkdirSync(dir, { recursive: true });
  return path.join(dir, name);
}
