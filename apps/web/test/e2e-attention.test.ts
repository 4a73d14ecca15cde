import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { GraphJson } from '@loupe/core';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from './e2e/api.ts';
import { GRAPH_CHROMIUM_ARGS } from './e2e/graph-render.ts';
import { watchPage } from './e2e/watch.ts';
import { chromiumPath, repoRoot, startWeb, webDir } from './helpers.ts';

// Attention and inhibition in the workspace, in a real browser against the production build: the CLI traces
// 36+59= on organism-s with two QK requests (an explicit edge and the top edges into the answer's logit) and
// inactive features; the file is opened through the team page's upload; the recorded attention edges are listed,
// a query-side node's panel shows the edge's query × key bars, a feature in them selects that node, and an
// inactive feature is drawn and explained.

const shots = path.join(webDir, 'test-results', 'e2e-attention');

async function shot(page: Page, name: string) {
  await page.screenshot({ path: path.join(shots, `${name}.png`) });
}

/** The `node` parameter of the explorer's URL. */
function selectedNode(page: Page): string | null {
  return new URL(page.url()).searchParams.get('node');
}

describe.runIf(existsSync(chromiumPath))(
  'attention edges and inactive features (production build, Chromium)',
  () => {
    let web: Awaited<ReturnType<typeof startWeb>>;
    let browser: Browser;
    let context: BrowserContext;
    let teamId: string;
    const file = path.join(shots, 'qk-inactive.json');
    let graph: GraphJson;

    beforeAll(async () => {
      mkdirSync(shots, { recursive: true });
      // The answer's logit is "95" (vocab 100 at the last position, layer L + 1 = 5) on organism-s.
      await promisify(execFile)(
        'pnpm',
        [
          'loupe',
          'attribute',
          '--model',
          'organism-s',
          '--transcoders',
          'organism-s/plt',
          '--prompt',
          '36+59=',
          '--qk',
          '1:0:4:2',
          '--qk-into',
          '5_100_4',
          '--qk-top',
          '2',
          '--include-inactive',
          '2',
          '--top-features',
          '0',
          '--out',
          file,
        ],
        { cwd: repoRoot },
      );
      graph = JSON.parse(readFileSync(file, 'utf8')) as GraphJson;
      web = await startWeb({ LOUPE_AUTO_INDEX: '0', LOUPE_EXAMPLES: '0' });
      browser = await chromium.launch({
        executablePath: chromiumPath,
        headless: true,
        args: GRAPH_CHROMIUM_ARGS,
      });
      context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
      await call(context.request, web.url, 'auth.signUp', {
        email: 'ada@example.com',
        password: 'correct horse battery',
        name: 'Ada Attention',
      });
      ({ id: teamId } = await call<{ id: string }>(context.request, web.url, 'teams.create', {
        name: 'Heads',
      }));
    }, 300_000);

    afterAll(async () => {
      await browser?.close();
      await web?.stop();
    });

    it('lists the QK edges, shows a query node’s pairs as bars, selects a feature from them, explains an inactive one', async () => {
      const qk = graph.loupe?.qk ?? [];
      const inactive = graph.nodes.filter((nd) => nd.inactive);
      expect(qk.length).toBe(3);
      expect(inactive.length).toBeGreaterThan(0);
      const problems: string[] = [];
      const page = await context.newPage();
      watchPage(page, problems);
      await page.goto(`${web.url}/t/${teamId}`);
      await page.getByLabel('Graph JSON file').setInputFiles(file);
      await page.waitForURL(/\/i\/[0-9a-f-]{36}/);
      await page.getByRole('application', { name: 'Attribution graph' }).waitFor({ timeout: 60_000 });

      // The graph-level list names every recorded edge by head and positions.
      const list = page.getByRole('region', { name: 'Attention edges' });
      await expect.poll(() => list.getByRole('listitem').count()).toBe(3);
      expect(await list.getByRole('heading').textContent()).toBe('Attention edges (3)');
      expect(await list.textContent()).toContain('L1 H0 · 4 “=” → 2 “+”');
      // The inactive features are in the legend and drawn.
      expect(await page.locator('[aria-hidden="true"]').getByText('Inactive', { exact: true }).count()).toBe(
        1,
      );
      await shot(page, '01-uploaded');

      // An edge ranked into the answer's logit: clicking it selects that node, whose panel shows the edge.
      const into = qk.find((e) => e.into && e.layer === 0) ?? qk.find((e) => e.into);
      if (!into?.into) throw new Error('no edge ranked into 5_100_4');
      await list
        .getByRole('button', { name: new RegExp(`^L${into.layer} H${into.head} · `) })
        .first()
        .click();
      await expect.poll(() => selectedNode(page)).toBe('5_100_4');
      const details = page.getByRole('region', { name: 'Node details' });
      const attention = details.getByRole('region', { name: 'Attention' });
      await attention.waitFor();
      expect(await attention.textContent()).toContain('carries into this node');

      // A query node: a source on the query side of a recorded edge, held by the graph. Its panel shows that edge
      // with the query × key pairs as signed bars.
      const query = qk.flatMap((e) => e.pairs.map((p) => p.q)).find((s) => s.in_graph && s.node_id);
      if (!query?.node_id) throw new Error('no query-side source in the graph');
      await page.goto(`${page.url().split('?')[0]}?node=${query.node_id}`);
      await attention.waitFor({ timeout: 60_000 });
      await expect.poll(() => details.textContent()).toContain(query.node_id);
      expect(await attention.textContent()).toContain('this node is on the query side');
      const pairs = attention.getByRole('list', { name: 'Query × key pairs' }).first().getByRole('listitem');
      expect(await pairs.count()).toBeGreaterThan(0);
      const bars = await attention.locator('[class*="qkBar"] > i').evaluateAll((els) =>
        els.map((el) => ({
          width: (el as HTMLElement).getBoundingClientRect().width,
          color: getComputedStyle(el).backgroundColor,
        })),
      );
      // One bar per pair, the longest at full length, coloured by sign as the graph's edges are.
      expect(bars.length).toBe(
        await attention.getByRole('list', { name: 'Query × key pairs' }).getByRole('listitem').count(),
      );
      expect(Math.max(...bars.map((b) => b.width))).toBeGreaterThan(40);
      for (const b of bars) expect(['rgb(59, 130, 246)', 'rgb(229, 72, 77)']).toContain(b.color);
      await shot(page, '02-query-node-attention');

      // Clicking another node in the pairs selects it in the graph.
      const ids = await attention
        .getByRole('list', { name: 'Query × key pairs' })
        .getByRole('button')
        .evaluateAll((els) => els.map((el) => el.getAttribute('title') ?? ''));
      const otherId = ids.find((id) => id !== '' && id !== query.node_id);
      if (!otherId) throw new Error(`no other node among the pairs: ${ids.join(', ')}`);
      await attention.locator(`button[title="${otherId}"]`).first().click();
      await expect.poll(() => selectedNode(page)).toBe(otherId);
      await expect.poll(() => details.textContent()).toContain(otherId);
      await shot(page, '03-picked-from-pairs');

      // An inactive feature the kept nodes inhibit: its panel says so and names what inhibits it.
      const inhibited = graph.loupe?.inactive?.targets
        .slice()
        .sort((a, b) => a.inputs - b.inputs)
        .find((t) => graph.links.some((l) => l.target === t.node_id && l.weight < 0));
      if (!inhibited) throw new Error('no inhibited inactive feature');
      await page.goto(`${page.url().split('?')[0]}?node=${inhibited.node_id}`);
      await expect.poll(() => details.textContent(), { timeout: 60_000 }).toContain(inhibited.node_id);
      const text = (await details.textContent()) ?? '';
      expect(text).toContain('Inactive on this prompt (activation 0); shown because it is inhibited by');
      expect(text).toContain('Feature (inactive)');
      // Its inhibitory links are kept: negative inputs are listed.
      const inputs = await details
        .getByRole('region', { name: 'Strongest inputs' })
        .getByRole('listitem')
        .allTextContents();
      expect(inputs.some((t) => t.startsWith('−'))).toBe(true);
      await shot(page, '04-inactive-feature');
      await page.close();
      expect(problems).toEqual([]);
    }, 300_000);
  },
);
