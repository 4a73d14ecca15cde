import { shippedOrganisms } from './shipped';

export const dynamic = 'force-dynamic';

/** Which shipped models and dictionaries a page can load, and their files (HTTP cannot list a folder). */
export function GET(): Response {
  return Response.json(shippedOrganisms().manifest, { headers: { 'Cache-Control': 'no-cache' } });
}
