/** Node file access: fs/promises with positional reads, so large checkpoints are never read whole. */
import { type FileHandle, mkdir, open, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type ByteSource, type FileAccess, isRangeWithin } from '../io/files.ts';

async function handleSource(path: string): Promise<ByteSource> {
  const fh: FileHandle = await open(path, 'r');
  let size: number;
  try {
    ({ size } = await fh.stat());
  } catch (e) {
    await fh.close();
    throw e;
  }
  return {
    size,
    async read(offset, length) {
      if (!isRangeWithin(offset, length, size)) {
        throw new RangeError(`${path}: read of ${length} bytes at ${offset} is outside a ${size}-byte file`);
      }
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await fh.read(out, done, length - done, offset + done);
        if (bytesRead === 0)
          throw new Error(`${path}: file shrank while reading (got ${done} of ${length} bytes)`);
        done += bytesRead;
      }
      return out;
    },
    close: () => fh.close(),
  };
}

export function nodeFiles(): FileAccess {
  return {
    open: handleSource,
    readFile: async (path) => new Uint8Array(await readFile(path)),
    readText: (path) => readFile(path, 'utf8'),
    async exists(path) {
      try {
        await stat(path);
        return true;
      } catch {
        return false;
      }
    },
    list: (dir) => readdir(dir),
    writeFile: (path, data) => writeFile(path, data),
    mkdir: async (dir) => {
      await mkdir(dir, { recursive: true });
    },
    join: (...parts) => join(...parts),
  };
}
