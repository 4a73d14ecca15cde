/**
 * The same compiled graphs in the browser: a checkpoint read over HTTP Range requests and run by
 * onnxruntime-web in headless Chromium (wasm with 2 threads; WebGPU on SwiftShader) gives Node's
 * onnxruntime-node logits within 1e-4.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { build } from 'esbuild';
import { type Browser, type Page, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCheckpoint } from '../src/io/checkpoint.ts';
import { prepareTokens } from '../src/io/tokenizer.ts';
import type { Architecture } from '../src/model/config.ts';
import type { HookName } from '../src/model/hooks.ts';
import { Model } from '../src/model/model.ts';
import { nodeFiles } from '../src/node/files.ts';
import { nodeRuntime } from '../src/node/runtime.ts';
import type { BrowserRunRequest, BrowserRunResult } from './fixtures/browser/page.ts';
import { type StaticServer, type StaticSite, startStaticServer } from './fixtures/browser/server.ts';
import { removeFixtureDirs, writeRandomCheckpoint } from './fixtures/checkpoints.ts';

const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const hasChromium = existsSync(chromiumPath);
// As apps/web/test/helpers.ts (no sandbox in containers, no network side traffic), plus WebGPU.
const chromiumArgs = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  // WebGPU on Chromium's software Vulkan (works despite --disable-gpu), so no GPU is needed.
  '--enable-unsafe-webgpu',
  '--use-webgpu-adapter=swiftshader',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const ortDist = dirname(createRequire(import.meta.url).resolve('onnxruntime-web/wasm'));
const ARCHS: Architecture[] = ['llama', 'gpt2'];
// WebGPU on SwiftShader takes ~20 s (shader compilation on 2 cores): too slow for every CI run.
const webgpuOptIn = process.env.LOUPE_TEST_WEBGPU === '1';
const PROMPT = 'w5 w9 w17 w3 w40 w22 w7';
const HOOK: HookName = 'blocks.1.hook_resid_mid';

const pageHtml = (script: string) => `<!doctype html>
<html><head><meta charset="utf-8"><link rel="icon" href="data:,">
<script type="module" src="${script}"></script>
</head><body></body></html>`;

/** Bundles a page entry with everything it imports, onnxruntime-web included. */
async function bundle(entry: string): Promise<Uint8Array> {
  const out = await build({
    entryPoints: [join(import.meta.dirname, 'fixtures/browser', entry)],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    write: false,
    logLevel: 'silent',
  });
  return out.outputFiles[0].contents;
}

