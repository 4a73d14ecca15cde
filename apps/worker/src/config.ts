import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { SHIPPED_MODELS_DIR } from '@loupe/organism/node';
import { type NodeExecutionProvider, parseExecutionProviders } from '@loupe/core/node';
import { z } from 'zod';
import { realRoots } from './roots.ts';

const repoRoot = path.resolve(import.meta.dirname, '../../..');

const intMs = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const envSchema = z.object({
  LOUPE_URL: z.url({ protocol: /^https?$/ }).default('http://127.0.0.1:3000'),
  LOUPE_API_TOKEN: z.string().trim().min(1).optional(),
  LOUPE_DATA_DIR: z.string().min(1).default('.loupe'),
  /** Folders the worker may read and write, separated like PATH; default: the shipped models and the data dir. */
  LOUPE_DATA_ROOTS: z.string().optional(),
  WORKER_ID: z
    .string()
    .regex(/^[A-Za-z0-9._:@-]{1,128}$/, 'letters, digits and . _ : @ - only, at most 128 characters')
    .default(`${hostname().replace(/[^A-Za-z0-9._-]/g, '-')}-${process.pid}`),
  LOUPE_JOB_KINDS: z
    .string()
    .optional()
    .transform((s) =>
      s === undefined || s.trim() === ''
        ? undefined
        : s
            .split(',')
            .map((k) => k.trim())
            .filter((k) => k !== ''),
    ),
  LOUPE_WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(1),
  LOUPE_LEASE_MS: intMs(500, 3_600_000).default(30_000),
  LOUPE_HEARTBEAT_MS: intMs(100, 1_200_000).optional(),
  LOUPE_POLL_MS: intMs(50, 600_000).default(1_000),
  LOUPE_SHUTDOWN_GRACE_MS: intMs(0, 600_000).default(3_000),
  LOUPE_EXECUTION_PROVIDERS: z.string().optional(),
});

export interface WorkerConfig {
  url: string;
  /** Undefined means "read `<dataDir>/worker-token` once the web app has written it". */
  apiToken: string | undefined;
  tokenFile: string;
  /** Real paths of the folders jobs may read and write. */
  dataRoots: string[];
  workerId: string;
  kinds: string[] | undefined;
  concurrency: number;
  leaseMs: number;
  /** How often a running job reports progress and learns about cancellation; at most leaseMs / 3. */
  heartbeatMs: number;
  pollMs: number;
  /** On SIGINT/SIGTERM, how long a running job may finish before it is aborted and handed back. */
  shutdownGraceMs: number;
  /** onnxruntime execution providers every job's sessions use, in order of preference (default: CPU). */
  executionProviders: NodeExecutionProvider[];
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`invalid worker configuration: ${problems}`);
  }
  const e = parsed.data;
  let executionProviders: NodeExecutionProvider[];
  try {
    executionProviders = parseExecutionProviders(e.LOUPE_EXECUTION_PROVIDERS);
  } catch (err) {
    throw new Error(`invalid worker configuration: LOUPE_EXECUTION_PROVIDERS: ${(err as Error).message}`);
  }
  // Cancellation is noticed on heartbeats, so they stay frequent even with long leases.
  const heartbeatMs = Math.min(e.LOUPE_HEARTBEAT_MS ?? 2_000, Math.floor(e.LOUPE_LEASE_MS / 3));
  // Relative to the repository root, as the web app resolves it, whatever folder the worker starts in.
  const dataDir = path.resolve(repoRoot, e.LOUPE_DATA_DIR);
  const roots = e.LOUPE_DATA_ROOTS?.split(path.delimiter).filter((r) => r.trim() !== '');
  return {
    url: e.LOUPE_URL.replace(/\/+$/, ''),
    apiToken: e.LOUPE_API_TOKEN,
    tokenFile: path.join(dataDir, 'worker-token'),
    dataRoots: realRoots(
      roots && roots.length > 0 ? roots.map((r) => path.resolve(repoRoot, r)) : [SHIPPED_MODELS_DIR, dataDir],
    ),
    workerId: e.WORKER_ID,
    kinds: e.LOUPE_JOB_KINDS,
    concurrency: e.LOUPE_WORKER_CONCURRENCY,
    leaseMs: e.LOUPE_LEASE_MS,
    heartbeatMs,
    pollMs: e.LOUPE_POLL_MS,
    shutdownGraceMs: e.LOUPE_SHUTDOWN_GRACE_MS,
    executionProviders,
  };
}

/** The token file holds one line; anything else is a corrupt file, not a token. */
export function readTokenFile(file: string): string | undefined {
  if (!existsSync(file)) return undefined;
  const text = readFileSync(file, 'utf8').trim();
  if (text === '' || text.length > 4096 || /\s/.test(text)) {
    throw new Error(`${file} does not contain a single API token`);
  }
  return text;
}
