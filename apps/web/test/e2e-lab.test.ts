import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GRAPH_CHROMIUM_ARGS } from './e2e/graph-render.ts';
import { watchPage } from './e2e/watch.ts';
import { chromiumPath, repoRoot, startWeb, startWorker, webDir } from './helpers.ts';

// The intervention lab against the production build, a fresh PGlite database, one worker and Chromium: the same
// intervention on the worker, in the page (onnxruntime-web on the shipped organism's files) and through
// `pnpm loupe intervene` gives the same next-token distribution.

const shots = path.join(webDir, 'test-results', 'lab');

const shot = (page: Page, name: string) => page.screenshot({ path: path.join(shots, `${name}.png`) });

interface TopToken {
  id: number;
  token?: string;
  prob: number;
}
interface UnionToken {
  id: number;
  token?: string;
  clean: number;
  intervened: number;
}
interface Report {
  runs: { mode: string; positions: { clean: TopToken[]; intervened: TopToken[]; union?: UnionToken[] }[] }[];
  generation?: { clean: { tokens: number[] }; intervened: { tokens: number[] } };
}
interface Experiment {
  id: string;
  name: string;
  spec: { runner: string; request: { scale: { group: unknown; factor: number }[] } };
  result: { report: Report } | null;
}

/** The last position's top-5 before and after, the numbers the acceptance compares. */
function lastTop5(r: Report) {
  const last = r.runs[0].positions[r.runs[0].positions.length - 1];
  return { before: last.clean.slice(0, 5), after: last.intervened.slice(0, 5) };
}

function expectSameTop5(a: Report, b: Report) {
  const x = lastTop5(a);
  const y = lastTop5(b);
  for (const side of ['before', 'after'] as const) {
    expect(x[side].map((t) => t.id)).toEqual(y[side].map((t) => t.id));
    for (const [i, t] of x[side].entries()) expect(Math.abs(t.prob - y[side][i].prob)).toBeLessThan(1e-4);
  }
}

/** The report `loupe intervene` stores in its output's metadata (safetensors header JSON). */
function cliReport(file: string): Report {
  const bytes = readFileSync(file);
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8'));
  return JSON.parse(header.__metadata__.report);
}

