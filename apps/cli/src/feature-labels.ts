/**
 * Where a dictionary's feature index lives when no --index names it: `<dictionary>/features`, as
 * train-dictionary --index writes it, or for a shipped dictionary (which commands never write into)
 * `loupe-out/features/<organism>-<dictionary>`.
 */
import path from 'node:path';
import { type FileAccess, readFeatureLabels } from '@loupe/core';
import { SHIPPED_ORGANISMS, shippedModelDir } from '@loupe/organism/node';
import { outputDir } from './output.ts';

export function defaultIndexDir(dictionaryDir: string): string {
  const abs = path.resolve(dictionaryDir);
  for (const org of SHIPPED_ORGANISMS) {
    const rel = path.relative(shippedModelDir(org), abs);
    if (!rel.startsWith('..') && !path.isAbsolute(rel)) {
      return path.join(outputDir(), 'features', `${org}-${path.basename(abs)}`);
    }
  }
  return path.join(dictionaryDir, 'features');
}

/**
 * The labels of `--index DIR`, or of the default index when one has been built; undefined when neither
 * exists. A given --index that holds no index is an error.
 */
export async function findFeatureLabels(
  files: FileAccess,
  dictionaryDir: string,
  index: string | undefined,
): Promise<{ dir: string; labels: Map<number, string[]> } | undefined> {
  const dir = index ?? defaultIndexDir(dictionaryDir);
  const hasIndex =
    (await files.exists(files.join(dir, 'labels.json'))) ||
    (await files.exists(files.join(dir, 'index.json.gz')));
  if (!hasIndex) {
    if (index !== undefined) throw new Error(`--index ${index}: no labels.json or index.json.gz there`);
    return undefined;
  }
  return { dir, labels: await readFeatureLabels(files, dir) };
}
