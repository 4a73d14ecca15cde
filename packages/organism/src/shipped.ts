/**
 * The organisms shipped in packages/organism/models/ (Node only: it resolves paths on disk). They are the
 * embedded default wherever a model directory is asked for, so every command works with no download.
 */
import path from 'node:path';
import type { FileAccess } from '@loupe/core';
import { type ShippedReport, shippedReport } from './report.ts';

export const SHIPPED_ORGANISMS = ['organism-s', 'organism-m'] as const;
export type ShippedOrganism = (typeof SHIPPED_ORGANISMS)[number];

/** packages/organism/models */
export const SHIPPED_MODELS_DIR = path.resolve(import.meta.dirname, '../models');

export function isShippedOrganism(name: string): name is ShippedOrganism {
  return (SHIPPED_ORGANISMS as readonly string[]).includes(name);
}

export function shippedModelDir(name: ShippedOrganism): string {
  return path.join(SHIPPED_MODELS_DIR, name);
}

/**
 * `organism-s` / `organism-m` name a shipped model; anything else is a directory, resolved against `cwd`
 * (a local folder of the same name is reached as `./organism-s`).
 */
export function resolveModelDir(value: string, cwd: string = process.cwd()): string {
  if (value.length === 0) throw new Error('empty model name or directory');
  return isShippedOrganism(value) ? shippedModelDir(value) : path.resolve(cwd, value);
}

/** Reads the JSON files a shipped organism's report needs; absent models are skipped. */
export async function loadShippedReports(
  files: FileAccess,
  modelsDir: string = SHIPPED_MODELS_DIR,
): Promise<ShippedReport[]> {
  const out: ShippedReport[] = [];
  for (const name of SHIPPED_ORGANISMS) {
    const dir = files.join(modelsDir, name);
    if (!(await files.exists(files.join(dir, 'config.json')))) continue;
    const read = async (f: string): Promise<unknown> => {
      const p = files.join(dir, f);
      if (!(await files.exists(p))) throw new Error(`${p} is missing: every shipped organism needs it`);
      try {
        return JSON.parse(await files.readText(p));
      } catch (e) {
        throw new Error(`${p}: not valid JSON (${(e as Error).message})`);
      }
    };
    out.push(
      shippedReport(name, {
        config: await read('config.json'),
        curve: await read('training-curve.json'),
        eval: await read('eval.json'),
      }),
    );
  }
  return out;
}
