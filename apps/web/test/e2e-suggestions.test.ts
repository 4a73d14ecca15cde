import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, organismPlt, ownerAndEditorTeam } from './e2e/api.ts';
import { GRAPH_CHROMIUM_ARGS } from './e2e/graph-render.ts';
import { watchPage } from './e2e/watch.ts';
import { chromiumPath, startWeb, startWorker, webDir } from './helpers.ts';

// The automatic first pass in the workspace, in real browsers against the production build and one worker:
// 36+59= traced on organism-m, its proposed supernodes offered beside the graph, one accepted from the keyboard
// (it becomes a supernode in the graph's pinned nodes and in history), one discarded; after a reload neither
// comes back, and a teammate sees the accepted supernode and only the suggestions still to review.

const shots = path.join(webDir, 'test-results', 'e2e-suggestions');

async function shot(page: Page, name: string) {
  await page.screenshot({ path: path.join(shots, `${name}.png`) });
}

/** The keys of the suggestions still offered, in order. */
function offered(page: Page): Promise<string[]> {
  return page
    .getByRole('region', { name: 'Suggestions' })
    .locator('[data-suggestion]')
    .evaluateAll((items) => items.map((li) => (li as HTMLElement).dataset.suggestion as string));
}

describe.runIf(existsSync(chromiumPath))(
  'suggestions end to end (production build, worker, Chromium)',
  () => {
    let web: Awaited<ReturnType<typeof startWeb>>;
    let worker: Awaited<ReturnType<typeof startWorker>> | undefined;
    let browser: Browser;
    let owner: BrowserContext;
    let editor: BrowserContext;
    let invUrl: string;

    beforeAll(async () => {
      mkdirSync(shots, { recursive: true });
      web = await startWeb({ LOUPE_AUTO_INDEX: '0', LOUPE_SIGNUP: 'invite' });
      worker = await startWorker(web.url, web.dataDir, { LOUPE_AUTO_INDEX: '0' });
      browser = await chromium.launch({
        executablePath: chromiumPath,
        headless: true,
        args: GRAPH_CHROMIUM_ARGS,
      });
      owner = await browser.newContext({ viewport: { width: 1440, height: 900 } });
      editor = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'dark' });
      const teamId = await ownerAndEditorTeam(owner, editor, web.url);
      const refs = await organismPlt(owner, web.url, teamId, 'organism-m');
      const { investigation } = await call<{ investigation: { id: string } }>(
        owner.request,
        web.url,
        'investigations.trace',
        { teamId, title: 'Two-digit addition', prompt: '36+59=', ...refs },
      );
      // The worker traces it (seconds on organism-m); the investigation links the graph when the job succeeds.
      const deadline = Date.now() + 180_000;
      const graphId = async () =>
        (
          await call<{ graphId: string | null }>(
            owner.request,
            web.url,
            'investigations.get',
            { id: investigation.id },
            true,
          )
        ).graphId;
      while ((await graphId()) === null) {
        if (Date.now() > deadline) throw new Error(`the trace did not finish:\n${worker?.output()}`);
        await new Promise((r) => setTimeout(r, 500));
      }
      invUrl = `${web.url}/t/${teamId}/i/${investigation.id}`;
    }, 300_000);

    afterAll(async () => {
      await browser?.close();
      await worker?.stop();
      await web?.stop();
    });

    it('accepts (by keyboard), edits and discards suggestions; reviewed ones stay reviewed for everyone', async () => {
      const problems: string[] = [];
      const o = await owner.newPage();
      watchPage(o, problems);
      await o.goto(invUrl);
      await o.getByRole('application', { name: 'Attribution graph' }).waitFor({ timeout: 60_000 });
      const panel = o.getByRole('region', { name: 'Suggestions' });
      const items = panel.getByRole('list', { name: 'Proposed supernodes' }).getByRole('listitem');
      await items.first().waitFor({ timeout: 30_000 });
      const before = await offered(o);
      expect(before.length).toBeGreaterThanOrEqual(3);
      // The path summary names the answer and at least one path from a prompt token to it.
      await expect
        .poll(() => panel.getByRole('list', { name: 'Strongest paths' }).textContent())
        .toContain('→');
      expect(await panel.textContent()).toContain('95');

      // Pointing at a suggestion marks its members in the graph; leaving it clears the marks.
      const first = items.first();
      const firstLabel = (await first.locator('.suggestion-label').textContent()) as string;
      const members = Number(/(\d+) features/.exec((await first.textContent()) ?? '')?.[1]);
      expect(members).toBeGreaterThanOrEqual(2);
      await first.hover();
      await expect.poll(() => o.locator('[data-mark="highlight"]:visible').count()).toBeGreaterThan(0);
      await shot(o, '01-suggestions-highlight');
      await o.mouse.move(5, 5);
      await expect.poll(() => o.locator('[data-mark="highlight"]:visible').count()).toBe(0);

      // Accept from the keyboard: the supernode is grouped in the pinned nodes and the change is in history.
      await first.getByRole('button', { name: 'Accept' }).focus();
      await o.keyboard.press('Enter');
      const pinned = o.getByRole('region', { name: 'Pinned nodes' });
      await pinned.getByRole('group', { name: firstLabel }).waitFor();
      expect(await pinned.getByRole('group', { name: firstLabel }).getByRole('listitem').count()).toBe(
        members,
      );
      await expect.poll(() => offered(o)).toEqual(before.slice(1));
      // The pinned members are drawn marked in the graph.
      await expect.poll(() => o.locator('[data-mark="pin"]:visible').count()).toBeGreaterThan(0);
      await shot(o, '02-accepted');

      // Discard the next one.
      await items.first().getByRole('button', { name: 'Discard' }).click();
      await expect.poll(() => offered(o)).toEqual(before.slice(2));
      await o.getByRole('tab', { name: 'History' }).click();
      const history = o.getByRole('region', { name: 'History' });
      await expect.poll(() => history.getByRole('listitem').count()).toBeGreaterThanOrEqual(3);
      await expect.poll(() => history.textContent()).toContain('1 supernodes');
      await shot(o, '03-history');

      // A reload offers neither again.
      await o.reload();
      await items.first().waitFor({ timeout: 30_000 });
      expect(await offered(o)).toEqual(before.slice(2));
      await pinned.getByRole('group', { name: firstLabel }).waitFor();

      // The teammate sees the accepted supernode and the same remaining suggestions, and edits one before accepting.
      const e = await editor.newPage();
      watchPage(e, problems);
      await e.goto(invUrl);
      await e.getByRole('region', { name: 'Pinned nodes' }).getByRole('group', { name: firstLabel }).waitFor({
        timeout: 60_000,
      });
      const editorItems = e
        .getByRole('region', { name: 'Suggestions' })
        .getByRole('list', { name: 'Proposed supernodes' })
        .getByRole('listitem');
      await editorItems.first().waitFor({ timeout: 30_000 });
      expect(await offered(e)).toEqual(before.slice(2));
      const proposedName = (await editorItems.first().locator('.suggestion-label').textContent()) as string;
      await editorItems.first().getByRole('button', { name: 'Edit' }).click();
      const dialog = e.getByRole('dialog', { name: /^Group the \d+ suggested features$/ });
      const name = dialog.getByRole('textbox', { name: 'Supernode name' });
      expect(await name.inputValue()).toBe(proposedName);
      await shot(e, '04-edit-dialog-dark');
      await name.fill('sum ends in 5');
      await name.press('Enter');
      await e
        .getByRole('region', { name: 'Pinned nodes' })
        .getByRole('group', { name: 'sum ends in 5' })
        .waitFor();
      await expect.poll(() => offered(e)).toEqual(before.slice(3));
      // …and the owner sees it live.
      await pinned.getByRole('group', { name: 'sum ends in 5' }).waitFor({ timeout: 5_000 });
      await expect.poll(() => offered(o)).toEqual(before.slice(3));
      await shot(e, '05-editor-after-edit-dark');
      await shot(o, '06-owner-live');

      // A read-only share link shows the supernodes and no suggestions to review.
      await o.getByRole('button', { name: 'Share' }).click();
      const share = o.getByRole('dialog', { name: 'Share a read-only link' });
      await share.getByRole('button', { name: 'Create link' }).click();
      const link = await share.getByRole('textbox', { name: /Share link/ }).inputValue();
      const anonymous = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      const reader = await anonymous.newPage();
      watchPage(reader, problems);
      await reader.goto(link);
      await reader.getByRole('application', { name: 'Attribution graph' }).waitFor();
      await reader.getByText('sum ends in 5', { exact: true }).waitFor();
      expect(await reader.getByRole('region', { name: 'Suggestions' }).count()).toBe(0);
      for (const name of ['Accept', 'Edit', 'Discard'])
        expect(await reader.getByRole('button', { name }).count(), name).toBe(0);
      await shot(reader, '07-share-no-suggestions');
      await anonymous.close();
      expect(problems).toEqual([]);
    }, 300_000);
  },
);
