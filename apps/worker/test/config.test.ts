import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, readTokenFile } from '../src/config.ts';

describe('worker configuration', () => {
  it('resolves a relative data directory against the repository root, like the web app', () => {
    const root = path.resolve(import.meta.dirname, '../../..');
    expect(loadConfig({}).tokenFile).toBe(path.join(root, '.loupe', 'worker-token'));
    expect(loadConfig({ LOUPE_DATA_DIR: 'data/x' }).tokenFile).toBe(
      path.join(root, 'data/x', 'worker-token'),
    );
  });

  it('has embedded defaults', () => {
    const c = loadConfig({ LOUPE_DATA_DIR: '/data' });
    expect(c.url).toBe('http://127.0.0.1:3000');
    expect(c.apiToken).toBeUndefined();
    expect(c.tokenFile).toBe(path.join('/data', 'worker-token'));
    expect(c.workerId).toMatch(/-\d+$/);
    expect(c.concurrency).toBe(1);
    expect(c.kinds).toBeUndefined();
    expect(c.heartbeatMs).toBeLessThanOrEqual(c.leaseMs / 3);
    expect(c.executionProviders).toEqual(['cpu']);
  });

  it('parses every variable and keeps heartbeats within a third of the lease', () => {
    const c = loadConfig({
      LOUPE_URL: 'https://loupe.example.org/',
      LOUPE_API_TOKEN: ' lp_abc ',
      WORKER_ID: 'gpu-box-1',
      LOUPE_JOB_KINDS: 'diagnostics, attribute,',
      LOUPE_WORKER_CONCURRENCY: '4',
      LOUPE_LEASE_MS: '1500',
      LOUPE_HEARTBEAT_MS: '5000',
      LOUPE_EXECUTION_PROVIDERS: 'cuda,cpu',
    });
    expect(c).toMatchObject({
      url: 'https://loupe.example.org',
      apiToken: 'lp_abc',
      workerId: 'gpu-box-1',
      kinds: ['diagnostics', 'attribute'],
      concurrency: 4,
      leaseMs: 1500,
      heartbeatMs: 500,
      executionProviders: ['cuda', 'cpu'],
    });
  });

  it('names the offending variable', () => {
    expect(() => loadConfig({ LOUPE_URL: 'ftp://x' })).toThrow(/LOUPE_URL/);
    expect(() => loadConfig({ LOUPE_WORKER_CONCURRENCY: '0' })).toThrow(/LOUPE_WORKER_CONCURRENCY/);
    expect(() => loadConfig({ LOUPE_LEASE_MS: 'soon' })).toThrow(/LOUPE_LEASE_MS/);
    expect(() => loadConfig({ WORKER_ID: 'a b' })).toThrow(/WORKER_ID/);
    expect(() => loadConfig({ LOUPE_EXECUTION_PROVIDERS: 'gpu' })).toThrow(
      /LOUPE_EXECUTION_PROVIDERS: unknown execution provider\(s\) gpu/,
    );
  });

  it('reads a token file and refuses a corrupt one', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'loupe-worker-'));
    const file = path.join(dir, 'worker-token');
    expect(readTokenFile(file)).toBeUndefined();
    writeFileSync(file, 'lp_worker_123\n');
    expect(readTokenFile(file)).toBe('lp_worker_123');
    writeFileSync(file, 'two tokens\n');
    expect(() => readTokenFile(file)).toThrow(/single API token/);
  });
});
