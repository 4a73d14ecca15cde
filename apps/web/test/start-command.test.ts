import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort, repoRoot, waitForHttp } from './helpers.ts';

// README command 1: `npm start` serves the app and stops cleanly on Ctrl-C.
describe('npm start', () => {
  it('serves a page and exits 0 on SIGINT', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [path.join(repoRoot, 'scripts/loupe-dev.mjs'), 'start'], {
      cwd: repoRoot,
      env: { ...process.env, PORT: String(port), LOUPE_DATA_DIR: mkdtempSync(path.join(os.tmpdir(), 'loupe-start-test-')) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    try {
      const res = await waitForHttp(`http://127.0.0.1:${port}/`, 240_000, child);
      expect(await res.text()).toContain('Loupe');
      await waitFor(() => output.includes('[worker] connected'), 60_000);
    } finally {
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGINT');
      expect(await exited).toBe(0);
    }
  }, 300_000);
});

async function waitFor(cond: () => boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 200));
  }
}
