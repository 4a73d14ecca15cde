import { handleTrpcRequest } from '@loupe/api';
import { getServer } from '@/server/db';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

async function handler(req: Request) {
  const { db, bus, dataDir } = await getServer();
  return handleTrpcRequest(req, {
    endpoint: '/api/trpc',
    db: db.prisma,
    bus,
    dataDir,
    onError(error, path) {
      if (error.code === 'INTERNAL_SERVER_ERROR')
        console.error(`[trpc] ${path ?? '?'}:`, error.cause ?? error);
    },
  });
}

export { handler as GET, handler as POST };
