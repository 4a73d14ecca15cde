/**
 * Every example runs as a user would run it, from a scratch folder: the Node scripts through tsx, and the
 * browser page in headless Chromium, whose intervention must print the top tokens the Node script prints.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { startExampleServer } from '../browser/serve.ts';

const examples = join(import.meta.dirname, '..');
const tsxCli = createRequire(import.meta.url).resolve('tsx/cli');
const scratch = mkdtempSync(join(tmpdir(), 'loupe-examples-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

async function runExample(script: string, ...args: string[]): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [tsxCli, join(examples, script), ...args],
      {
        cwd: scratch,
      },
    );
    return stdout;
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    throw new Error(`${script} exited ${err.code}\n${err.stdout ?? ''}${err.stderr ?? ''}`);
  }
}

/** `"95" 78.34%, "96" 15.16%` → [['95', 78.34], ['96', 15.16]] */
function distribution(line: string): [string, number][] {
  return [...line.matchAll(/("(?:[^"\\]|\\.)*") (\d+\.\d+)%/g)].map((m) => [JSON.parse(m[1]), Number(m[2])]);
}

/** The before and after distributions an intervention example printed. */
function beforeAfter(out: string): { before: [string, number][]; after: [string, number][] } {
  const line = (label: string) => new RegExp(`^${label}: +(.*)$`, 'm').exec(out)?.[1] ?? '';
  return { before: distribution(line('before')), after: distribution(line('after')) };
}

describe('node examples', () => {
  it('trace.ts prints the predictions and top features and writes the graph JSON it reports', async () => {
    const out = await runExample('node/trace.ts', '36+59=', 'graph.json');
    const predictions = distribution(/^next token: (.*)$/m.exec(out)?.[1] ?? '');
    expect(predictions.length).toBeGreaterThan(0);
    expect(out.match(/^ {2}\d+:\d+:\d+ at /gm)?.length).toBe(5);
    const json = JSON.parse(readFileSync(join(scratch, 'graph.json'), 'utf8'));
    expect(out).toContain(`graph.json: ${json.nodes.length} nodes, ${json.links.length} links`);
    expect(json.metadata.prompt).toContain('36+59=');
  });

  it('intervene.ts switches a feature off and the top token loses probability', async () => {
    const { before, after } = beforeAfter(await runExample('node/intervene.ts'));
    expect(before.length).toBe(3);
    const [top, p0] = before[0];
    const p1 = after.find(([t]) => t === top)?.[1] ?? 0;
    expect(p1).toBeLessThan(p0);
  });

  it('an unknown mode is refused by name', async () => {
    await expect(runExample('node/intervene.ts', 'frozen')).rejects.toThrow(
      /mode 'frozen': expected one of constrained, frozen-attention, free/,
    );
  });

  it('train-dictionary.ts writes a dictionary that trace.ts then traces through', async () => {
    const out = await runExample('node/train-dictionary.ts', 'plt-128');
    const fvu = Number(/FVU (\d+\.\d+)/.exec(out)?.[1]);
    expect(fvu).toBeLessThan(1);
    for (const f of ['config.yaml', 'layer_0.safetensors', 'metrics.json'])
      expect(existsSync(join(scratch, 'plt-128', f))).toBe(true);
    const traced = await runExample('node/trace.ts', '36+59=', 'graph-128.json', 'plt-128');
    expect(traced).toMatch(/^next token: "/m);
    expect(JSON.parse(readFileSync(join(scratch, 'graph-128.json'), 'utf8')).metadata.scan).toBe('plt-128');
  });
});

const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
// As apps/web/test/helpers.ts: no sandbox in containers, no network side traffic.
const chromiumArgs = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

describe.skipIf(!existsSync(chromiumPath))(
  `browser example (needs Chromium at ${chromiumPath} or $CHROMIUM_PATH)`,
  () => {
    let browser: Browser | undefined;
    afterAll(() => browser?.close());

    it('runs the intervention in onnxruntime-web and prints the top tokens node/intervene.ts prints', async () => {
      const node = beforeAfter(await runExample('node/intervene.ts', 'constrained'));
      const { url, server } = await startExampleServer();
      try {
        browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: chromiumArgs });
        const page = await browser.newPage();
        const errors: string[] = [];
        page.on('pageerror', (e) => errors.push(e.message));
        await page.goto(`${url}/`);
        const out = page.locator('#out');
        await page.waitForSelector('#out[data-state]', { timeout: 90_000 });
        const text = await out.textContent();
        expect(await out.getAttribute('data-state'), text ?? '').toBe('done');
        expect(errors).toEqual([]);
        const web = beforeAfter(text ?? '');
        for (const which of ['before', 'after'] as const) {
          expect(web[which].map(([t]) => t)).toEqual(node[which].map(([t]) => t));
          // Percentages printed to two decimals; onnxruntime-web and -node agree within 1e-4 in logits.
          for (const [i, [, p]] of web[which].entries()) {
            expect(Math.abs(p - node[which][i][1])).toBeLessThanOrEqual(0.02);
          }
        }
      } finally {
        server.close();
      }
    });
  },
);
