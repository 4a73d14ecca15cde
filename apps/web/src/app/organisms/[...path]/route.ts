import { open } from 'node:fs/promises';
import { shippedOrganisms } from '../shipped';

export const dynamic = 'force-dynamic';

type Params = { params: Promise<{ path: string[] }> };

/** `/organisms/<model>/<file>` or `/organisms/<model>/<kind>/<file>`: the catalogue key, then a listed name. */
async function find(params: Params['params']) {
  const segments = (await params).path;
  if (segments.length < 2 || segments.length > 3) return null;
  const key = segments.slice(0, -1).join('/');
  const name = segments[segments.length - 1];
  return shippedOrganisms().entries.get(key)?.files.get(name) ?? null;
}

/** One `bytes=a-b`, `bytes=a-` or `bytes=-n` range within `size`; null when unsatisfiable or multi-range. */
function parseRange(header: string, size: number): { start: number; end: number } | null {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') {
    const n = Number(m[2]);
    return n === 0 || size === 0 ? null : { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  return start > end || start >= size ? null : { start, end };
}

function baseHeaders(file: { size: number; mtimeMs: number }): Record<string, string> {
  return {
    'Content-Type': 'application/octet-stream',
    'Accept-Ranges': 'bytes',
    'Cache-Control': 'public, max-age=3600',
    ETag: `"${file.size.toString(36)}-${Math.floor(file.mtimeMs).toString(36)}"`,
  };
}

const notFound = () => new Response('not found', { status: 404 });

export async function HEAD(_req: Request, { params }: Params): Promise<Response> {
  const file = await find(params);
  if (!file) return notFound();
  // The server drops a Content-Length without a body; pages take sizes from the listing instead.
  return new Response(null, { headers: baseHeaders(file) });
}

export async function GET(req: Request, { params }: Params): Promise<Response> {
  const file = await find(params);
  if (!file) return notFound();
  const header = req.headers.get('range');
  const range = header === null ? { start: 0, end: file.size - 1 } : parseRange(header, file.size);
  if (!range)
    return new Response(null, {
      status: 416,
      headers: { ...baseHeaders(file), 'Content-Range': `bytes */${file.size}` },
    });
  const length = range.end - range.start + 1;
  const bytes = new Uint8Array(Math.max(0, length));
  const fh = await open(/*turbopackIgnore: true*/ file.path, 'r');
  try {
    await fh.read(bytes, 0, bytes.length, range.start);
  } finally {
    await fh.close();
  }
  return new Response(bytes, {
    status: header === null ? 200 : 206,
    headers: {
      ...baseHeaders(file),
      'Content-Length': String(bytes.length),
      ...(header === null ? {} : { 'Content-Range': `bytes ${range.start}-${range.end}/${file.size}` }),
    },
  });
}
