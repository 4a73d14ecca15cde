#!/usr/bin/env node
/**
 * `pnpm loupe ARGS`: runs the bundled CLI (dist/loupe.mjs), rebuilding it first when it is missing or any file it
 * was built from is newer or gone, so the command always runs the current sources. The check stats the few
 * hundred inputs (milliseconds); esbuild is loaded only to rebuild.
 */
import { pathToFileURL } from 'node:url';
import { BUNDLE, buildBundle, isFresh } from './build.mjs';

if (!isFresh()) {
  // On stderr, so that stdout stays the command's own; it explains the pause and marks the run as a rebuild.
  process.stderr.write('loupe: sources changed since the last build, rebuilding the CLI bundle\n');
  try {
    await buildBundle();
  } catch (e) {
    // esbuild has printed the errors with their file and line; this says which step failed.
    process.stderr.write(
      `loupe: could not build ${BUNDLE}: ${e instanceof Error ? e.message.split('\n')[0] : e}\n`,
    );
    process.exit(1);
  }
}
await import(pathToFileURL(BUNDLE).href);
