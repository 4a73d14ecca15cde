/**
 * Bundles the CLI (src/bin.ts and everything it imports from the workspace and node_modules) into one ES module,
 * dist/loupe.mjs, so that a command starts without compiling TypeScript on the fly. onnxruntime-node stays
 * outside (a native addon), imported by its absolute path since apps/cli does not depend on it directly.
 *
 * The bundle belongs to this checkout: `import.meta.url`/`dirname`/`filename` in workspace sources become the
 * source file's own location, so that code finding files beside itself (the commands folder, the shipped
 * organisms) finds them as it does under tsx. dist/loupe.inputs.json lists every file and workspace folder the
 * bundle was built from; loupe.mjs rebuilds when one of them is newer than the bundle (or gone).
 *
 *   node apps/cli/build.mjs      (loupe.mjs runs it on demand)
 */
import { readFileSync, statSync } from 'node:fs';
import { mkdir, readFile, rename, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const CLI_DIR = import.meta.dirname;
export const BUNDLE = path.join(CLI_DIR, 'dist', 'loupe.mjs');
export const INPUTS = path.join(CLI_DIR, 'dist', 'loupe.inputs.json');
const NATIVE = /^onnxruntime-node$/;
const NODE_MODULES = `${path.sep}node_modules${path.sep}`;

/** `import.meta.*` of a workspace source, replaced by that source's own location. */
const sourceLocation = {
  name: 'source-location',
  setup(build) {
    build.onLoad({ filter: /\.ts$/ }, async (args) => {
      if (args.path.includes(NODE_MODULES)) return undefined;
      const text = await readFile(args.path, 'utf8');
      return {
        loader: 'ts',
        contents: text
          .replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href))
          .replaceAll('import.meta.dirname', JSON.stringify(path.dirname(args.path)))
          .replaceAll('import.meta.filename', JSON.stringify(args.path)),
      };
    });
  },
};

/** Native packages: resolved as their importer would resolve them, then left external at that path. */
const nativeExternal = {
  name: 'native-external',
  setup(build) {
    build.onResolve({ filter: NATIVE }, async (args) => {
      if (args.pluginData === 'native-external') return undefined;
      const found = await build.resolve(args.path, {
        resolveDir: args.resolveDir,
        kind: args.kind,
        pluginData: 'native-external',
      });
      if (found.errors.length > 0) return { errors: found.errors };
      return { path: found.path, external: true };
    });
  },
};

/**
 * Whether `bundle` is as new as every file and folder its inputs list names: false when the bundle or the list
 * is missing, or an input is newer or gone.
 */
export function isFresh(bundle = BUNDLE, inputsFile = INPUTS) {
  try {
    const built = statSync(bundle).mtimeMs;
    const inputs = JSON.parse(readFileSync(inputsFile, 'utf8'));
    return inputs.every((f) => statSync(f).mtimeMs <= built);
  } catch {
    return false;
  }
}

/**
 * Builds dist/loupe.mjs and its inputs list. Both are written under temporary names and renamed, so a command
 * started meanwhile runs the old bundle or the new one, never half of one; the bundle's mtime is set to the
 * build's start, so that a source saved during the build is newer than it.
 */
export async function buildBundle() {
  const { build } = await import('esbuild');
  const started = new Date();
  const root = path.resolve(CLI_DIR, '../..');
  const result = await build({
    absWorkingDir: root,
    entryPoints: [path.join(CLI_DIR, 'src', 'bin.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    write: false,
    outfile: BUNDLE,
    metafile: true,
    logLevel: 'error',
    plugins: [sourceLocation, nativeExternal],
    // CommonJS dependencies bundled into an ES module still call require() for Node's builtins.
    banner: {
      js: "import { createRequire as loupeCreateRequire } from 'node:module'; const require = loupeCreateRequire(import.meta.url);",
    },
  });
  const files = Object.keys(result.metafile.inputs).map((f) => path.resolve(root, f));
  // A file added to a workspace folder (a new command) changes the folder's mtime.
  const folders = [...new Set(files.filter((f) => !f.includes(NODE_MODULES)).map((f) => path.dirname(f)))];
  const inputs = [fileURLToPath(import.meta.url), ...files, ...folders];
  await mkdir(path.dirname(BUNDLE), { recursive: true });
  const tmp = `.${process.pid}.tmp`;
  await writeFile(INPUTS + tmp, JSON.stringify(inputs));
  await rename(INPUTS + tmp, INPUTS);
  await writeFile(BUNDLE + tmp, result.outputFiles[0].contents);
  await utimes(BUNDLE + tmp, started, started);
  await rename(BUNDLE + tmp, BUNDLE);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await buildBundle();
