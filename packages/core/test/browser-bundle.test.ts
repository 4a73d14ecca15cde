/**
 * `@loupe/core` and `@loupe/core/browser` must bundle for the browser: nothing they reach may import a Node
 * builtin, onnxruntime-node or the core's own node/ adapters (the ORT module is always passed in).
 */
import { builtinModules } from 'node:module';
import { type Plugin, build } from 'esbuild';
import { describe, expect, it } from 'vitest';

const forbidden = new Set([...builtinModules.flatMap((m) => [m, `node:${m}`]), 'onnxruntime-node']);

interface Reach {
  forbidden: string[]; // 'specifier <- importer'
  inputs: string[];
}

/** Bundles `code` for the browser, recording every forbidden import instead of stopping at the first. */
async function reach(code: string): Promise<Reach> {
  const seen: string[] = [];
  const record: Plugin = {
    name: 'record-forbidden',
    setup(b) {
      b.onResolve({ filter: /.*/ }, (args) => {
        if (!forbidden.has(args.path.split('/')[0])) return undefined;
        seen.push(`${args.path} <- ${args.importer}`);
        return { path: args.path, external: true };
      });
    },
  };
  const out = await build({
    stdin: { contents: code, resolveDir: import.meta.dirname, loader: 'ts' },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    write: false,
    metafile: true,
    logLevel: 'silent',
    plugins: [record],
  });
  return { forbidden: seen, inputs: Object.keys(out.metafile.inputs) };
}

describe('browser bundle', () => {
  it('@loupe/core and @loupe/core/browser reach no Node builtin, onnxruntime-node or node/', async () => {
    const r = await reach("export * from '@loupe/core'; export * from '@loupe/core/browser';");
    expect(r.forbidden).toEqual([]);
    expect(r.inputs.filter((p) => /onnxruntime-(node|web)|\/src\/node\//.test(p))).toEqual([]);
    expect(r.inputs.some((p) => p.endsWith('src/browser/runtime.ts'))).toBe(true);
    expect(r.inputs.some((p) => p.endsWith('src/model/model.ts'))).toBe(true);
  });

  it('the check sees a forbidden import anywhere below the entry', async () => {
    const r = await reach("export * from '@loupe/core/node';");
    expect(r.forbidden.some((f) => f.startsWith('node:fs/promises <- '))).toBe(true);
    expect(r.forbidden.some((f) => f.startsWith('onnxruntime-node <- '))).toBe(true);
  });
});
