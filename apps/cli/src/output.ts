/**
 * Where outputs go when --out is not given: `loupe-out/` under the working directory (gitignored at the
 * repository root), or the directory named by LOUPE_OUT_DIR. Parent folders of every output are created.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

export const OUT_DIR_ENV = 'LOUPE_OUT_DIR';

export function outputDir(env: NodeJS.ProcessEnv = process.env): string {
  return env[OUT_DIR_ENV] || 'loupe-out';
}

/** The default path of a command's output file, e.g. `loupe-out/graph.json`. */
export function defaultOut(file: string): () => string {
  return () => path.join(outputDir(), file);
}

/** Writes `data` (or its chunks, in order, never held at once) to `file`, creating its folder first. */
export async function writeOutput(
  file: string,
  data: string | Uint8Array | Iterable<Uint8Array>,
): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, data);
}

/** Help text for an --out flag with a default. */
export function outHelp(what: string, file: string): string {
  return `${what} (default ${path.join('loupe-out', file)}, or under $${OUT_DIR_ENV})`;
}
