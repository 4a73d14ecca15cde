import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort, repoRoot, waitForHttp } from './helpers.ts';

interface Started {
  child: ChildProcess;
  port: number;
  output: () => string;
  dataDir: string;
}

/** Runs `cmd args` from the repository root on a free port with a private data folder, until web and worker are up. */
async function startLoupe(cmd: string, args: string[]): Promise<Started> {
  const port = await freePort();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'loupe-start-test-'));
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), LOUPE_DATA_DIR: dataDir };
  delete env.LOUPE_HOST;
  const child = spawn(cmd, args, { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d) => (output += d));
  child.stderr?.on('data', (d) => (output += d));
  const res = await waitForHttp(`http://127.0.0.1:${port}/`, 240_000, child);
  expect(await res.text()).toContain('Loupe');
  await waitFor(() => output.includes('[worker] connected'), 60_000, 'the worker to connect');
  return { child, port, output: () => output, dataDir };
}

/** Every process below `pid`, with its command line (ps works alike on Linux and macOS). */
function descendants(pid: number): { pid: number; args: string }[] {
  const rows = execFileSync('ps', ['-A', '-o', 'pid=,ppid=,args='], { encoding: 'utf8' })
    .split('\n')
    .map((l) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(l))
    .filter((m) => m !== null)
    .map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), args: m[3] }));
  const out: { pid: number; args: string }[] = [];
  const frontier = [pid];
  while (frontier.length > 0) {
    const parent = frontier.pop();
    for (const r of rows) {
      if (r.ppid === parent) {
        out.push({ pid: r.pid, args: r.args });
        frontier.push(r.pid);
      }
    }
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

// README: `npm start` serves the app and stops cleanly on Ctrl-C.
describe('npm start', () => {
  it('serves a page and exits 0 on SIGINT', async () => {
    const s = await startLoupe(process.execPath, [path.join(repoRoot, 'scripts/loupe-dev.mjs'), 'start']);
    try {
      const exited = new Promise<number | null>((resolve) => s.child.once('exit', (code) => resolve(code)));
      s.child.kill('SIGINT');
      expect(await exited).toBe(0);
    } finally {
      rmSync(s.dataDir, { recursive: true, force: true });
    }
  }, 300_000);

  // A process manager or container runtime signals the `npm start` process alone, not its process group: web,
  // worker and everything they started must still stop, and the port close.
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`stops web, worker and the port when only the npm process gets ${signal}`, async () => {
      const s = await startLoupe('npm', ['start']);
      const npmPid = s.child.pid as number;
      const tree = descendants(npmPid);
      // Next retitles its server process "next-server (vX)", so its command line no longer says "next start".
      const web = tree.find((p) => /next start|next-server/.test(p.args));
      const worker = tree.find((p) => p.args.includes('src/main.ts'));
      try {
        expect(web, `no web process below npm:\n${tree.map((p) => p.args).join('\n')}`).toBeDefined();
        expect(worker, 'no worker process below npm').toBeDefined();
        // Loopback unless LOUPE_HOST says otherwise: every listening socket on the port is bound to 127.0.0.1.
        expect(listeningAddresses(s.port)).toEqual(['127.0.0.1']);
        expect(s.output()).toContain(`web app on http://127.0.0.1:${s.port}`);
        process.kill(npmPid, signal);
        await waitFor(
          () => s.child.exitCode !== null || s.child.signalCode !== null,
          30_000,
          `npm to exit after ${signal} (npm signals the shell that runs the start script: it must \`exec node ...\`)`,
        );
        await waitFor(
          () => tree.every((p) => !alive(p.pid)),
          30_000,
          `every process npm started to exit after ${signal}`,
        );
        expect(await portAnswers(s.port)).toBe(false);
      } finally {
        for (const p of [{ pid: npmPid }, ...tree]) if (alive(p.pid)) process.kill(p.pid, 'SIGKILL');
        rmSync(s.dataDir, { recursive: true, force: true });
      }
    }, 300_000);
  }
});

/**
 * The local addresses of the TCP sockets listening on `port`, read from the kernel's tables (Linux), so the test
 * sends no traffic to any address but loopback.
 */
function listeningAddresses(port: number): string[] {
  const out = new Set<string>();
  for (const [file, v6] of [
    ['/proc/net/tcp', false],
    ['/proc/net/tcp6', true],
  ] as const) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 4 || f[3] !== '0A') continue; // 0A: LISTEN
      const [addr, portHex] = f[1].split(':');
      if (Number.parseInt(portHex, 16) !== port) continue;
      out.add(v6 ? ipv6Text(addr) : ipv4Text(addr));
    }
  }
  return [...out].sort();
}

/** /proc/net/tcp writes an IPv4 address as one little-endian 32-bit hex word. */
function ipv4Text(hex: string): string {
  return [3, 2, 1, 0].map((i) => Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16)).join('.');
}

/** Four little-endian words; only the forms a server binds (any, loopback, IPv4-mapped) need naming here. */
function ipv6Text(hex: string): string {
  if (/^0{32}$/.test(hex)) return '::';
  if (hex === '00000000000000000000000001000000') return '::1';
  if (hex.startsWith('0000000000000000FFFF0000')) return ipv4Text(hex.slice(24));
  return hex;
}

async function waitFor(cond: () => boolean, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
