#!/usr/bin/env node
// The newcomer's two commands, runnable with nothing but Node 20 and npm:
//   npm start  — install everything, build, and run Loupe on its embedded defaults (PGlite, organism, web :3000, one worker)
//   npm test   — install everything and run every check: build, lint, typecheck and all tests
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const PNPM_VERSION = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).packageManager.split(
  '@',
)[1];
const env = {
  ...process.env,
  NEXT_TELEMETRY_DISABLED: '1',
  TURBO_TELEMETRY_DISABLED: '1',
  DO_NOT_TRACK: '1',
};

function log(msg) {
  process.stdout.write(`\x1b[1m[loupe]\x1b[0m ${msg}\n`);
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env, ...opts });
  if (r.status !== 0) {
    log(`${cmd} ${args.join(' ')} failed (exit ${r.status ?? r.signal})`);
    process.exit(r.status ?? 1);
  }
}

function pnpmVersion() {
  try {
    return execFileSync('pnpm', ['--version'], { encoding: 'utf8', env }).trim();
  } catch {
    return null;
  }
}

function ensurePnpm() {
  if (pnpmVersion() === PNPM_VERSION) return;
  // corepack verifies pnpm's signature against keys a mirrored registry may not serve: install pnpm with npm instead.
  log(`installing pnpm ${PNPM_VERSION} with npm`);
  run('npm', ['install', '--global', `pnpm@${PNPM_VERSION}`]);
}

function install() {
  ensurePnpm();
  log('installing dependencies (offline-safe: npm registry only)');
  run('pnpm', ['install', '--frozen-lockfile']);
}

function printSummary(reportPath) {
  if (!existsSync(reportPath)) {
    console.log('0 passed, 1 failed');
    return 1;
  }
  const r = JSON.parse(readFileSync(reportPath, 'utf8'));
  const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  // CI reads this exact closing line, not vitest's own summary.
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
  return r.success && r.numFailedTests === 0 && r.numFailedTestSuites === 0 ? 0 : 1;
}

function test() {
  install();
  log('build, lint and typecheck');
  run('pnpm', ['exec', 'turbo', 'run', 'build', 'lint', 'typecheck', '--output-logs=errors-only']);
  // Files outside the workspace packages (this script, infra/) are formatted and linted here.
  run('pnpm', ['exec', 'biome', 'ci', 'scripts', 'infra', 'vitest.config.ts']);
  log(
    process.env.TEST_DATABASE_URL
      ? `tests (databases: PGlite and ${new URL(process.env.TEST_DATABASE_URL).host})`
      : 'tests (database: PGlite; set TEST_DATABASE_URL to also test PostgreSQL)',
  );
  const report = path.join(root, 'vitest-report.json');
  const r = spawnSync(
    'pnpm',
    ['exec', 'vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`],
    { cwd: root, stdio: 'inherit', env },
  );
  const code = printSummary(report);
  process.exit(r.status !== 0 ? r.status || 1 : code);
}

/**
 * A preload for every child (each leads its own process group): when its parent changes, i.e. this script is
 * gone, even killed with SIGKILL, it stops its group, so that no web server or worker outlives `npm start`.
 */
const EXIT_WITH_PARENT =
  "data:text/javascript,const p=process.ppid;setInterval(()=>{if(process.ppid!==p)process.kill(-process.pid,'SIGTERM')},500).unref();";

/** SIGTERM or SIGKILL to a child's whole process group: the web server or worker and whatever it started. */
function signalGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    child.kill(signal);
  }
}

function start() {
  install();
  log('building (cached after the first run)');
  run('pnpm', [
    'exec',
    'turbo',
    'run',
    'build',
    '--filter=@loupe/web...',
    '--filter=@loupe/worker...',
    '--output-logs=errors-only',
  ]);
  const children = [];
  let stopping = false;
  const stop = (code, why) => {
    if (stopping) return;
    stopping = true;
    clearInterval(watchdog);
    log(`stopping (${why})`);
    for (const c of children) if (c.exitCode === null && c.signalCode === null) signalGroup(c, 'SIGTERM');
    const deadline = setTimeout(() => {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) signalGroup(c, 'SIGKILL');
      process.exit(code);
    }, 5_000);
    const exited = (c) =>
      c.exitCode !== null || c.signalCode !== null ? null : new Promise((res) => c.once('exit', res));
    Promise.all(children.map(exited)).then(() => {
      clearTimeout(deadline);
      process.exit(code);
    });
  };
  // `npm start` runs this script under `sh -c`, and a SIGTERM to npm kills that shell without reaching this
  // process: a new parent is how that shows.
  const parent = process.ppid;
  const watchdog = setInterval(() => {
    if (process.ppid !== parent) stop(0, `parent process ${parent} exited`);
  }, 250);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => stop(0, signal));
  const port = process.env.PORT ?? '3000';
  // Loopback unless told otherwise: the workspace holds a team's data and has no business on a network by default.
  const host = process.env.LOUPE_HOST || '127.0.0.1';
  const dataDir = process.env.LOUPE_DATA_DIR ?? path.join(root, '.loupe');
  // The address the worker and the log use: loopback when the app listens on every address, else that address.
  const reach = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  const url = `http://${reach}:${port}`;
  // A server reachable from a network admits new accounts by invitation only, unless LOUPE_SIGNUP says otherwise.
  const loopback = host === '127.0.0.1' || host === '::1' || host === 'localhost';
  const signup = process.env.LOUPE_SIGNUP || (loopback ? 'open' : 'invite');
  const childEnv = { ...env, PORT: port, LOUPE_DATA_DIR: dataDir, LOUPE_URL: url, LOUPE_SIGNUP: signup };
  const spawnChild = (name, args, cwd) => {
    // Its own process group, so that stopping it also stops what it started (next's and tsx's helpers); a
    // terminal's Ctrl-C reaches this script, which stops the children in order.
    const c = spawn(process.execPath, ['--import', EXIT_WITH_PARENT, ...args], {
      cwd: path.join(root, cwd),
      env: childEnv,
      stdio: 'inherit',
      detached: true,
    });
    c.on('exit', (code, signal) => {
      if (!stopping) {
        log(`${name} exited (${code ?? signal}); shutting down`);
        stop(code ?? 1, `${name} exited`);
      }
    });
    children.push(c);
  };
  log(`web app on ${url} (data in ${path.relative(root, dataDir) || '.'})`);
  spawnChild('web', ['node_modules/next/dist/bin/next', 'start', '-H', host, '-p', port], 'apps/web');
  spawnChild('worker', ['--import', 'tsx', 'src/main.ts'], 'apps/worker');
}

const cmd = process.argv[2];
if (cmd === 'test') test();
else if (cmd === 'start') start();
else {
  console.error('usage: node scripts/loupe-dev.mjs start|test');
  process.exit(2);
}
