import { existsSync } from 'node:fs';
import path from 'node:path';

/**
 * The repository root: the nearest folder above the working directory holding pnpm-workspace.yaml. `next start`
 * runs in apps/web while the shipped organisms and the data folder are named from the root.
 */
export function repoRoot(): string {
  let dir = process.cwd();
  for (;;) {
    if (existsSync(/*turbopackIgnore: true*/ path.join(dir, 'pnpm-workspace.yaml'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
}
