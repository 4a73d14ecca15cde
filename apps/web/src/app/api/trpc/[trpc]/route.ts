import { appRouter, createContext } from '@loupe/api';
import { fetchRequestHandler } from '@trpc/server/adapters/fetch';
import { getServer } from '@/server/db';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

async function handler(req: Request) {
  const { db, bus } = await getServer();
  const secure = new URL(req.url).protocol === 'https:' || req.headers.get('x-forwarded-proto') === 'https';
  return fetchRequestHandler({
    endpoint: '/api/trpc',
    req,
    router: appRouter,
    createContext: ({ resHeaders }) =>
      createContext({ db: db.prisma, bus, headers: req.headers, resHeaders, secureCookies: secure }),
    onError({ error, path }) {
      if (error.code === 'INTERNAL_SERVER_ERROR')
        console.error(`[trpc] ${path ?? '?'}:`, error.cause ?? error);
    },
  });
}

export { handler as GET, handler as POST };
