/**
 * Serves the browser example: the page, its script bundled with esbuild (onnxruntime-web included),
 * onnxruntime-web's wasm files under /ort/, and organism-s and its transcoders as static files that answer
 * HEAD and Range requests.
 *
 *   pnpm --filter @loupe/examples browser     # then open the printed address
 */
import { createReadStream, readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { dirname, join, normalize } from 'node:path';
import { build } from 'esbuild';
import { ORGANISM_S, ORGANISM_S_PLT } from '../node/organism.ts';

/** Each served folder's files and their sizes, by the folder's URL prefix. */
export interface Listing {
  model: Record<string, number>;
  dictionary: Record<string, number>;
}

const MOUNTS: Record<string, string> = {
  ort: dirname(createRequire(import.meta.url).resolve('onnxruntime-web/wasm')),
  model: ORGANISM_S,
  dictionary: ORGANISM_S_PLT,
};

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
};
const typeOf = (path: string) => TYPES[path.slice(path.lastIndexOf('.'))] ?? 'application/octet-stream';

function listFiles(dir: string): Record<string, number> {
  const files: Record<string, number> = {};
  for (const name of readdirSync(dir)) {
    const s = statSync(join(dir, name));
    if (s.isFile()) files[name] = s.size;
  }
  return files;
}

/** `bytes=a-b` (or `bytes=a-`) within a file of `size` bytes; null for anything else. */
function byteRange(header: string | undefined, size: number): [number, number] | null {
  const m = /^bytes=(\d+)-(\d*)$/.exec(header ?? '');
  if (!m) return null;
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  return start <= end ? [start, end] : null;
}

export async function startExampleServer(port = 0): Promise<{ url: string; server: Server }> {
  const bundled = await build({
    entryPoints: [join(import.meta.dirname, 'page.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    write: false,
    logLevel: 'silent',
  });
  const pages: Record<string, { body: Uint8Array | string; type: string }> = {
    '/': { body: readFileSync(join(import.meta.dirname, 'index.html'), 'utf8'), type: TYPES['.html'] },
    '/page.js': { body: bundled.outputFiles[0].contents, type: TYPES['.js'] },
    '/listing.json': {
      body: JSON.stringify({ model: listFiles(MOUNTS.model), dictionary: listFiles(MOUNTS.dictionary) }),
      type: TYPES['.json'],
    },
  };
  const server = createServer((req, res) => {
    // Cross-origin isolation lets onnxruntime-web use wasm threads; its worker script needs the headers too.
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
    const page = pages[path];
    if (page) {
      res.writeHead(200, { 'Content-Type': page.type });
      res.end(page.body);
      return;
    }
    const [, mount, ...rest] = path.split('/');
    const root = Object.hasOwn(MOUNTS, mount) ? MOUNTS[mount] : undefined;
    const file = root === undefined ? '' : normalize(join(root, ...rest));
    if (!file.startsWith(`${root}/`) || !statSync(file, { throwIfNoEntry: false })?.isFile()) {
      res.writeHead(404).end();
      return;
    }
    const size = statSync(file).size;
    const range = byteRange(req.headers.range, size);
    const [start, end] = range ?? [0, size - 1];
    res.writeHead(range ? 206 : 200, {
      'Content-Type': typeOf(file),
      'Content-Length': end - start + 1,
      'Accept-Ranges': 'bytes',
      ...(range ? { 'Content-Range': `bytes ${start}-${end}/${size}` } : {}),
    });
    if (req.method === 'HEAD' || size === 0) res.end();
    else createReadStream(file, { start, end }).pipe(res);
  });
  await new Promise<void>((done) => server.listen(port, '127.0.0.1', done));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

if (process.argv[1] === import.meta.filename) {
  const { url } = await startExampleServer(Number(process.env.PORT ?? 4173));
  console.log(`the browser example: ${url}/ (Ctrl-C stops)`);
}
