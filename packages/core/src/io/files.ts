/**
 * File access is injected so that the core runs unchanged in Node and in the browser.
 * Node: `nodeFiles()` from `@loupe/core/node`. Browser: `fetchFiles(baseUrl)` / in-memory maps from `@loupe/core/browser`.
 */

/** Random access to the bytes of one file (a file handle, a Blob, an HTTP Range endpoint, a buffer). */
export interface ByteSource {
  readonly size: number;
  /** Reads exactly `length` bytes at `offset`; rejects if the range lies outside the file. */
  read(offset: number, length: number): Promise<Uint8Array>;
  close?(): Promise<void>;
}

export interface FileAccess {
  open(path: string): Promise<ByteSource>;
  readFile(path: string): Promise<Uint8Array>;
  readText(path: string): Promise<string>;
  exists(path: string): Promise<boolean>;
  /** Names (not paths) of the entries of a directory. */
  list(dir: string): Promise<string[]>;
  writeFile(path: string, data: Uint8Array | string): Promise<void>;
  mkdir(dir: string): Promise<void>;
  join(...parts: string[]): string;
}

/**
 * Whether [start, start + count) is a range of whole numbers inside [0, size): what every ByteSource and
 * tensor row read checks before it reads.
 */
export function isRangeWithin(start: number, count: number, size: number): boolean {
  return (
    Number.isInteger(start) && Number.isInteger(count) && start >= 0 && count >= 0 && start + count <= size
  );
}

export function bytesSource(bytes: Uint8Array): ByteSource {
  return {
    size: bytes.byteLength,
    async read(offset, length) {
      if (!isRangeWithin(offset, length, bytes.byteLength)) {
        throw new RangeError(
          `read of ${length} bytes at ${offset} is outside a ${bytes.byteLength}-byte buffer`,
        );
      }
      return bytes.subarray(offset, offset + length);
    },
  };
}

/** A JSON file's parsed contents; a file that cannot be read or is not JSON is an error naming it. */
export async function readJsonFile(files: FileAccess, path: string): Promise<unknown> {
  let text: string;
  try {
    text = await files.readText(path);
  } catch (e) {
    throw new Error(`${path}: cannot read (${(e as Error).message})`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${(e as Error).message})`);
  }
}
