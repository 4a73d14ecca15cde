/**
 * Load: N users of one team read and edit investigations against the production build for D seconds.
 *   node --import tsx apps/web/reliability/load.ts [--users 50] [--duration 60]
 * PGlite in a private folder by default; PostgreSQL when DATABASE_URL or TEST_DATABASE_URL names one.
 * Exits 1 on any error; a CONFLICT on investigations.update is the optimistic-concurrency answer to a concurrent
 * edit, so it is counted and retried with the fresh version, not an error.
 */
import { parseArgs } from 'node:util';
import { startWeb } from '../test/helpers.ts';
import { type CallResult, Client, databaseUrl, quantile, signUpTeam, syntheticGraph } from './client.ts';

const { values } = parseArgs({
  options: {
    users: { type: 'string', default: '50' },
    duration: { type: 'string', default: '60' },
    investigations: { type: 'string', default: '10' },
  },
});
const users = Number(values.users);
const durationS = Number(values.duration);
const investigationCount = Number(values.investigations);
if (!(users >= 1 && durationS > 0 && investigationCount >= 1)) {
  console.error('usage: load.ts [--users N>=1] [--duration SECONDS>0] [--investigations N>=1]');
  process.exit(2);
}
// Past this many conflicts in a row one edit counts as an error: the retry must converge, not spin.
const maxConflictRetries = 50;

const latencies = new Map<string, number[]>();
const errors: string[] = [];
let requests = 0;
let conflicts = 0;
let measuring = false;
const record = (path: string, r: CallResult<unknown>) => {
  if (!measuring) return;
  requests++;
  let xs = latencies.get(path);
  if (!xs) latencies.set(path, (xs = []));
  xs.push(r.ms);
};

interface Inv {
  id: string;
  version: number;
}

async function runUser(
  me: Client,
  index: number,
  teamId: string,
  invs: string[],
  graphId: string,
  until: number,
) {
  const fail = (what: string, r: CallResult<unknown>) =>
    errors.push(`user ${index} ${what}: ${r.code} ${r.message}`);
  let n = 0;
  while (Date.now() < until && errors.length === 0) {
    n++;
    const invId = invs[Math.floor(Math.random() * invs.length)];
    const roll = Math.random();
    if (roll < 0.25) {
      const r = await me.call('query', 'investigations.list', { teamId });
      if (!r.ok) fail('list', r);
    } else if (roll < 0.5) {
      const r = await me.call('query', 'investigations.get', { id: invId });
      if (!r.ok) fail('get', r);
    } else if (roll < 0.65) {
      const r = await me.call('query', 'graphs.payload', { graphId });
      if (!r.ok) fail('payload', r);
    } else if (roll < 0.9) {
      // The browser's edit: read the current version, send the patch with it, and on CONFLICT read again.
      for (let attempt = 0; ; attempt++) {
        const got = await me.call<Inv>('query', 'investigations.get', { id: invId });
        if (!got.ok) {
          fail('get before update', got);
          break;
        }
        const r = await me.call('mutation', 'investigations.update', {
          id: invId,
          version: got.data?.version,
          patch: { notes: `edited by user ${index}, edit ${n}`, thresholds: { node: Math.random() } },
        });
        if (r.ok) break;
        if (r.code !== 'CONFLICT') {
          fail('update', r);
          break;
        }
        if (measuring) conflicts++;
        if (attempt >= maxConflictRetries) {
          fail(`update (${attempt + 1} conflicts in a row)`, r);
          break;
        }
      }
    } else {
      const r = await me.call('mutation', 'comments.add', {
        investigationId: invId,
        body: `comment ${n} from user ${index}`,
      });
      if (!r.ok) fail('comment', r);
    }
  }
}

const url = databaseUrl();
console.log(
  `load: ${users} users, ${durationS} s, ${investigationCount} investigations, ${url ? 'PostgreSQL' : 'PGlite'}`,
);
// Every user signs up from 127.0.0.1, far past the per-address default of 60 a minute.
const web = await startWeb({
  LOUPE_AUTH_IP_LIMIT: '100000',
  LOUPE_AUTO_INDEX: '0',
  ...(url ? { DATABASE_URL: url } : {}),
});
let exitCode = 1;
try {
  const tag = `${Date.now()}`;
  const { team, users: clients } = await signUpTeam(web.url, users, tag);
  const graph = await team.owner.must<{ id: string }>('mutation', 'graphs.create', {
    teamId: team.teamId,
    prompt: 'load',
    graph: syntheticGraph(),
  });
  const invs: string[] = [];
  for (let i = 0; i < investigationCount; i++) {
    const inv = await team.owner.must<Inv>('mutation', 'investigations.create', {
      teamId: team.teamId,
      title: `load ${i}`,
      prompt: 'The quick brown fox',
      graphId: graph.id,
    });
    invs.push(inv.id);
  }
  // The same sessions, now timed: sign-up and setup stay out of the figures.
  const measured = clients.map((c) => Object.assign(new Client(c.baseUrl, record), { cookie: c.cookie }));
  measuring = true;
  const t0 = performance.now();
  const until = Date.now() + durationS * 1000;
  await Promise.all(measured.map((c, i) => runUser(c, i, team.teamId, invs, graph.id, until)));
  const elapsedS = (performance.now() - t0) / 1000;
  measuring = false;

  console.log(
    `requests: ${requests} in ${elapsedS.toFixed(1)} s, ${(requests / elapsedS).toFixed(0)} requests/s`,
  );
  console.log(`errors: ${errors.length}`);
  console.log(`conflicts retried (investigations.update): ${conflicts}`);
  console.log('procedure                    calls    p50 ms   p99 ms');
  for (const [path, xs] of [...latencies].sort()) {
    console.log(
      `${path.padEnd(28)} ${String(xs.length).padStart(6)} ${quantile(xs, 0.5).toFixed(1).padStart(9)} ${quantile(xs, 0.99).toFixed(1).padStart(8)}`,
    );
  }
  for (const e of errors.slice(0, 20)) console.log(`  ${e}`);
  exitCode = errors.length === 0 && requests > 0 ? 0 : 1;
} catch (e) {
  console.error(e);
  console.error(web.output().slice(-4000));
} finally {
  await web.stop();
}
process.exit(exitCode);
