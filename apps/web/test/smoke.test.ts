import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumArgs, chromiumPath, startWeb } from './helpers.ts';

describe('web app (production build)', () => {
  let web: Awaited<ReturnType<typeof startWeb>>;
  beforeAll(async () => {
    web = await startWeb();
  });
  afterAll(async () => {
    await web?.stop();
  });

  it('answers the tRPC health query', async () => {
    const res = await fetch(`${web.url}/api/trpc/system.health`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { result: { data: { ok: boolean; service: string } } };
    expect(body.result.data).toMatchObject({ ok: true, service: 'loupe' });
  });

  it('returns a tRPC error, not a crash, for an unknown procedure', async () => {
    const res = await fetch(`${web.url}/api/trpc/system.nope`);
    expect(res.status).toBe(404);
  });

  it.runIf(existsSync(chromiumPath))(
    'renders the sign-in page in Chromium once the API answers',
    async () => {
      const browser = await chromium.launch({
        executablePath: chromiumPath,
        headless: true,
        args: chromiumArgs,
      });
      try {
        const page = await browser.newPage();
        const errors: string[] = [];
        page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
        await page.goto(web.url);
        // The form appears only after auth.me answered, so this also proves the API is reachable from the page.
        await page.getByRole('button', { name: 'Sign in', exact: true }).waitFor({ timeout: 30_000 });
        expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Loupe');
        expect(errors).toEqual([]);
      } finally {
        await browser.close();
      }
    },
  );
});