describe.runIf(existsSync(chromiumPath))('intervention lab end to end (worker, browser, CLI)', () => {
  let web: Awaited<ReturnType<typeof startWeb>>;
  let worker: Awaited<ReturnType<typeof startWorker>> | undefined;
  let browser: Browser;
  let context: BrowserContext;
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'loupe-lab-test-'));

  beforeAll(async () => {
    mkdirSync(shots, { recursive: true });
    web = await startWeb({ LOUPE_AUTO_INDEX: '0' });
    worker = await startWorker(web.url, web.dataDir, { LOUPE_AUTO_INDEX: '0' });
    browser = await chromium.launch({
      executablePath: chromiumPath,
      headless: true,
      args: GRAPH_CHROMIUM_ARGS,
    });
    context = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
  });

  afterAll(async () => {
    await browser?.close();
    await worker?.stop();
    await web?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('serves only the shipped organisms, by catalogue key and listed file name', async () => {
    const manifest = (await (await fetch(`${web.url}/organisms`)).json()) as {
      models: { key: string; files: Record<string, number>; dictionaries: { key: string }[] }[];
    };
    const m = manifest.models.find((x) => x.key === 'organism-m');
    expect(m?.dictionaries.map((d) => d.key).sort()).toEqual(['organism-m/clt', 'organism-m/plt']);
    const config = await fetch(`${web.url}/organisms/organism-m/config.json`);
    expect(config.status).toBe(200);
    expect((await config.arrayBuffer()).byteLength).toBe(m?.files['config.json']);
    expect((await fetch(`${web.url}/organisms/organism-m/config.json`, { method: 'HEAD' })).status).toBe(200);
    const part = await fetch(`${web.url}/organisms/organism-m/plt/layer_0.safetensors`, {
      headers: { Range: 'bytes=0-7' },
    });
    expect(part.status).toBe(206);
    expect((await part.arrayBuffer()).byteLength).toBe(8);
    for (const bad of [
      '/organisms/organism-m/..%2F..%2F..%2Fpackage.json',
      '/organisms/organism-m/dictionaries',
      '/organisms/organism-m/plt/..%2Fconfig.json',
      '/organisms/organism-m/plt/layer_0.safetensors/x',
      '/organisms/no-such-model/config.json',
    ]) {
      expect((await fetch(`${web.url}${bad}`)).status, bad).toBe(404);
    }
  });

  it('intervenes on a feature of 36+59= on the worker and in the browser, equal to `pnpm loupe intervene`', async () => {
    const problems: string[] = [];
    const page = await context.newPage();
    watchPage(page, problems);

    // Sign up, create a team, trace the prompt.
    await page.goto(web.url);
    await page.getByRole('tab', { name: 'Sign up' }).click();
    await page.getByRole('textbox', { name: 'Name', exact: true }).fill('Lab Researcher');
    await page.getByRole('textbox', { name: 'Email', exact: true }).fill('lab@example.com');
    await page.getByRole('textbox', { name: 'Password', exact: true }).fill('correct horse battery');
    await page.getByRole('button', { name: 'Sign up', exact: true }).click();
    await page.getByRole('textbox', { name: 'Team name' }).fill('Lab');
    await page.getByRole('button', { name: 'Create team' }).click();
    await page.waitForURL(/\/t\/[0-9a-f-]{36}$/);
    await page.getByRole('button', { name: 'New investigation' }).click();
    const dialog = page.getByRole('dialog', { name: 'New investigation' });
    await dialog.getByRole('textbox', { name: 'Title' }).fill('Addition lab');
    await dialog.getByRole('textbox', { name: 'Prompt' }).fill('36+59=');
    const model = dialog.getByRole('combobox', { name: 'Model' });
    const organismM = await model
      .locator('option')
      .evaluateAll((os) =>
        os
          .filter((o) => (o.textContent ?? '').startsWith('organism-m'))
          .map((o) => (o as HTMLOptionElement).value),
      );
    await model.selectOption(organismM[0]);
    const dictionary = dialog.getByRole('combobox', { name: 'Dictionary' });
    const plt = await dictionary
      .locator('option')
      .evaluateAll((os) =>
        os.filter((o) => (o.textContent ?? '').includes('(PLT)')).map((o) => (o as HTMLOptionElement).value),
      );
    await dictionary.selectOption(plt[0]);
    await dialog.getByRole('button', { name: 'Trace' }).click();
    await page.waitForURL(/\/i\/[0-9a-f-]{36}/, { timeout: 180_000 });
    await page.getByRole('application', { name: 'Attribution graph' }).waitFor({ timeout: 60_000 });
    const investigationId = new URL(page.url()).pathname.split('/').at(-1) as string;

    // A feature that fires at the last position, taken from the graph: the one nearest the output (the highest
    // layer), and of those the most active, so that zeroing it visibly moves the next-token distribution.
    const api = async <T>(proc: string, input: unknown): Promise<T> => {
      const r = await context.request.get(
        `${web.url}/api/trpc/${proc}?input=${encodeURIComponent(JSON.stringify(input))}`,
      );
      expect(r.status(), proc).toBe(200);
      return ((await r.json()) as { result: { data: T } }).result.data;
    };
    const inv = await api<{ graphId: string }>('investigations.get', { id: investigationId });
    const { graph } = await api<{
      graph: {
        nodes: { node_id: string; feature_type: string; ctx_idx: number; activation: number | null }[];
      };
    }>('graphs.payload', { graphId: inv.graphId });
    const lastPos = Math.max(...graph.nodes.map((n) => n.ctx_idx));
    const feature = graph.nodes
      .filter(
        (n) => n.feature_type === 'per layer transcoder' && n.ctx_idx === lastPos && (n.activation ?? 0) > 0,
      )
      .sort(
        (a, b) =>
          Number(b.node_id.split('_')[0]) - Number(a.node_id.split('_')[0]) ||
          (b.activation ?? 0) - (a.activation ?? 0),
      )[0];
    expect(feature, 'a feature active at the last position').toBeDefined();
    await page.goto(`${page.url().split('?')[0]}?node=${feature.node_id}`);
    await page.getByRole('application', { name: 'Attribution graph' }).waitFor();

    await page.getByRole('tab', { name: 'Interventions' }).click();
    const lab = page.getByRole('region', { name: 'Intervention lab' });
    await lab.getByRole('button', { name: 'Add selected' }).click();
    await lab.getByRole('list', { name: 'Features to change' }).getByRole('listitem').first().waitFor();
    await lab.getByRole('button', { name: '×0' }).click();
    await lab.getByRole('spinbutton', { name: 'Generate tokens' }).fill('3');
    await lab.getByRole('combobox', { name: 'Run on' }).selectOption('worker');
    await lab.scrollIntoViewIfNeeded();
    await shot(page, '01-lab-form');
    await lab.getByRole('button', { name: 'Intervene', exact: true }).click();
    const result = page.getByRole('region', { name: 'Intervention result' });
    await lab.getByRole('status').first().waitFor();
    await shot(page, '02-worker-progress');
    await result.getByRole('img', { name: /Next-token probabilities/ }).waitFor({ timeout: 120_000 });
    await result.getByText('Continuation after').waitFor();
    await result.scrollIntoViewIfNeeded();
    await shot(page, '03-worker-result');

    await lab.getByRole('combobox', { name: 'Run on' }).selectOption('browser');
    await lab.getByRole('button', { name: 'Intervene', exact: true }).click();
    const experiments = lab.getByRole('region', { name: 'Experiments' });
    await expect.poll(() => experiments.getByRole('listitem').count(), { timeout: 120_000 }).toBe(2);
    await expect
      .poll(() => experiments.getByRole('listitem').first().textContent(), { timeout: 120_000 })
      .toContain('browser');
    await result.getByRole('heading', { name: /, browser\)$/ }).waitFor();
    await result.getByRole('img', { name: /Next-token probabilities/ }).waitFor();
    await result.scrollIntoViewIfNeeded();
    await shot(page, '04-browser-result');

    const saved = async () =>
      (await api<{ items: Experiment[] }>('experiments.list', { investigationId })).items;
    await expect.poll(async () => (await saved()).filter((e) => e.result !== null).length).toBe(2);
    const [onWorker, inBrowser] = await saved();
    expect(onWorker.spec.runner).toBe('worker');
    expect(inBrowser.spec.runner).toBe('browser');
    const workerReport = (onWorker.result as { report: Report }).report;
    const browserReport = (inBrowser.result as { report: Report }).report;
    expectSameTop5(workerReport, browserReport);
    // Zeroing a feature that fires changes the distribution.
    expect(lastTop5(workerReport).after).not.toEqual(lastTop5(workerReport).before);
    expect(browserReport.generation?.intervened.tokens).toEqual(workerReport.generation?.intervened.tokens);

    // A token that leaves the top 5 still has its after bar, and can be chosen for the logit difference
    // against one that entered.
    const last = browserReport.runs[0].positions.at(-1) as Report['runs'][number]['positions'][number];
    const { before, after } = lastTop5(browserReport);
    const left = before.find((t) => !after.some((a) => a.id === t.id));
    const entered = after.find((t) => !before.some((b) => b.id === t.id));
    expect(left, 'a token that leaves the top 5').toBeDefined();
    expect(entered, 'a token that enters the top 5').toBeDefined();
    const text = (t: TopToken) => JSON.stringify(t.token ?? `#${t.id}`);
    const bars = result.getByRole('img', { name: /Next-token probabilities/ }).locator('title');
    const titles = await bars.allTextContents();
    for (const side of ['before', 'after'])
      for (const t of [left, entered] as TopToken[])
        expect(
          titles.some((x) => x.startsWith(`${text(t)} ${side}: `)),
          `${text(t)} ${side}`,
        ).toBe(true);
    await result.getByRole('combobox', { name: 'Token A' }).selectOption({ label: text(left as TopToken) });
    await result
      .getByRole('combobox', { name: 'Token B' })
      .selectOption({ label: text(entered as TopToken) });
    const u = (id: number) => last.union?.find((x) => x.id === id) as UnionToken;
    const [a, b] = [u((left as TopToken).id), u((entered as TopToken).id)];
    const cells = result.getByRole('table').getByRole('cell');
    await expect
      .poll(() => cells.allTextContents())
      .toEqual([
        (a.clean - b.clean).toFixed(3),
        (a.intervened - b.intervened).toFixed(3),
        (a.intervened - b.intervened - (a.clean - b.clean)).toFixed(3),
      ]);
    await result.scrollIntoViewIfNeeded();
    await shot(page, '04b-left-and-entered');

    // The same inputs through the CLI: the supernode file holds the group the lab sent.
    const group = path.join(tmp, 'group.json');
    writeFileSync(group, JSON.stringify(onWorker.spec.request.scale[0].group));
    const out = path.join(tmp, 'intervene.safetensors');
    await promisify(execFile)(
      'pnpm',
      [
        'loupe',
        'intervene',
        '--model',
        'organism-m',
        '--transcoders',
        'organism-m/plt',
        '--prompt',
        '36+59=',
        '--scale',
        `${group}=0`,
        '--mode',
        'constrained',
        '--generate',
        '3',
        '--out',
        out,
      ],
      { cwd: repoRoot, timeout: 120_000 },
    );
    const fromCli = cliReport(out);
    expectSameTop5(fromCli, workerReport);
    expectSameTop5(fromCli, browserReport);

    // Rename the worker's experiment, rerun the browser's, delete it.
    await experiments.getByRole('button', { name: `Rename ${onWorker.name}` }).click();
    await experiments.getByRole('textbox', { name: 'Experiment name' }).fill('zero the strongest feature');
    await experiments.getByRole('button', { name: 'Save' }).click();
    await experiments.getByRole('button', { name: 'zero the strongest feature', exact: true }).waitFor();
    await experiments.getByRole('button', { name: `Rerun ${inBrowser.name}` }).click();
    await expect
      .poll(async () => (await saved()).find((e) => e.id === inBrowser.id)?.result)
      .not.toEqual(inBrowser.result);
    const rerun = (await saved()).find((e) => e.id === inBrowser.id) as Experiment;
    expectSameTop5((rerun.result as { report: Report }).report, fromCli);
    await shot(page, '05-experiments');
    await experiments.getByRole('button', { name: `Delete ${inBrowser.name}` }).click();
    await expect.poll(() => experiments.getByRole('listitem').count()).toBe(1);
    expect((await saved()).map((e) => e.name)).toEqual(['zero the strongest feature']);

    // Two modes side by side, in the page (the model is already loaded there).
    await lab.getByRole('combobox', { name: 'Side by side with' }).selectOption('free');
    await lab.getByRole('button', { name: 'Intervene', exact: true }).click();
    await expect.poll(() => experiments.getByRole('listitem').count(), { timeout: 120_000 }).toBe(2);
    await expect.poll(() => result.getByRole('img', { name: /Next-token probabilities/ }).count()).toBe(2);
    await result.getByRole('heading', { name: /^free/ }).waitFor();
    await result.scrollIntoViewIfNeeded();
    await shot(page, '06-two-modes');

    // An experiment saved before reports carried the top-k union still renders: one-sided bars from the lists.
    const post = async <T>(proc: string, input: unknown): Promise<T> => {
      const r = await context.request.post(`${web.url}/api/trpc/${proc}`, { data: input });
      expect(r.status(), proc).toBe(200);
      return ((await r.json()) as { result: { data: T } }).result.data;
    };
    const oldReport = JSON.parse(JSON.stringify(browserReport)) as Report;
    for (const run of oldReport.runs) for (const p of run.positions) delete p.union;
    // A long name, as a case study's table titles make: it keeps to one line in the list, whole in its title.
    const oldName =
      `saved before the union: ${'zeroing the strongest feature at the last position, '.repeat(3)}`.trimEnd();
    const old = await post<{ id: string; version: number }>('experiments.create', {
      investigationId,
      name: oldName,
      spec: inBrowser.spec,
    });
    await post('experiments.update', { id: old.id, version: old.version, result: { report: oldReport } });
    await page.reload();
    await page.getByRole('tab', { name: 'Interventions' }).click();
    const oldButton = experiments.getByRole('button', { name: oldName, exact: true });
    await oldButton.click();
    expect(await oldButton.getAttribute('title')).toBe(oldName);
    const fits = await oldButton.evaluate((el) => ({ scroll: el.scrollWidth, client: el.clientWidth }));
    expect(fits.scroll, 'the name is cut with an ellipsis').toBeGreaterThan(fits.client);
    expect((await oldButton.boundingBox())?.height).toBeLessThan(30);
    await experiments.screenshot({ path: path.join(shots, '07a-experiments-long-name.png') });
    const oldBars = result.getByRole('img', { name: /Next-token probabilities/ });
    await oldBars.waitFor();
    const oldTitles = await oldBars.locator('title').allTextContents();
    expect(oldTitles.some((x) => x.startsWith(`${text(left as TopToken)} before: `))).toBe(true);
    expect(oldTitles.some((x) => x.startsWith(`${text(left as TopToken)} after: `))).toBe(false);
    await result.scrollIntoViewIfNeeded();
    await shot(page, '07-saved-before-the-union');
    await page.close();
    expect(problems).toEqual([]);
  }, 600_000);
});
