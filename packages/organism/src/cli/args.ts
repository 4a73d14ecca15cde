export type OptionSpec = Readonly<Record<string, 'string' | 'int' | 'number' | 'flag'>>;
export type ParsedArgs = Record<string, string | number | boolean>;

/** A tiny `--name value` / `--flag` parser with clear errors for the organism's commands. */
export function parseArgs(argv: readonly string[], spec: OptionSpec): ParsedArgs {
  const out: ParsedArgs = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument '${a}'`);
    const name = a.slice(2);
    const kind = spec[name];
    if (!kind)
      throw new Error(
        `unknown option --${name}; options: ${Object.keys(spec)
          .map((k) => `--${k}`)
          .join(' ')}`,
      );
    if (kind === 'flag') {
      out[name] = true;
      continue;
    }
    const v = argv[++i];
    if (v === undefined || v.startsWith('--')) throw new Error(`--${name} needs a value`);
    if (kind === 'string') out[name] = v;
    else {
      const n = Number(v);
      if (!Number.isFinite(n) || (kind === 'int' && !Number.isInteger(n))) {
        throw new Error(`--${name} must be ${kind === 'int' ? 'an integer' : 'a number'}, got '${v}'`);
      }
      out[name] = n;
    }
  }
  return out;
}

/**
 * Runs one of the organism's commands on this process's arguments: a bad option or any error the command
 * throws prints `NAME: message` and exits 1.
 */
export function runCommand(
  name: string,
  spec: OptionSpec,
  command: (args: ParsedArgs) => Promise<void>,
): void {
  Promise.resolve()
    .then(() => command(parseArgs(process.argv.slice(2), spec)))
    .catch((e: unknown) => {
      console.error(`${name}: ${(e as Error).message}`);
      process.exit(1);
    });
}
