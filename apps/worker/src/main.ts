import { probeExecutionProviders } from '@loupe/core/node';
import { loadConfig, readTokenFile, type WorkerConfig } from './config.ts';
import { builtinHandlers } from './handlers/index.ts';
import { JobLoop } from './loop.ts';
import { HandlerRegistry } from './registry.ts';
import { createLoupeClient, trpcWorkerApi } from './trpc-api.ts';

const say = (line: string) => console.log(`[worker] ${line}`);

let config: WorkerConfig;
let registry: HandlerRegistry;
try {
  config = loadConfig();
  registry = new HandlerRegistry(builtinHandlers).restrict(config.kinds);
} catch (e) {
  console.error(`[worker] ${e instanceof Error ? e.message : String(e)}`);
  process.exit(2);
}

let loop: JobLoop | undefined;
let signals = 0;
const shutdown = async () => {
  // A second Ctrl-C means "now": leave at once, the leases expire and other workers take over.
  if (++signals > 1 || !loop) process.exit(0);
  say('stopping: no new jobs; the running one finishes or is handed back');
  await loop.stop();
  process.exit(0);
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);

function pause(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function waitForWeb(url: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      const res = await fetch(`${url}/api/trpc/system.health`);
      if (res.ok) return;
    } catch {
      // The web app is not listening yet: keep waiting, it is usually started beside us.
    }
    await pause(Math.min(2_000, 200 * 2 ** attempt));
  }
}

/** In the embedded default the web app writes the worker token on its first start, maybe after we came up. */
async function resolveToken(cfg: WorkerConfig): Promise<string> {
  if (cfg.apiToken) return cfg.apiToken;
  for (let attempt = 0; ; attempt++) {
    const token = readTokenFile(cfg.tokenFile);
    if (token) return token;
    if (attempt === 0) say(`waiting for ${cfg.tokenFile} (or set LOUPE_API_TOKEN)`);
    await pause(500);
  }
}

// A GPU worker whose provider cannot load stops here with the reason, instead of running every job on the CPU.
try {
  await probeExecutionProviders(config.executionProviders);
} catch (e) {
  console.error(`[worker] ${e instanceof Error ? e.message : String(e)}`);
  process.exit(2);
}
await waitForWeb(config.url);
say(`connected to ${config.url}`);
const token = await resolveToken(config);
loop = new JobLoop(
  trpcWorkerApi(createLoupeClient(config.url, token, Math.max(10_000, config.leaseMs))),
  registry,
  {
    workerId: config.workerId,
    concurrency: config.concurrency,
    leaseMs: config.leaseMs,
    heartbeatMs: config.heartbeatMs,
    pollMs: config.pollMs,
    shutdownGraceMs: config.shutdownGraceMs,
    dataRoots: config.dataRoots,
    runtimeOptions: { executionProviders: config.executionProviders },
    log: say,
  },
);
say(
  `${config.workerId} runs ${registry.kinds().join(', ')} (concurrency ${config.concurrency}, execution providers ${config.executionProviders.join(', ')}, lease ${config.leaseMs} ms; data roots ${config.dataRoots.join(', ')})`,
);
await loop.run();
