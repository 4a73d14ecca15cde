import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bytesSource, isRangeWithin } from '../src/io/files.ts';
import { fetchFiles, memoryFiles } from '../src/browser/index.ts';
import { loadCheckpoint } from '../src/io/checkpoint.ts';
import { saveCheckpoint } from '../src/io/checkpoint-save.ts';
import { SafetensorsFile, writeSafetensors } from '../src/io/safetensors.ts';
import { nodeFiles } from '../src/node/files.ts';
import { f32 } from '../src/tensor/host.ts';
import { makeRandomCheckpoint } from './fixtures/checkpoints.ts';

const dirs: string[] = [];
const tempDir = async () => {
  const d = await mkdtemp(join(tmpdir(), 'loupe-files-'));
  dirs.push(d);
  return d;
};
afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

describe('nodeFiles', () => {
  it('reads positional ranges, lists, and rejects out-of-range reads', async () => {
    const files = nodeFiles();
    const dir = await tempDir();
    const path = files.join(dir, 'a.bin');
    await files.writeFile(path, Uint8Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
    const src = await files.open(path);
    expect(src.size).toBe(10);
    expect([...(await src.read(3, 4))]).toEqual([3, 4, 5, 6]);
    await expect(src.read(8, 3)).rejects.toThrow(/outside a 10-byte file/);
    await src.close?.();
    expect(await files.list(dir)).toEqual(['a.bin']);
    expect(await files.exists(path)).toBe(true);
    expect(await files.exists(files.join(dir, 'b'))).toBe(false);
    await files.mkdir(files.join(dir, 'x', 'y'));
    expect(await files.exists(files.join(dir, 'x', 'y'))).toBe(true);
  });
});

describe('memoryFiles', () => {
  it('holds a whole checkpoint: save then load through the same path as disk', async () => {
    const files = memoryFiles();
    const ck = makeRandomCheckpoint('qwen3');
    await saveCheckpoint('models/q', ck.config, ck.weights, files, { tokenizerJson: ck.tokenizerJson });
    expect(await files.list('models/q')).toEqual(['config.json', 'model.safetensors', 'tokenizer.json']);
    const loaded = await loadCheckpoint('models/q', files);
    expect(loaded.config).toEqual(ck.config);
    expect(loaded.weights.layers[1].attn.kNorm?.w.data).toEqual(ck.weights.layers[1].attn.kNorm?.w.data);
    await expect(files.readFile('models/none')).rejects.toThrow(/no such file/);
  });
});

describe('fetchFiles (HTTP Range)', () => {
  const bytes = writeSafetensors({ w: f32([4, 2], [0, 1, 2, 3, 4, 5, 6, 7]) });
  const ranges: string[] = [];
  let server: Server;
  let base = '';
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url !== '/m/model.safetensors') {
        res.writeHead(404).end();
        return;
      }
      const range = req.headers.range;
      if (req.method === 'HEAD') {
        res.writeHead(200, { 'content-length': bytes.length }).end();
        return;
      }
      if (range) {
        ranges.push(range);
        const [a, b] = range.replace('bytes=', '').split('-').map(Number);
        res.writeHead(206, { 'content-length': b - a + 1 }).end(Buffer.from(bytes.subarray(a, b + 1)));
        return;
      }
      res.writeHead(200).end(Buffer.from(bytes));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const addr = server.address();
    if (!addr || typeof addr === 'string') throw new Error('no port');
    base = `http://127.0.0.1:${addr.port}/m/`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('reads a safetensors header and row slices with Range requests only', async () => {
    const files = fetchFiles(base);
    const f = await SafetensorsFile.open(await files.open('model.safetensors'));
    const rows = await f.readRows('w', 2, 1);
    expect([...rows.data]).toEqual([4, 5]);
    expect(ranges.length).toBe(3); // length, header, one row
    expect(await files.exists('model.safetensors')).toBe(true);
    expect(await files.exists('nope.json')).toBe(false);
    await expect(files.readText('nope.json')).rejects.toThrow(/HTTP 404/);
    await expect(files.writeFile('x', 'y')).rejects.toThrow(/read-only/);
  });

  it('takes sizes, names and existence from a published listing, with no HEAD request', async () => {
    const methods: string[] = [];
    const counted: typeof fetch = async (url, init) => {
      methods.push(init?.method ?? 'GET');
      return fetch(url, init);
    };
    const size = (await (await fetch(`${base}model.safetensors`)).arrayBuffer()).byteLength;
    const files = fetchFiles(base, counted, new Map([['model.safetensors', size]]));
    expect(await files.list('')).toEqual(['model.safetensors']);
    expect(await files.exists('model.safetensors')).toBe(true);
    expect(await files.exists('nope.json')).toBe(false);
    const f = await SafetensorsFile.open(await files.open('./model.safetensors'));
    expect([...(await f.readRows('w', 2, 1)).data]).toEqual([4, 5]);
    expect(methods).not.toContain('HEAD');
    await expect(files.list('sub')).rejects.toThrow(/cannot list/);
  });

  it('copes with a server that ignores Range', async () => {
    const plain: typeof fetch = async (url, init) => {
      const h = new Headers(init?.headers);
      h.delete('range');
      return fetch(url, { ...init, headers: h });
    };
    const f = await SafetensorsFile.open(await fetchFiles(base, plain).open('model.safetensors'));
    expect([...(await f.readRows('w', 3, 1)).data]).toEqual([6, 7]);
  });
});

describe('nodeFiles writes what the loader reads', () => {
  it('round-trips a file written with writeFile', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 't.safetensors'), writeSafetensors({ a: f32([1], [42]) }));
    const f = await SafetensorsFile.open(await nodeFiles().open(join(dir, 't.safetensors')));
    expect([...(await f.read('a')).data]).toEqual([42]);
    await f.close();
  });
});

describe('isRangeWithin', () => {
  it('accepts whole-number ranges inside the size, empty ones at either end included', () => {
    expect(isRangeWithin(0, 10, 10)).toBe(true);
    expect(isRangeWithin(10, 0, 10)).toBe(true);
    expect(isRangeWithin(3, 4, 10)).toBe(true);
  });

  it('refuses ranges past the end, negative ones and fractional ones', () => {
    expect(isRangeWithin(8, 3, 10)).toBe(false);
    expect(isRangeWithin(-1, 2, 10)).toBe(false);
    expect(isRangeWithin(2, -1, 10)).toBe(false);
    expect(isRangeWithin(1.5, 2, 10)).toBe(false);
    expect(isRangeWithin(0, Number.NaN, 10)).toBe(false);
  });

  it('is what an in-memory source checks before it reads', async () => {
    const src = bytesSource(Uint8Array.of(1, 2, 3, 4));
    expect(Array.from(await src.read(1, 2))).toEqual([2, 3]);
    await expect(src.read(0.5, 1)).rejects.toThrow(/outside a 4-byte buffer/);
  });
});
