// Placeholder until the job pipeline lands (issue #9): wait for the web app and report that it is reachable.
const base = process.env.LOUPE_URL ?? 'http://127.0.0.1:3000';

async function waitForWeb(): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      const res = await fetch(`${base}/api/trpc/system.health`);
      if (res.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, Math.min(2000, 200 * 2 ** attempt)));
  }
}

await waitForWeb();
console.log(`[worker] connected to ${base}`);
const keepAlive = setInterval(() => {}, 60_000);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    clearInterval(keepAlive);
    process.exit(0);
  });
}
