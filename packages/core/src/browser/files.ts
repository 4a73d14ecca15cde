/** Browser file access: HTTP Range requests against a static file server, or an in-memory map. */
import { type ByteSource, type FileAccess, bytesSource, isRangeWithin } from '../io/files.ts';

function joinPath(...parts: string[]): string {
  return parts
    .filter((p) => p.length > 0)
    .join('/')
    .replace(/\/{2,}/g, '/');
}

/**
 * Read-only access to files served under `baseUrl` (which must honour `Range: bytes=a-b`). A `listing` of the
 * folder's files and their sizes, when the server publishes one, answers `list`, `exists` and sizes without
 * a request (HTTP cannot list a folder, and some servers send no Content-Length on HEAD).
 */
export function fetchFiles(
  baseUrl: string,
  fetchImpl: typeof fetch = fetch,
  listing?: ReadonlyMap<string, number>,
): FileAccess {
  const url = (path: string) => `${baseUrl.replace(/\/$/, '')}/${path.replace(/^\//, '')}`;
  const get = async (path: string, init?: RequestInit): Promise<Response> => {
    const r = await fetchImpl(url(path), init);
    if (!r.ok) throw new Error(`${url(path)}: HTTP ${r.status}`);
    return r;
  };
  const readOnly = () => Promise.reject(new Error('fetchFiles is read-only'));
  return {
    async open(path): Promise<ByteSource> {
      const listed = listing?.get(path.replace(/^\.?\//, ''));
      const size = listed ?? Number((await get(path, { method: 'HEAD' })).headers.get('content-length'));
      if (!Number.isSafeInteger(size) || size < 0)
        throw new Error(`${url(path)}: missing or invalid Content-Length`);
      return {
        size,
        async read(offset, length) {
          if (!isRangeWithin(offset, length, size)) {
            throw new RangeError(
              `${url(path)}: read of ${length} bytes at ${offset} is outside a ${size}-byte file`,
            );
          }
          if (length === 0) return new Uint8Array(0);
          const r = await get(path, { headers: { Range: `bytes=${offset}-${offset + length - 1}` } });
          const body = new Uint8Array(await r.arrayBuffer());
          // A server that ignores Range answers 200 with the whole file.
          const bytes = r.status === 206 ? body : body.subarray(offset, offset + length);
          if (bytes.byteLength !== length)
            throw new Error(`${url(path)}: expected ${length} bytes at ${offset}, got ${bytes.byteLength}`);
          return bytes;
        },
      };
    },
    readFile: async (path) => new Uint8Array(await (await get(path)).arrayBuffer()),
    readText: async (path) => (await get(path)).text(),
    async exists(path) {
      if (listing) return listing.has(path.replace(/^\.?\//, ''));
      const r = await fetchImpl(url(path), { method: 'HEAD' });
      return r.ok;
    },
    async list(dir) {
      if (!listing || dir.replace(/^\.?\/?/, '') !== '')
        throw new Error('fetchFiles cannot list directories over HTTP without a listing');
      return [...listing.keys()].sort();
    },
    writeFile: readOnly,
    mkdir: readOnly,
    join: joinPath,
  };
}

/** Files held in memory (tests, drag-and-dropped checkpoints). Writes go into the same map. */
export function memoryFiles(files: Map<string, Uint8Array> = new Map()): FileAccess {
  const norm = (p: string) => joinPath(p).replace(/^\.\//, '');
  const get = (path: string): Uint8Array => {
    const b = files.get(norm(path));
    if (!b) throw new Error(`${path}: no such file`);
    return b;
  };
  return {
    open: async (path) => bytesSource(get(path)),
    readFile: async (path) => get(path),
    readText: async (path) => new TextDecoder().decode(get(path)),
    exists: async (path) =>
      files.has(norm(path)) || [...files.keys()].some((k) => k.startsWith(`${norm(path)}/`)),
    async list(dir) {
      const prefix = `${norm(dir)}/`;
      const names = new Set<string>();
      for (const k of files.keys()) if (k.startsWith(prefix)) names.add(k.slice(prefix.length).split('/')[0]);
      return [...names].sort();
    },
    async writeFile(path, data) {
      files.set(norm(path), typeof data === 'string' ? new TextEncoder().encode(data) : data);
    },
    mkdir: async () => {},
    join: joinPath,
  };
}
