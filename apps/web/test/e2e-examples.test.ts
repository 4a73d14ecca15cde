import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from './e2e/api.ts';
import { GRAPH_CHROMIUM_ARGS } from './e2e/graph-render.ts';
import { watchPage } from './e2e/watch.ts';
import { chromiumPath, startWeb, startWorker, webDir } from './helpers.ts';

// The seeded Examples in a real browser against the production build and one worker: the server loads the case
// studies into the read-only Examples team at start and the worker traces their graphs; a user who just signed
// up finds them beside the first-team form, opens the addition study and sees its graph, its supernode, its
// notes (verdicts as found) and no control that would change it. A write through the API is refused.

const shots = path.join(webDir, 'test-results', 'e2e-examples');

async function shot(page: Page, name: string) {
  await page.screenshot({ path: path.join(shots, `${name}.png`) });
}

interface Listed {
  id: string;
  title: string;
  graphId: string | null;
  version: number;
}

describe.runIf(existsSync(chromiumPath))(
  'the Examples team end to end (production build, worker, Chromium)',
  () => {
    let web: Awaited<ReturnType<typeof startWeb>>;
    let worker: Awaited<ReturnType<typeof startWorker>> | undefined;
    let browser: Browser;
    let reader: BrowserContext;

    beforeAll(async () => {
      mkdirSync(shots, { recursive: true });
      web = await startWeb({ LOUPE_AUTO_INDEX: '0' });
      worker = await startWorker(web.url, web.dataDir, { LOUPE_AUTO_INDEX: '0' });
      browser = await chromium.launch({
        executablePath: chromiumPath,
        headless: true,
        args: GRAPH_CHROMIUM_ARGS,
      });
      reader = await browser.newContext({ viewport: { width: 1440, height: 900 } });
      await call(reader.request, web.url, 'auth.signUp', {
        email: 'rita@example.com',
        password: 'correct horse battery',
        name: 'Rita Reader',
      });
    }, 300_000);

    afterAll(async () => {
      await browser?.close();
      await worker?.stop();
      await web?.stop();
    });

    it('a fresh user opens an example with its graph, supernode and notes, and nothing to edit', async () => {
      expect(web.output()).toMatch(/\[loupe\] examples: loaded revision \w+, 5 traces queued/);
      const problems: string[] = [];
      const page = await reader.newPage();
      watchPage(page, problems);
      await page.goto(web.url);
      await page.getByRole('heading', { name: 'Create your first team' }).waitFor({ timeout: 60_000 });
      await shot(page, '01-first-team-and-examples');
      await page.getByRole('link', { name: 'open the read-only examples' }).click();

      await page.getByRole('heading', { name: 'Investigations' }).waitFor();
      const list = page.getByRole('region', { name: 'Investigation list' });
      await list.getByRole('link', { name: /^Addition: / }).waitFor({ timeout: 30_000 });
      expect(await list.getByRole('link').count()).toBe(5);
      await page.getByRole('note', { name: 'Read-only' }).waitFor();
      expect(await page.getByRole('combobox', { name: 'Team' }).textContent()).toContain(
        'Examples (read-only)',
      );
      for (const name of ['New investigation', 'Open graph JSON'])
        expect(await page.getByRole('button', { name }).count(), name).toBe(0);
      await shot(page, '02-examples-list');

      // The worker traces the examples (seconds each on organism-m); the addition study's links its graph.
      const teamId = new URL(page.url()).pathname.split('/')[2];
      const addition = async () =>
        (
          await call<{ items: Listed[] }>(reader.request, web.url, 'investigations.list', { teamId }, true)
        ).items.find((i) => i.title.startsWith('Addition: ')) as Listed;
      const deadline = Date.now() + 240_000;
      while ((await addition()).graphId === null) {
        if (Date.now() > deadline) throw new Error(`the example was not traced:\n${worker?.output()}`);
        await new Promise((r) => setTimeout(r, 1_000));
      }

      await list.getByRole('link', { name: /^Addition: / }).click();
      await page.getByRole('application', { name: 'Attribution graph' }).waitFor({ timeout: 60_000 });
      await page.getByRole('note', { name: 'Read-only' }).waitFor();
      // The study's query-built supernode, its members pinned and drawn marked in the graph.
      const pinned = page.getByRole('region', { name: 'Pinned nodes' });
      const magnitude = pinned.getByRole('group', { name: 'sum magnitude (η² query)' });
      await magnitude.waitFor({ timeout: 30_000 });
      expect(await magnitude.getByRole('listitem').count()).toBeGreaterThan(10);
      await expect.poll(() => page.locator('[data-mark="pin"]:visible').count()).toBeGreaterThan(0);
      await shot(page, '03-addition-graph');

      // A member shows the team label the seed gave its feature, and no field to rename it.
      await magnitude.getByRole('listitem').first().getByRole('button').first().click();
      const details = page.getByRole('region', { name: 'Node details' });
      await expect.poll(() => details.textContent()).toContain('sum magnitude (η² query)');
      expect(await details.getByRole('textbox').count()).toBe(0);
      await shot(page, '04-member-details');

      // The notes state each claim with its criterion and every verdict as found, negative ones included.
      await page.getByRole('tab', { name: 'Notes' }).click();
      const notes = page.getByRole('region', { name: 'Notes' });
      await expect.poll(() => notes.textContent()).toContain('A2-ones-digit-feature');
      const text = (await notes.textContent()) ?? '';
      expect(text).toContain('Criterion: >= 0.3');
      expect(text).toContain('organism-m/plt: not supported');
      // Markdown rendered: the bold verdict shows as bold text, not asterisks.
      expect(text).toContain('organism-m/plt: supported');
      expect(text).not.toContain('**');
      expect(await notes.getByRole('heading').count()).toBeGreaterThan(1);
      await shot(page, '05-notes');

      // The study's intervention tables, one experiment per organism and dictionary.
      await page.getByRole('tab', { name: 'Interventions' }).click();
      const experiments = page.getByRole('region', { name: 'Experiments' });
      await experiments.getByText(/^organism-m\/plt: Ablations at "="/).waitFor({ timeout: 30_000 });
      expect(await experiments.getByRole('listitem').count()).toBe(4);
      await experiments.getByText(/^organism-m\/plt: Ablations at "="/).click();
      const recorded = page.getByRole('region', { name: 'Recorded result' });
      await expect.poll(() => recorded.getByRole('row').count()).toBeGreaterThan(2);
      expect(await recorded.getByRole('columnheader').first().textContent()).toBe('ablated');
      expect(await page.getByText('saved in a form the lab cannot read').count()).toBe(0);
      await shot(page, '06-experiments');

      // No control that would change the example.
      for (const name of ['Share', 'Ungroup', 'Unpin', 'Accept', 'Discard', 'Rename', 'Delete', 'Restore'])
        expect(await page.getByRole('button', { name }).count(), name).toBe(0);
      expect(await page.getByRole('region', { name: 'Suggestions' }).count()).toBe(0);
      await page.getByRole('tab', { name: 'Comments' }).click();
      await page.getByRole('tabpanel').waitFor();
      expect(await page.getByRole('tabpanel').getByRole('textbox').count()).toBe(0);
      await shot(page, '07-comments-read-only');

      // A write sent anyway is refused with the reason.
      const inv = await addition();
      const res = await reader.request.post(`${web.url}/api/trpc/investigations.update`, {
        data: { id: inv.id, version: inv.version, patch: { title: 'mine now' } },
      });
      expect(res.status()).toBe(403);
      expect(JSON.stringify(await res.json())).toContain('the Examples team is read-only');

      // With a team of their own, they copy the example there: traced again, supernode and notes along, editable.
      const own = await call<{ id: string }>(reader.request, web.url, 'teams.create', { name: 'Rita lab' });
      await page.reload();
      await page.getByRole('button', { name: 'Copy to my team' }).click();
      await page.waitForURL(new RegExp(`/t/${own.id}/i/`), { timeout: 30_000 });
      await page.getByRole('application', { name: 'Attribution graph' }).waitFor({ timeout: 120_000 });
      expect(await page.getByRole('note', { name: 'Read-only' }).count()).toBe(0);
      await page
        .getByRole('region', { name: 'Pinned nodes' })
        .getByRole('group', { name: 'sum magnitude (η² query)' })
        .waitFor({ timeout: 30_000 });
      await page.getByRole('button', { name: 'Share' }).waitFor();
      await shot(page, '08-copy-in-own-team');
      expect(problems).toEqual([]);
    }, 400_000);
  },
);
