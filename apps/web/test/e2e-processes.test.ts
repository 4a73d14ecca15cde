import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { createScratchDatabase, openDatabase } from '@loupe/db';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, ownerAndEditorInvestigation } from './e2e/api.ts';
import { GRAPH_CHROMIUM_ARGS } from './e2e/graph-render.ts';
import { watchPage } from './e2e/watch.ts';
import { chromiumPath, repoRoot, startWeb, webDir } from './helpers.ts';

// Two production web processes on one PostgreSQL, as behind a load balancer: the owner's browser talks to
// process B, the editor's to process A. Presence and live updates travel between them by LISTEN/NOTIFY, and a
// process whose listening connection drops catches up on what it missed meanwhile.

const adminUrl = process.env.TEST_DATABASE_URL;
const shots = path.join(webDir, 'test-results', 'e2e-processes');
/** The bound for a teammate's edit to appear. */
const liveMs = 2_000;

async function shot(page: Page, name: string) {
  await page.screenshot({ path: path.join(shots, `${name}.png`) });
}

describe.runIf(existsSync(chromiumPath))(
  'two web processes on one PostgreSQL (production build, Chromium)',
  () => {
    it.skipIf(adminUrl)(
      'needs TEST_DATABASE_URL (a PostgreSQL server) to start two web processes on',
      () => {},
    );

    describe.runIf(adminUrl)('with TEST_DATABASE_URL', () => {
      let scratch: Awaited<ReturnType<typeof createScratchDatabase>>;
      let a: Awaited<ReturnType<typeof startWeb>>;
      let b: Awaited<ReturnType<typeof startWeb>>;
      let browser: Browser;
      let owner: BrowserContext;
      let editor: BrowserContext;
      let investigationId: string;
      let teamId: string;

      beforeAll(async () => {
        mkdirSync(shots, { recursive: true });
        scratch = await createScratchDatabase(adminUrl as string);
        const env = { DATABASE_URL: scratch.url, LOUPE_AUTO_INDEX: '0' };
        // One after the other: the first applies the migrations.
        a = await startWeb(env);
        b = await startWeb(env);
        browser = await chromium.launch({
          executablePath: chromiumPath,
          headless: true,
          args: GRAPH_CHROMIUM_ARGS,
        });
        owner = await browser.newContext({ viewport: { width: 1440, height: 900 } });
        editor = await browser.newContext({ viewport: { width: 1280, height: 800 } });
        // Cookies name the host, not the port: a session made on A is good on B, as behind one address.
        const setup = await ownerAndEditorInvestigation(owner, editor, a.url);
        investigationId = setup.investigationId;
        teamId = setup.teamId;
      }, 240_000);

      afterAll(async () => {
        await browser?.close();
        await a?.stop();
        await b?.stop();
        await scratch?.drop();
      });

      it("shows presence across both processes and an edit made through A live on B, also after B's listener drops", async () => {
        const problems: string[] = [];
        const o = await owner.newPage();
        watchPage(o, problems);
        await o.goto(`${b.url}/t/${teamId}/i/${investigationId}`);
        await o.getByRole('application', { name: 'Attribution graph' }).waitFor();
        const e = await editor.newPage();
        watchPage(e, problems);
        await e.goto(`${a.url}/t/${teamId}/i/${investigationId}`);
        await e.getByRole('application', { name: 'Attribution graph' }).waitFor();

        // Presence: heartbeats to A and to B make one list on both.
        const present = o.getByRole('list', { name: 'Present now' });
        await present.getByRole('listitem', { name: 'Eddie Editor' }).waitFor({ timeout: 10_000 });
        await e
          .getByRole('list', { name: 'Present now' })
          .getByRole('listitem', { name: 'Olive Owner' })
          .waitFor({ timeout: 10_000 });
        await shot(o, '01-owner-on-b-sees-editor-on-a');

        // The editor pins a node and comments through A: both appear on B within the bound.
        const ownerPins = o.getByRole('region', { name: 'Pinned nodes' });
        await e.keyboard.press('j');
        await expect.poll(() => new URL(e.url()).searchParams.get('node')).not.toBeNull();
        const node = new URL(e.url()).searchParams.get('node') as string;
        await e.keyboard.press('p');
        await expect
          .poll(() => ownerPins.getByRole('listitem').count(), { timeout: liveMs, interval: 50 })
          .toBe(1);
        await o.getByRole('tab', { name: /Comments/ }).click();
        const ownerComments = o.getByRole('region', { name: 'Comments' });
        await e.getByRole('tab', { name: /Comments/ }).click();
        const editorComments = e.getByRole('region', { name: 'Comments' });
        await editorComments.getByRole('textbox', { name: 'Comment' }).fill('posted through process A');
        await editorComments.getByRole('button', { name: 'Post' }).click();
        await expect
          .poll(() => ownerComments.textContent(), { timeout: liveMs, interval: 50 })
          .toContain('posted through process A');
        await o.getByRole('tab', { name: 'Node' }).click();
        await shot(o, '02-owner-on-b-live-pin-and-comment');

        // Every listening connection is cut; a label saved through A at once goes unheard on B while B
        // reconnects, and B's page still shows it: its bus says it may have missed events, and the page reloads.
        const db = await openDatabase({
          url: scratch.url,
          migrationsDir: path.join(repoRoot, 'packages/db/prisma/migrations'),
        });
        try {
          const cut = await db.prisma.$queryRawUnsafe<{ ok: boolean }[]>(
            `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
            WHERE datname = current_database() AND application_name = 'loupe bus listener'`,
          );
          expect(cut.length).toBe(2);
        } finally {
          await db.close();
        }
        const before = await call<{ version: number; nodeLabels: Record<string, string> }>(
          editor.request,
          a.url,
          'investigations.get',
          { id: investigationId },
          true,
        );
        await call(editor.request, a.url, 'investigations.update', {
          id: investigationId,
          version: before.version,
          patch: { nodeLabels: { ...before.nodeLabels, [node]: 'labelled while B reconnects' } },
        });
        await expect
          .poll(() => ownerPins.textContent(), { timeout: 10_000, interval: 100 })
          .toContain('labelled while B reconnects');
        await shot(o, '03-owner-on-b-after-reconnect');

        // The editor leaves: gone from the owner's list on B.
        await e.close();
        await expect
          .poll(() => present.getByRole('listitem', { name: 'Eddie Editor' }).count(), { timeout: 15_000 })
          .toBe(0);
        await o.close();
        expect(problems).toEqual([]);
        expect(b.output()).toContain('listening connection lost');
      }, 180_000);
    });
  },
);
