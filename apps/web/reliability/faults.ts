/**
 * Faults: the guarantees that hold when a process under the app goes away and comes back.
 *   node --import tsx apps/web/reliability/faults.ts [postgres-restart] [web-restart]   (default: both)
 * postgres-restart starts its own PostgreSQL (initdb/pg_ctl under /tmp, run as the postgres user when root);
 * web-restart uses PGlite, or PostgreSQL when DATABASE_URL or TEST_DATABASE_URL names one.
 * Prints each check; exits 1 when one fails.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort, startWeb, startWorker } from '../test/helpers.ts';
import { type Client, databaseUrl, signUpTeam } from './client.ts';

const pgBin = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';

function check(ok: boolean, what: string): void {
  console.log(`  ${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) throw new Error(`check failed: ${what}`);
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A throwaway PostgreSQL cluster on a free loopback port; initdb refuses root, so it runs as postgres then. */
async function startPostgres() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'loupe-pg-'));
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const { uid, gid } = JSON.parse(
      execFileSync('python3', [
        '-c',
        'import pwd,json;p=pwd.getpwnam("postgres");print(json.dumps({"uid":p.pw_uid,"gid":p.pw_gid}))',
      ]).toString(),
    ) as { uid: number; gid: number };
    chownSync(dir, uid, gid);
  }
  const run = (bin: string, args: string[]) => {
    const cmd = [path.join(pgBin, bin), ...args];
    if (asRoot)
      execFileSync('su', ['postgres', '-s', '/bin/bash', '-c', cmd.map((a) => `'${a}'`).join(' ')], {
        stdio: 'pipe',
      });
    else execFileSync(cmd[0], cmd.slice(1), { stdio: 'pipe' });
  };
  const port = await freePort();
  const data = path.join(dir, 'data');
  run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust']);
  const start = () =>
    run('pg_ctl', [
      '-D',
      data,
      '-l',
      path.join(dir, 'log'),
      '-o',
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`,
      '-w',
      'start',
    ]);
  const stop = () => run('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
  start();
  return {
    url: `postgresql://postgres@127.0.0.1:${port}/postgres`,
    start,
    stop,
    destroy: () => {
      try {
        stop();
      } catch {
        // Already stopped by a failed check: only the folder is left to remove.
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A loopback TCP relay with a fixed port whose target can move, as a reverse proxy in front of a restarted app. */
async function startRelay(targetPort: number) {
  let target = targetPort;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${port}`,
    retarget: (url: string) => {
      target = Number(new URL(url).port);
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

interface Job {
  id: string;
  status: string;
}

/** Enqueues a diagnostics job and waits for the running worker to finish it. */
async function jobCompletes(user: Client, teamId: string): Promise<boolean> {
  const job = await user.must<Job>('mutation', 'jobs.enqueue', { teamId, kind: 'diagnostics', params: {} });
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const { status } = await user.must<Job>('query', 'jobs.get', { jobId: job.id });
    if (status === 'succeeded') return true;
    if (status === 'failed' || status === 'cancelled') return false;
    await pause(250);
  }
  return false;
}

/** Every comment body on an investigation, all pages. */
async function commentBodies(user: Client, investigationId: string): Promise<Set<string>> {
  const bodies = new Set<string>();
  let cursor: string | undefined;
  do {
    const page = await user.must<{ items: { body: string }[]; nextCursor: string | null }>(
      'query',
      'comments.list',
      {
        investigationId,
        limit: 100,
        ...(cursor ? { cursor } : {}),
      },
    );
    for (const c of page.items) bodies.add(c.body);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return bodies;
}

const env = { LOUPE_AUTH_IP_LIMIT: '100000', LOUPE_AUTO_INDEX: '0' };

/**
 * PostgreSQL stops (fast shutdown: connections cut) and starts again while users write. Every write the app
 * acknowledged is there afterwards, and the same web and worker processes serve again without a restart.
 */
export async function postgresRestart(): Promise<void> {
  console.log('postgres-restart');
  const pg = await startPostgres();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'loupe-fault-'));
  let web: Awaited<ReturnType<typeof startWeb>> | undefined;
  let worker: Awaited<ReturnType<typeof startWorker>> | undefined;
  try {
    web = await startWeb({ ...env, DATABASE_URL: pg.url, LOUPE_DATA_DIR: dataDir });
    worker = await startWorker(web.url, dataDir);
    const { team, users } = await signUpTeam(web.url, 2, `${Date.now()}`);
    const inv = await team.owner.must<{ id: string; version: number }>('mutation', 'investigations.create', {
      teamId: team.teamId,
      title: 'fault',
      prompt: 'p',
    });
    check(await jobCompletes(team.owner, team.teamId), 'the worker completes a job before the restart');

    const ackedComments: string[] = [];
    let lastAcked = { version: inv.version, notes: '' };
    let refused = 0;
    let writing = true;
    const commenter = async (user: Client, who: number) => {
      for (let n = 0; writing; n++) {
        const body = `comment ${n} from ${who}`;
        const r = await user.call('mutation', 'comments.add', { investigationId: inv.id, body });
        if (r.ok) ackedComments.push(body);
        else refused++;
        await pause(20);
      }
    };
    // One editor, so each acknowledged version is the latest one it wrote.
    const editor = async () => {
      for (let n = 0; writing; n++) {
        const got = await team.owner.call<{ version: number }>('query', 'investigations.get', { id: inv.id });
        if (got.ok && got.data) {
          const notes = `edit ${n}`;
          const r = await team.owner.call<{ version: number }>('mutation', 'investigations.update', {
            id: inv.id,
            version: got.data.version,
            patch: { notes },
          });
          if (r.ok && r.data) lastAcked = { version: r.data.version, notes };
          else refused++;
        } else refused++;
        await pause(20);
      }
    };
    const writers = Promise.all([commenter(users[0], 0), commenter(users[1], 1), editor()]);
    await pause(2_000);
    const before = ackedComments.length;
    pg.stop();
    const downAt = Date.now();
    await pause(3_000);
    pg.start();
    const upAt = Date.now();
    console.log(`  PostgreSQL down ${((upAt - downAt) / 1000).toFixed(1)} s`);

    // Recovered: a read answers again, then every call in a row succeeds.
    let recoveredMs = -1;
    while (Date.now() - upAt < 60_000) {
      if ((await team.owner.call('query', 'investigations.get', { id: inv.id })).ok) {
        recoveredMs = Date.now() - upAt;
        break;
      }
      await pause(100);
    }
    check(
      recoveredMs >= 0,
      `the web app answers again without a restart (${recoveredMs} ms after PostgreSQL is back)`,
    );
    const ackedAfterUp = ackedComments.length;
    await pause(3_000);
    writing = false;
    await writers;
    check(ackedComments.length > ackedAfterUp, 'writes are acknowledged again after the restart');
    console.log(
      `  writes acknowledged: ${ackedComments.length} comments (${before} before the stop), last edit version ${lastAcked.version}; refused during the outage: ${refused}`,
    );
    let failedAfter = 0;
    for (let i = 0; i < 20; i++)
      if (!(await users[0].call('query', 'investigations.list', { teamId: team.teamId })).ok) failedAfter++;
    check(failedAfter === 0, '20 reads in a row succeed after recovery');

    const stored = await commentBodies(team.owner, inv.id);
    const lost = ackedComments.filter((b) => !stored.has(b));
    check(
      lost.length === 0,
      `every acknowledged comment is stored (${ackedComments.length} acknowledged, ${lost.length} lost)`,
    );
    const final = await team.owner.must<{ version: number; notes: string }>('query', 'investigations.get', {
      id: inv.id,
    });
    check(
      final.version > lastAcked.version ||
        (final.version === lastAcked.version && final.notes === lastAcked.notes),
      `the last acknowledged edit is stored (version ${lastAcked.version}; stored version ${final.version})`,
    );
    check(
      await jobCompletes(team.owner, team.teamId),
      'the same worker process completes a job after the restart',
    );
  } finally {
    await worker?.stop();
    await web?.stop();
    pg.destroy();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * The web process stops and a new one starts on the same data. A session cookie issued by the first process
 * signs in to the second; the worker, never restarted, reconnects through the fixed address and runs jobs; a
 * change subscription opened again with the old cookie receives the next change.
 */
export async function webRestart(): Promise<void> {
  const url = databaseUrl();
  console.log(`web-restart (${url ? 'PostgreSQL' : 'PGlite'})`);
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'loupe-fault-'));
  const webEnv = { ...env, LOUPE_DATA_DIR: dataDir, ...(url ? { DATABASE_URL: url } : {}) };
  let web = await startWeb(webEnv);
  const relay = await startRelay(Number(new URL(web.url).port));
  let worker: Awaited<ReturnType<typeof startWorker>> | undefined;
  try {
    worker = await startWorker(relay.url, dataDir);
    const { team } = await signUpTeam(relay.url, 0, `${Date.now()}`);
    const me = await team.owner.must<{ user: { id: string } | null }>('query', 'auth.me');
    const inv = await team.owner.must<{ id: string; version: number }>('mutation', 'investigations.create', {
      teamId: team.teamId,
      title: 'restart',
      prompt: 'p',
    });
    check(await jobCompletes(team.owner, team.teamId), 'the worker completes a job before the restart');
    const cookie = team.owner.cookie;

    await web.stop();
    web = await startWeb(webEnv);
    relay.retarget(web.url);
    console.log('  web process restarted');

    const after = await team.owner.must<{ user: { id: string } | null }>('query', 'auth.me');
    check(
      team.owner.cookie === cookie && after.user?.id === me.user?.id,
      'the cookie issued before the restart signs in after it',
    );
    const got = await team.owner.must<{ version: number }>('query', 'investigations.get', { id: inv.id });
    check(got.version === inv.version, 'the investigation written before the restart reads back');

    // The browser's EventSource reopens the subscription with the same cookie; the next change reaches it.
    const controller = new AbortController();
    const res = await fetch(
      `${relay.url}/api/trpc/investigations.onChange?input=${encodeURIComponent(JSON.stringify({ id: inv.id }))}`,
      { headers: { cookie, accept: 'text/event-stream' }, signal: controller.signal },
    );
    check(res.ok, `the change subscription reopens with the old cookie (HTTP ${res.status})`);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const updated = await team.owner.must<{ version: number }>('mutation', 'investigations.update', {
      id: inv.id,
      version: got.version,
      patch: { notes: 'after restart' },
    });
    let text = '';
    const deadline = Date.now() + 15_000;
    const wanted = `"version":${updated.version}`;
    while (!text.includes(wanted) && Date.now() < deadline) {
      const chunk = await Promise.race([reader.read(), pause(1_000).then(() => null)]);
      if (chunk?.value) text += new TextDecoder().decode(chunk.value);
      if (chunk?.done) break;
    }
    controller.abort();
    check(text.includes(wanted), 'the reopened subscription receives the change made after the restart');
    check(
      await jobCompletes(team.owner, team.teamId),
      'the worker, not restarted, reconnects and completes a job',
    );
  } finally {
    await worker?.stop();
    await web.stop();
    await relay.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const faults: Record<string, () => Promise<void>> = {
  'postgres-restart': postgresRestart,
  'web-restart': webRestart,
};
const chosen = process.argv.slice(2).length > 0 ? process.argv.slice(2) : Object.keys(faults);
let failed = false;
for (const name of chosen) {
  const run = faults[name];
  if (!run) {
    console.error(`unknown fault ${name}; known: ${Object.keys(faults).join(', ')}`);
    process.exit(2);
  }
  try {
    await run();
  } catch (e) {
    failed = true;
    console.log(`  ${name} failed: ${e instanceof Error ? e.message : String(e)}`);
  }
}
process.exit(failed ? 1 : 0);
