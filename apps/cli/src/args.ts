/**
 * A tiny, strict argument parser: `--flag value`, `--flag=value` and boolean `--flag`. Every flag must be
 * declared; the parsed record is then validated by the command's zod schema, so options arrive typed.
 */
import type { z } from 'zod';
import type { ProgressStream } from './progress.ts';

export interface FlagSpec {
  /** 'boolean' flags take no value; 'string' flags take exactly one. */
  type: 'string' | 'boolean';
  /** Placeholder shown in help, e.g. DIR. */
  value?: string;
  help: string;
  /** A 'string' flag that may be given several times; its value is then the list of values. */
  repeatable?: boolean;
  /** A 'string' flag followed by this many values (`--target-diff A B`); its value is then their list. */
  arity?: number;
}

export interface CliIO {
  out: (line: string) => void;
  /** Diagnostics and progress (stderr), so that stdout carries only results. */
  err: ProgressStream;
}

export interface Command<S extends z.ZodType = z.ZodType> {
  name: string;
  summary: string;
  /** One usage line without the `loupe <name>` prefix, e.g. `--model DIR --out FILE`. */
  usage: string;
  flags: Record<string, FlagSpec>;
  /** A flag that may also be given as the first argument, without its name (`loupe explain GRAPH.json`). */
  positional?: string;
  schema: S;
  run(options: z.infer<S>, io: CliIO): Promise<void>;
}

/** Wraps a command so that its schema and run() agree on the options type. */
export function defineCommand<S extends z.ZodType>(command: Command<S>): Command {
  return command as unknown as Command;
}

/** A problem with the command line itself (exit code 2, usage shown), as opposed to a failure while running. */
export class UsageError extends Error {}

export function parseFlags(
  argv: readonly string[],
  flags: Record<string, FlagSpec>,
): Record<string, string | boolean | string[]> {
  const out: Record<string, string | boolean | string[]> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--') || arg === '--')
      throw new UsageError(`unexpected argument '${arg}' (flags start with --)`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const spec = Object.hasOwn(flags, name) ? flags[name] : undefined;
    if (!spec) {
      const known = Object.keys(flags).map((f) => `--${f}`);
      throw new UsageError(`unknown flag '--${name}' (known: ${known.join(', ')}, --help)`);
    }
    if (Object.hasOwn(out, name) && !spec.repeatable) throw new UsageError(`flag '--${name}' given twice`);
    if (spec.type === 'boolean') {
      if (eq >= 0) throw new UsageError(`flag '--${name}' takes no value`);
      out[name] = true;
      continue;
    }
    const arity = spec.arity ?? 1;
    if (arity > 1) {
      if (eq >= 0) throw new UsageError(`flag '--${name}' takes ${arity} values after a space, not '='`);
      const values = argv.slice(i + 1, i + 1 + arity);
      if (values.length < arity || values.some((v) => v.startsWith('--')))
        throw new UsageError(`flag '--${name}' needs ${arity} values`);
      i += arity;
      out[name] = values;
      continue;
    }
    let value: string;
    if (eq >= 0) value = arg.slice(eq + 1);
    else {
      if (i + 1 >= argv.length || argv[i + 1].startsWith('--'))
        throw new UsageError(`flag '--${name}' needs a value`);
      value = argv[++i];
    }
    out[name] = spec.repeatable ? [...((out[name] as string[] | undefined) ?? []), value] : value;
  }
  return out;
}

export function commandHelp(c: Command): string {
  const width =
    Math.max(...Object.entries(c.flags).map(([n, f]) => n.length + (f.value ? f.value.length + 1 : 0))) + 4;
  const lines = [`loupe ${c.name} ${c.usage}`, '', c.summary, '', 'flags:'];
  for (const [n, f] of Object.entries(c.flags)) {
    lines.push(
      `  ${`--${n}${f.value ? ` ${f.value}` : ''}`.padEnd(width)}${f.help}${f.repeatable ? ' (repeatable)' : ''}`,
    );
  }
  lines.push(`  ${'--help'.padEnd(width)}show this help`);
  return lines.join('\n');
}

/** Parses and validates; a zod failure becomes a UsageError naming the flag. */
export function parseCommandLine<S extends z.ZodType>(c: Command<S>, argv: readonly string[]): z.infer<S> {
  const lead = c.positional && argv.length > 0 && !argv[0].startsWith('--');
  const raw = parseFlags(lead ? argv.slice(1) : argv, c.flags);
  if (lead && c.positional) {
    if (Object.hasOwn(raw, c.positional))
      throw new UsageError(`give ${argv[0]} or --${c.positional}, not both`);
    raw[c.positional] = argv[0];
  }
  const r = c.schema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    const flag = issue.path.length > 0 ? `--${String(issue.path[0])}: ` : '';
    throw new UsageError(`${flag}${issue.message}`);
  }
  return r.data;
}
