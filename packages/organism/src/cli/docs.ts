/**
 * `pnpm exec tsx packages/organism/src/cli/docs.ts`: rewrites the generated block of docs/organism.md (sizes,
 * curves, accuracy) from the shipped organisms' config.json, training-curve.json and eval.json. The shipped
 * test fails when the page and those files disagree.
 */
import path from 'node:path';
import { nodeFiles } from '@loupe/core/node';
import { generatedDocs, replaceGenerated } from '../report.ts';
import { loadShippedReports } from '../shipped.ts';

async function main(): Promise<void> {
  const files = nodeFiles();
  const page = path.resolve(import.meta.dirname, '../../../../docs/organism.md');
  const reports = await loadShippedReports(files);
  await files.writeFile(page, replaceGenerated(await files.readText(page), generatedDocs(reports)));
  console.log(`updated ${path.relative(process.cwd(), page)} (${reports.map((r) => r.name).join(', ')})`);
}

main().catch((e: unknown) => {
  console.error(`organism docs: ${(e as Error).message}`);
  process.exit(1);
});
