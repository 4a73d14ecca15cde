/**
 * `pnpm exec tsx packages/organism/src/cli/plot.ts`: draws each shipped organism's training-curve.json as
 * docs/img/NAME-loss.svg (train and validation loss against step).
 */
import path from 'node:path';
import { nodeFiles } from '@loupe/core/node';
import { lossCurveSvg } from '../report.ts';
import { loadShippedReports } from '../shipped.ts';

async function main(): Promise<void> {
  const files = nodeFiles();
  const imgDir = path.resolve(import.meta.dirname, '../../../../docs/img');
  await files.mkdir(imgDir);
  const reports = await loadShippedReports(files);
  if (reports.length === 0) throw new Error('no shipped organism under packages/organism/models/');
  for (const r of reports) {
    const out = path.join(imgDir, `${r.name}-loss.svg`);
    await files.writeFile(out, lossCurveSvg(r));
    console.log(`wrote ${path.relative(process.cwd(), out)}`);
  }
}

main().catch((e: unknown) => {
  console.error(`organism plot: ${(e as Error).message}`);
  process.exit(1);
});
