import { runCli } from '../src/main.ts';

/** What one `loupe` run printed: stdout lines joined by newlines, stderr as written. */
export interface CliRun {
  code: number;
  out: string;
  err: string;
}

/** Runs `loupe ARGS` in-process, as main.ts does, keeping its output for assertions. */
export async function loupe(args: readonly string[]): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, { out: (s) => out.push(s), err: { write: (s) => err.push(s) } });
  return { code, out: out.join('\n'), err: err.join('') };
}
