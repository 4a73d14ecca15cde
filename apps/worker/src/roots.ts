/**
 * The worker reads and writes only inside its data roots (LOUPE_DATA_ROOTS): every path a claim hands it is
 * checked with realpath, so `..`, a symlink pointing out, or an absolute path elsewhere is refused before a
 * handler runs.
 */
import { existsSync, realpathSync } from 'node:fs';
import path from 'node:path';
import type { JobPaths } from '@loupe/api/jobs';
import { PermanentJobError } from './registry.ts';

/** The roots themselves, resolved once (a root that does not exist yet is taken as written). */
export function realRoots(roots: readonly string[]): string[] {
  return roots.map((r) => (existsSync(r) ? realpathSync(r) : path.resolve(r)));
}

function within(file: string, root: string): boolean {
  const rel = path.relative(root, file);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/**
 * Where `p` really is: realpath of the path, or for an output that does not exist yet, realpath of its
 * nearest existing folder with the rest appended (so a symlinked parent cannot lead writes out).
 */
function realLocation(p: string): string {
  let dir = p;
  const rest: string[] = [];
  while (!existsSync(dir)) {
    const up = path.dirname(dir);
    if (up === dir) break;
    rest.unshift(path.basename(dir));
    dir = up;
  }
  return path.join(realpathSync(dir), ...rest);
}

/**
 * Throws a PermanentJobError naming the first path of `paths` that is not absolute, holds a `..` segment,
 * or lies (after resolving symlinks) outside every root. Inputs must exist; the output folder may not yet.
 */
export function checkJobPaths(paths: JobPaths, roots: readonly string[]): void {
  for (const [what, p] of Object.entries(paths) as [keyof JobPaths, string | undefined][]) {
    if (p === undefined) continue;
    if (!path.isAbsolute(p) || p.split(/[\\/]/).includes('..')) {
      throw new PermanentJobError(
        `refused ${what} path ${JSON.stringify(p)}: not an absolute path without '..'`,
      );
    }
    if (what !== 'out' && !existsSync(p)) throw new PermanentJobError(`${what} ${p} does not exist`);
    const real = realLocation(p);
    if (!roots.some((root) => within(real, root))) {
      throw new PermanentJobError(
        `refused ${what} path ${p}: it resolves to ${real}, outside the worker's data roots (LOUPE_DATA_ROOTS: ${roots.join(path.delimiter)})`,
      );
    }
  }
}

/** The path a handler needs; a claim without it is a server fault the job cannot recover from. */
export function requirePath(paths: JobPaths, what: keyof JobPaths): string {
  const p = paths[what];
  if (p === undefined) throw new PermanentJobError(`the server gave this job no ${what} path`);
  return p;
}