interface PageGlobals {
  loupeRun(req: BrowserRunRequest): Promise<BrowserRunResult>;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe.skipIf(!hasChromium)(
  hasChromium
    ? 'browser: onnxruntime-web in Chromium matches onnxruntime-node'
    : `browser parity skipped: no Chromium at ${chromiumPath} (install it or set CHROMIUM_PATH)`,
  () => {
    let browser: Browser;
    let site: StaticSite;
    let main: { url: string; page: Page; errors: string[] };
    const servers: StaticServer[] = [];
    const dirs = new Map<Architecture, string>();

    /** A fresh page on a fresh server; `isolate` picks the responses that get COOP/COEP. */
    async function openPage(
      path: string,
      isolate?: StaticSite['isolate'],
    ): Promise<{ url: string; page: Page; errors: string[] }> {
      const server = await startStaticServer({ ...site, isolate });
      servers.push(server);
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`${server.url}${path}`);
      await page.waitForFunction(() => 'loupeRun' in globalThis, undefined, { timeout: 15_000 });
      return { url: server.url, page, errors };
    }

    const runInPage = (page: Page, req: BrowserRunRequest): Promise<BrowserRunResult> =>
      page.evaluate((r) => (globalThis as unknown as PageGlobals).loupeRun(r), req);

    beforeAll(async () => {
      const mounts: Record<string, string> = { '/ort/': ortDist };
      for (const [i, arch] of ARCHS.entries()) {
        const { dir } = await writeRandomCheckpoint(arch, { seed: 11 + i });
        dirs.set(arch, dir);
        mounts[`/ckpt/${arch}/`] = dir;
      }
      const html = 'text/html; charset=utf-8';
      const js = 'text/javascript';
      const pages: StaticSite['pages'] = {
        '/': { body: pageHtml('/wasm.js'), type: html },
        '/wasm.js': { body: await bundle('entry-wasm.ts'), type: js },
      };
      if (webgpuOptIn) {
        pages['/webgpu.html'] = { body: pageHtml('/webgpu.js'), type: html };
        pages['/webgpu.js'] = { body: await bundle('entry-webgpu.ts'), type: js };
      }
      site = { pages, mounts };
      browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: chromiumArgs });
      main = await openPage('/');
    }, 60_000);

    afterAll(async () => {
      await browser?.close();
      await Promise.all(servers.map((s) => s.close()));
      await removeFixtureDirs();
    });

    /** Checks a page's run of `arch` against onnxruntime-node on the same checkpoint files. */
    async function expectMatchesNode(
      arch: Architecture,
      url: string,
      web: BrowserRunResult,
      tolerance = 1e-4,
    ): Promise<void> {
      const ckpt = await loadCheckpoint(dirs.get(arch) ?? '', nodeFiles());
      const model = await Model.create(ckpt.config, ckpt.weights, ckpt.tokenizer, nodeRuntime());
      const tokens = prepareTokens({ text: PROMPT }, ckpt.config.dVocab, ckpt.tokenizer);
      const node = await model.run(tokens, { hooks: [HOOK] });
      expect(web.tokens, url).toEqual([...tokens]);
      expect(web.logitsShape).toEqual([tokens.length, ckpt.config.dVocab]);
      expect(maxAbsDiff(web.logits, node.logits.data)).toBeLessThanOrEqual(tolerance);
      expect(maxAbsDiff(web.hook, node.cache.get(HOOK)?.data ?? [])).toBeLessThanOrEqual(tolerance);
      // Guards against both sides returning the same degenerate output.
      expect(Math.max(...web.logits) - Math.min(...web.logits)).toBeGreaterThan(0.1);
    }

    it.each(ARCHS)('wasm, 2 threads: %s logits and a hook within 1e-4 of Node', async (arch) => {
      const { url, page, errors } = main;
      const web = await runInPage(page, { checkpointUrl: `${url}/ckpt/${arch}`, prompt: PROMPT, hook: HOOK });
      expect(errors).toEqual([]);
      expect(web.crossOriginIsolated).toBe(true);
      expect(web.numThreads).toBe(2);
      await expectMatchesNode(arch, url, web);
    });

    it.skipIf(!webgpuOptIn)(
      'webgpu (opt-in: LOUPE_TEST_WEBGPU=1): llama within 1e-3 of Node',
      async (ctx) => {
        const { url, page, errors } = await openPage('/webgpu.html');
        const hasAdapter = await page.evaluate(async () => {
          const gpu = (navigator as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
          return (await gpu?.requestAdapter()) != null;
        });
        if (!hasAdapter) ctx.skip('this Chromium offers no WebGPU adapter (SwiftShader)');
        const web = await runInPage(page, { checkpointUrl: `${url}/ckpt/llama`, prompt: PROMPT, hook: HOOK });
        expect(errors).toEqual([]);
        await expectMatchesNode('llama', url, web, 1e-3);
      },
    );

    it('a worker script served without COEP fails with a clear error instead of hanging', async () => {
      const { url, page } = await openPage('/', (p) => !p.startsWith('/ort/ort-wasm-simd-threaded'));
      const req = { checkpointUrl: `${url}/ckpt/llama`, prompt: PROMPT, hook: HOOK, initTimeoutMs: 2_000 };
      await expect(runInPage(page, req)).rejects.toThrow(
        /did not start within 2000 ms.*Cross-Origin-Embedder-Policy/,
      );
    });
  },
);
