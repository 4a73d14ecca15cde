import { concatBytes } from '@loupe/core';
import type { PrismaClient } from '@loupe/db';
import { fetchRequestHandler } from '@trpc/server/adapters/fetch';
import type { EventBus } from './bus.ts';
import { createContext } from './context.ts';
import { appRouter } from './root.ts';

import { maxBatchCalls, maxBodyBytes } from './limits.ts';

export { maxBatchCalls, maxBodyBytes };

export interface HttpOptions {
  db: PrismaClient;
  bus: EventBus;
  dataDir: string;
  /** The mount point of the router, e.g. /api/trpc. */
  endpoint: string;
  /** Default: maxBodyBytes. */
  maxBodyBytes?: number;
  onError?: (error: { code: string; cause?: unknown }, path: string | undefined) => void;
}

function refuse(status: number, message: string): Response {
  return Response.json({ error: { message, data: { httpStatus: status } } }, { status });
}

/** How many procedures a request calls: httpBatchLink joins their paths with commas when `batch=1`. */
export function batchSize(url: URL, endpoint: string): number {
  if (url.searchParams.get('batch') !== '1') return 1;
  const paths = url.pathname.slice(endpoint.length).replace(/^\//, '');
  return paths.split(',').length;
}

/**
 * Whether a browser sent this request from another site: its Origin names another host than the one it was
 * sent to, or Sec-Fetch-Site says cross-site. Requests with neither (curl, the CLI, workers) are not browsers'.
 */
export function crossSite(headers: Headers): boolean {
  if (headers.get('sec-fetch-site') === 'cross-site') return true;
  const origin = headers.get('origin');
  if (!origin) return false;
  const host = headers.get('x-forwarded-host') ?? headers.get('host');
  try {
    return new URL(origin).host !== host;
  } catch {
    return true;
  }
}

/**
 * The request's body, read in full but never more than `limit` bytes: the count is of bytes actually received, so
 * a chunked body or a false Content-Length cannot slip past it. Null when over the limit.
 */
export async function readBounded(req: Request, limit: number): Promise<Uint8Array<ArrayBuffer> | null> {
  const declared = Number(req.headers.get('content-length') ?? 0);
  if (declared > limit) return null;
  if (!req.body) return new Uint8Array(0);
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  return concatBytes(chunks);
}

/**
 * The caller's address for rate limits: the last X-Forwarded-For hop, which the nearest proxy (or the Next
 * server itself, when it is reached directly) wrote.
 */
export function clientIp(headers: Headers): string {
  const hops = (headers.get('x-forwarded-for') ?? '')
    .split(',')
    .map((h) => h.trim())
    .filter((h) => h.length > 0);
  return hops.at(-1) ?? 'unknown';
}

/**
 * The tRPC endpoint as the web app mounts it: batch size, body size and cross-site mutations are checked before
 * any procedure runs. Queries may also travel as POST with their input in the body (method override), so
 * secrets such as share tokens need not appear in URLs that proxies log.
 */
export async function handleTrpcRequest(req: Request, opts: HttpOptions): Promise<Response> {
  const url = new URL(req.url);
  const calls = batchSize(url, opts.endpoint);
  if (calls > maxBatchCalls) {
    return refuse(400, `a batch may call at most ${maxBatchCalls} procedures; this one calls ${calls}`);
  }
  let forward = req;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    const bearer = req.headers.get('authorization')?.toLowerCase().startsWith('bearer ');
    // A browser on another site could ride the session cookie; bearer tokens are never sent by a browser itself.
    if (!bearer && crossSite(req.headers)) {
      return refuse(403, 'cross-site request refused: send it from this site or with an API token');
    }
    const limit = opts.maxBodyBytes ?? maxBodyBytes;
    const body = await readBounded(req, limit);
    if (body === null) return refuse(413, `request body exceeds the ${limit}-byte limit`);
    forward = new Request(req.url, { method: req.method, headers: req.headers, body, signal: req.signal });
  }
  const secure = url.protocol === 'https:' || req.headers.get('x-forwarded-proto') === 'https';
  return fetchRequestHandler({
    endpoint: opts.endpoint,
    req: forward,
    router: appRouter,
    allowMethodOverride: true,
    createContext: ({ resHeaders }) =>
      createContext({
        db: opts.db,
        bus: opts.bus,
        headers: req.headers,
        resHeaders,
        secureCookies: secure,
        dataDir: opts.dataDir,
        clientIp: clientIp(req.headers),
      }),
    onError: opts.onError ? ({ error, path }) => opts.onError?.(error, path) : undefined,
  });
}
