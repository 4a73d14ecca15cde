/**
 * docs/cli-reference.md from the CLI's own `--help`, so the reference lists exactly the commands and flags
 * that exist. Run `pnpm --filter @loupe/docs cli-reference` after changing a command; a test fails until then.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';

const repoRoot = resolve(import.meta.dirname, '../..');
export const CLI_REFERENCE = join(repoRoot, 'docs/cli-reference.md');

/** What `loupe --help` prints: every command with its usage and flags. */
export function cliHelp(): string {
  const tsxCli = createRequire(import.meta.url).resolve('tsx/cli');
  return execFileSync(process.execPath, [tsxCli, 'apps/cli/src/main.ts', '--help'], {
    cwd: repoRoot,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
  });
}

export function cliReference(help: string): string {
  return `# CLI reference

Generated from \`pnpm loupe --help\` by \`pnpm --filter @loupe/docs cli-reference\`; a test checks that it
matches the CLI. Worked examples are in the [quickstart](quickstart.md) and [cli.md](cli.md) (targets,
patching, steering, feature indexes, contrast and overlap).

\`--model\` takes a Hugging Face checkpoint folder or a shipped organism (\`organism-s\`, \`organism-m\`);
\`--transcoders\` a dictionary folder or a shipped one (\`organism-s/plt\`, \`organism-s/clt\`, \`organism-m/plt\`,
\`organism-m/clt\`). Outputs go to \`loupe-out/\` (or \`$LOUPE_OUT_DIR\`) unless \`--out\` says otherwise.

\`\`\`text
${help.trimEnd()}
\`\`\`
`;
}

if (process.argv[1] === import.meta.filename) {
  writeFileSync(CLI_REFERENCE, cliReference(cliHelp()));
  console.log(`wrote ${CLI_REFERENCE}`);
}
