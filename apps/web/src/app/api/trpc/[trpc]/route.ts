import { appRouter, createContext } from '@loupe/api';
import { fetchRequestHandler } from '@trpc/server/adapters/fetch';
import { getServer } from '@/server/db';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

// Graph JSON is the largest legitimate body (tens of MB); anything far beyond is refused before it is read.
const maxBodyBytes = 256 * 1024 * 1024;

async function handler(req: Request) {
  const declared = Number(req.headers.get('content-length') ?? 0);
  if (declared > maxBodyBytes) {
    return Response.json(
      { error: { message: `request body of ${declared} bytes exceeds the ${maxBodyBytes}-byte limit` } },
      { status: 413 },
    );
  }
  const { db, bus, dataDir } = await getServer();
  const secure = new URL(req.url).protocol === 'https:' || req.headers.get('x-forwarded-proto') === 'https';
  return fetchRequestHandler({
    endpoint: '/api/trpc',
    req,
    router: appRouter,
    createContext: ({ resHeaders }) =>
      createContext({ db: db.prisma, bus, headers: req.headers, resHeaders, secureCookies: secure, dataDir }),
    onError({ error, path }) {
      if (error.code === 'INTERNAL_SERVER_ERROR')
        console.error(`[trpc] ${path ?? '?'}:`, error.cause ?? error);
    },
  });
}

export { handler as GET, handler as POST };
