import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, ownerAndEditorInvestigation } from './e2e/api.ts';
import { GRAPH_CHROMIUM_ARGS } from './e2e/graph-render.ts';
import { watchPage } from './e2e/watch.ts';
import { chromiumPath, startWeb, webDir } from './helpers.ts';

// Working together on one investigation, in real browsers against the production build on a fresh PGlite:
// an owner and an editor see each other's presence and edits live, comment, go back in history, and share a
// read-only link that a third, signed-out browser opens until it is revoked. The feature panel and page show
// how a feature index is built when there is none (the suite starts without indexing, to keep it quick).

const shots = path.join(webDir, 'test-results', 'e2e-collab');
/** The bound for a teammate's edit to appear. */
const liveMs = 2_000;

async function shot(page: Page, name: string) {
  await page.screenshot({ path: path.join(shots, `${name}.png`) });
}

describe.runIf(existsSync(chromiumPath))('collaboration end to end (production build, Chromium)', () => {
  let web: Awaited<ReturnType<typeof startWeb>>;
  let browser: Browser;
  let owner: BrowserContext;
  let editor: BrowserContext;
  let invUrl: string;
  let teamId: string;
  let featureNode: string;

  beforeAll(async () => {
    mkdirSync(shots, { recursive: true });
    // Invite-only sign-up: the owner's is the first account (allowed), everyone else joins by invitation.
    web = await startWeb({ LOUPE_AUTO_INDEX: '0', LOUPE_SIGNUP: 'invite' });
    browser = await chromium.launch({
      executablePath: chromiumPath,
      headless: true,
      args: GRAPH_CHROMIUM_ARGS,
    });
    owner = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    editor = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'dark' });

    const setup = await ownerAndEditorInvestigation(owner, editor, web.url);
    teamId = setup.teamId;
    featureNode = setup.featureNode;
    invUrl = `${web.url}/t/${teamId}/i/${setup.investigationId}`;
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await web?.stop();
  });

  it("shows a teammate's presence, pin, label and comment live; history restores; a share link is read-only until revoked", async () => {
    const problems: string[] = [];
    const o = await owner.newPage();
    watchPage(o, problems);
    await o.goto(invUrl);
    await o.getByRole('application', { name: 'Attribution graph' }).waitFor();
    const e = await editor.newPage();
    watchPage(e, problems);
    await e.goto(invUrl);
    await e.getByRole('application', { name: 'Attribution graph' }).waitFor();

    // Presence: each sees the other.
    const present = o.getByRole('list', { name: 'Present now' });
    await present.getByRole('listitem', { name: 'Eddie Editor' }).waitFor({ timeout: 10_000 });
    await present.getByRole('listitem', { name: 'Olive Owner (you)' }).waitFor();
    await e
      .getByRole('list', { name: 'Present now' })
      .getByRole('listitem', { name: 'Olive Owner' })
      .waitFor();
    await shot(o, '01-owner-sees-editor');

    // The editor pins a node: it shows in the owner's pinned nodes without a reload.
    const ownerPins = o.getByRole('region', { name: 'Pinned nodes' });
    await e.keyboard.press('j');
    await expect.poll(() => new URL(e.url()).searchParams.get('node')).not.toBeNull();
    const node = new URL(e.url()).searchParams.get('node') as string;
    await e.keyboard.press('p');
    await expect
      .poll(() => ownerPins.getByRole('listitem').count(), { timeout: liveMs, interval: 50 })
      .toBe(1);

    // The editor labels it: the owner's pinned list names it so.
    const label = e.getByRole('region', { name: 'Node details' }).getByRole('textbox', { name: 'Label' });
    await label.fill('capital city');
    await label.press('Enter');
    await expect
      .poll(() => ownerPins.textContent(), { timeout: liveMs, interval: 50 })
      .toContain('capital city');

    // The editor comments on the investigation; the owner reads it in the open Comments tab.
    await o.getByRole('tab', { name: /Comments/ }).click();
    const ownerComments = o.getByRole('region', { name: 'Comments' });
    await ownerComments.getByText('No comments yet.').waitFor();
    await e.getByRole('tab', { name: /Comments/ }).click();
    const editorComments = e.getByRole('region', { name: 'Comments' });
    await editorComments
      .getByRole('textbox', { name: 'Comment' })
      .fill('France → Paris goes through this node');
    await editorComments.getByRole('button', { name: 'Post' }).click();
    await expect
      .poll(() => ownerComments.textContent(), { timeout: liveMs, interval: 50 })
      .toContain('France → Paris goes through this node');
    await expect.poll(() => ownerComments.textContent()).toContain('Eddie Editor');
    await shot(o, '02-owner-live-comment');

    // A thread on the selected node: the node carries a badge in the node panel.
    await editorComments.getByRole('combobox', { name: 'Thread' }).selectOption(node);
    await editorComments.getByRole('textbox', { name: 'Comment' }).fill('check the attention into it');
    await editorComments.getByRole('button', { name: 'Post' }).click();
    await expect
      .poll(() => editorComments.getByRole('combobox', { name: 'Thread' }).textContent())
      .toContain('(1)');
    await e.getByRole('tab', { name: 'Node' }).click();
    await e.getByRole('button', { name: 'Read the comments on this node' }).waitFor();
    // …and a count beside the node in the graph, for the editor and, live, for the owner.
    for (const page of [e, o])
      await expect
        .poll(() => page.locator(`[data-comment-badges] [data-node="${node}"]`).textContent())
        .toBe('1');
    await shot(e, '03-editor-node-thread-dark');

    // History: the owner restores the state before the pin; the pin and label are gone for both.
    await o.getByRole('tab', { name: 'History' }).click();
    const history = o.getByRole('region', { name: 'History' });
    await expect.poll(() => history.getByRole('listitem').count()).toBeGreaterThanOrEqual(3);
    await expect.poll(() => history.textContent()).toContain('Eddie Editor');
    await shot(o, '04-history');
    await history.getByRole('listitem').last().getByRole('button', { name: 'Restore' }).click();
    await o.getByRole('tab', { name: 'Node' }).click();
    await expect.poll(() => ownerPins.getByRole('listitem').count()).toBe(0);
    await expect
      .poll(() => e.getByRole('region', { name: 'Pinned nodes' }).getByRole('listitem').count())
      .toBe(0);
    await o.getByRole('tab', { name: 'History' }).click();
    await expect.poll(() => history.textContent()).toContain('restored the state of #');
    await o.getByRole('tab', { name: 'Node' }).click();

    // The editor leaves: gone from the owner's list once its heartbeats stop or its leave arrives.
    await e.close();
    await expect
      .poll(() => present.getByRole('listitem', { name: 'Eddie Editor' }).count(), { timeout: 15_000 })
      .toBe(0);

    // Share: a link opens read-only in a browser with no cookies.
    await o.getByRole('button', { name: 'Share' }).click();
    const dialog = o.getByRole('dialog', { name: 'Share a read-only link' });
    await dialog.getByRole('button', { name: 'Create link' }).click();
    const link = await dialog.getByRole('textbox', { name: /Share link/ }).inputValue();
    expect(link).toMatch(/\/share#lps_/);
    await dialog.getByRole('list', { name: 'Share links' }).getByRole('listitem').first().waitFor();
    await shot(o, '05-share-dialog');

    const anonymous = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const viewer = await anonymous.newPage();
    const viewerProblems: string[] = [];
    watchPage(viewer, viewerProblems);
    await viewer.goto(link);
    await viewer.getByRole('heading', { name: 'Capitals' }).waitFor();
    await viewer.getByRole('application', { name: 'Attribution graph' }).waitFor();
    await viewer
      .getByRole('region', { name: 'Comments' })
      .getByText('France → Paris goes through this node')
      .waitFor();
    expect(await viewer.getByRole('textbox').count()).toBe(0);
    for (const name of ['Post', 'Share', 'Save', 'Restore', 'Revoke', 'Unpin'])
      expect(await viewer.getByRole('button', { name }).count(), name).toBe(0);
    await shot(viewer, '06-share-read-only');
    expect(viewerProblems).toEqual([]);

    // Revoked: the same link now says it is no longer valid.
    await dialog.getByRole('button', { name: 'Revoke' }).click();
    await dialog.getByText('revoked').waitFor();
    await dialog.getByRole('button', { name: 'Close' }).click();
    await viewer.reload();
    await viewer.getByRole('heading', { name: 'This link is no longer valid' }).waitFor();
    await shot(viewer, '07-share-revoked');
    // The refused link answers 404, and the browser logs that one failed load.
    expect(viewerProblems.filter((p) => !p.includes('404') && !p.includes('shares.open'))).toEqual([]);
    await anonymous.close();
    await o.close();
    expect(problems).toEqual([]);
  }, 180_000);

  it('two saves of one node label: the later is shown both versions, keeps the one chosen, and nothing is lost', async () => {
    const problems: string[] = [];
    const o = await owner.newPage();
    watchPage(o, problems);
    // Without its live-update stream the owner's page cannot learn of the editor's save: its write is stale.
    await o.route('**/api/trpc/investigations.onChange**', () => {});
    await o.goto(`${invUrl}?node=${encodeURIComponent(featureNode)}`);
    const e = await editor.newPage();
    watchPage(e, problems);
    await e.goto(`${invUrl}?node=${encodeURIComponent(featureNode)}`);

    const id = invUrl.split('/').at(-1) as string;
    const savedLabel = async () => {
      const inv = await call<{ nodeLabels: Record<string, string> }>(
        owner.request,
        web.url,
        'investigations.get',
        { id },
        true,
      );
      return inv.nodeLabels[featureNode];
    };
    const labelOf = (page: Page) =>
      page.getByRole('region', { name: 'Node details' }).getByRole('textbox', { name: 'Label' });
    await labelOf(e).fill('capital city');
    await labelOf(e).press('Enter');
    await expect.poll(() => savedLabel()).toBe('capital city');

    await labelOf(o).fill('where France points');
    await labelOf(o).press('Enter');
    const clash = o.getByRole('alert', { name: 'Conflicting change' });
    await clash.waitFor();
    await expect.poll(() => clash.textContent()).toContain('Eddie Editor changed the label of');
    await expect.poll(() => clash.textContent()).toContain('Theirs“capital city”');
    await expect.poll(() => clash.textContent()).toContain('Yours“where France points”');
    await shot(o, '10-conflict-both-versions');

    await clash.getByRole('button', { name: 'Keep mine' }).click();
    await clash.waitFor({ state: 'detached' });
    await expect.poll(() => savedLabel()).toBe('where France points');
    // The editor's version stays in the history, restorable.
    const history = await call<{ items: { snapshot: { nodeLabels?: Record<string, string> } | null }[] }>(
      owner.request,
      web.url,
      'investigations.history',
      { id, limit: 100 },
      true,
    );
    const saved = history.items.map((h) => h.snapshot?.nodeLabels?.[featureNode]);
    expect(saved).toContain('capital city');
    expect(saved).toContain('where France points');
    await o.close();
    await e.close();
    // The refused stale write is the only failed request, and the browser's log line about it the only error.
    expect(problems.some((p) => p.includes('investigations.update'))).toBe(true);
    expect(problems.filter((p) => !p.includes('409'))).toEqual([]);
  }, 120_000);

  it('a feature node opens the feature panel and its page, which say how the missing index gets built', async () => {
    const problems: string[] = [];
    const page = await owner.newPage();
    watchPage(page, problems);
    await page.goto(`${invUrl}?node=${encodeURIComponent(featureNode)}`);
    const [layer, feature] = featureNode.split('_');
    const panel = page.getByRole('region', { name: 'Feature' });
    await panel.getByRole('heading', { name: `Feature ${feature} · layer ${layer}` }).waitFor();
    await panel.getByText('no feature index yet').waitFor();
    await panel.getByRole('textbox', { name: 'Feature label' }).fill('country names');
    await panel.getByRole('button', { name: 'Save', exact: true }).click();
    await panel.getByText('Label history (1)').waitFor();
    await shot(page, '08-feature-panel');

    await panel.getByRole('link', { name: 'Open page' }).click();
    await page.waitForURL(/\/features\/[0-9a-f-]{36}\/\d+\/\d+$/);
    const full = page.getByRole('region', { name: 'Feature' });
    await full.getByRole('heading', { name: `Feature ${feature} · layer ${layer}` }).waitFor();
    await expect
      .poll(() => full.getByRole('textbox', { name: 'Feature label' }).inputValue())
      .toBe('country names');
    await page.getByRole('region', { name: 'Feature search' }).getByText('No features indexed').waitFor();
    await shot(page, '09-feature-page');
    await page.close();
    expect(problems).toEqual([]);
  }, 120_000);

  it('sign-up asks for the invite; the account page changes the password and signs out everywhere; the admin revokes a worker token', async () => {
    const problems: string[] = [];
    const invite = await call<{ token: string }>(owner.request, web.url, 'teams.createInvite', {
      teamId,
      role: 'viewer',
    });
    const guestContext = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const g = await guestContext.newPage();
    watchPage(g, problems);
    await g.goto(web.url);
    await g.getByRole('tab', { name: 'Sign up' }).click();
    await g.getByRole('textbox', { name: 'Name', exact: true }).fill('Vera Viewer');
    await g.getByRole('textbox', { name: 'Email', exact: true }).fill('vera@example.com');
    await g.getByRole('textbox', { name: 'Password', exact: true }).fill('first long password');
    const inviteField = g.getByRole('textbox', { name: 'Invite token' });
    await g.getByRole('button', { name: 'Sign up', exact: true }).click();
    await g.getByRole('alert').filter({ hasText: 'by invitation' }).waitFor();
    await shot(g, '11-invite-only-sign-up');
    // The whole link works as well as its token.
    await inviteField.fill(`${web.url}/invite#${invite.token}`);
    await g.getByRole('button', { name: 'Sign up', exact: true }).click();
    await g.waitForURL(`${web.url}/t/${teamId}`);

    await g.getByRole('link', { name: 'Account' }).click();
    const password = g.getByRole('region', { name: 'Password' });
    await password.getByRole('textbox', { name: 'Current password' }).waitFor();
    expect(await g.getByRole('region', { name: 'Worker tokens' }).count()).toBe(0);
    await password.getByLabel('Current password').fill('first long password');
    await password.getByLabel('New password').fill('second long password');
    await password.getByRole('button', { name: 'Change password' }).click();
    await password.getByRole('status').filter({ hasText: 'Password changed' }).waitFor();
    await shot(g, '12-account');
    await g
      .getByRole('region', { name: 'Sessions' })
      .getByRole('button', { name: 'Sign out everywhere' })
      .click();
    await g.getByRole('tab', { name: 'Sign in' }).waitFor();
    await g.getByRole('textbox', { name: 'Email', exact: true }).fill('vera@example.com');
    await g.getByRole('textbox', { name: 'Password', exact: true }).fill('second long password');
    await g.getByRole('button', { name: 'Sign in', exact: true }).click();
    await g.waitForURL(`${web.url}/t/${teamId}`);
    await guestContext.close();

    // The owner is the first account, so the instance admin: worker tokens are listed, made and revoked.
    const o = await owner.newPage();
    watchPage(o, problems);
    await o.goto(`${web.url}/t/${teamId}/account`);
    const workers = o.getByRole('region', { name: 'Worker tokens' });
    const table = workers.getByRole('table', { name: 'Worker tokens' });
    await table.getByRole('row', { name: /local worker/ }).waitFor();
    await workers.getByRole('textbox', { name: 'Worker name' }).fill('gpu box');
    await workers.getByRole('button', { name: 'Create worker token' }).click();
    expect(await workers.getByRole('textbox', { name: 'New worker token' }).inputValue()).not.toBe('');
    const row = table.getByRole('row', { name: /gpu box/ });
    await row.waitFor();
    await shot(o, '13-worker-tokens');
    await row.getByRole('button', { name: 'Revoke' }).click();
    await expect.poll(() => row.count()).toBe(0);
    await table.getByRole('row', { name: /local worker/ }).waitFor();
    await o.close();
    // The refused sign-up without an invite is the only failed request, and its log line the only error.
    expect(problems.filter((p) => !p.includes('403'))).toEqual([]);
  }, 120_000);
});
