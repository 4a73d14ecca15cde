/** docs/cli-reference.md is the CLI's current `--help`: a new or changed command or flag must be regenerated. */
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { CLI_REFERENCE, cliHelp, cliReference } from '../scripts/cli-reference.ts';

it('docs/cli-reference.md matches `loupe --help` (regenerate: pnpm --filter @loupe/docs cli-reference)', () => {
  const help = cliHelp();
  expect(help).toMatch(/^usage: loupe <command>/);
  expect(readFileSync(CLI_REFERENCE, 'utf8')).toBe(cliReference(help));
}, 60_000);
