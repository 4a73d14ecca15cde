/**
 * `pnpm loupe <command> ...`. Commands are discovered from ./commands/*.ts (each exports `command`), so
 * adding one is a one-file change.
 */
import { realpathSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type CliIO, type Command, UsageError, commandHelp, parseCommandLine } from './args.ts';

const COMMANDS_DIR = fileURLToPath(new URL('./commands/', import.meta.url));

function isCommand(x: unknown): x is Command {
  if (!x || typeof x !== 'object') return false;
  const c = x as Partial<Command>;
  return (
    typeof c.name === 'string' &&
    typeof c.run === 'function' &&
    typeof c.flags === 'object' &&
    c.schema !== undefined
  );
}

export async function loadCommands(dir = COMMANDS_DIR): Promise<Map<string, Command>> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts')).sort();
  const out = new Map<string, Command>();
  for (const f of files) {
    const mod: { command?: unknown } = await import(pathToFileURL(`${dir}/${f}`).href);
    if (!isCommand(mod.command)) throw new Error(`${dir}/${f} does not export a valid 'command'`);
    if (out.has(mod.command.name)) throw new Error(`two commands are named '${mod.command.name}'`);
    out.set(mod.command.name, mod.command);
  }
  return out;
}

function overview(commands: Map<string, Command>): string {
  const width = Math.max(...[...commands.keys()].map((n) => n.length)) + 2;
  const lines = ['usage: loupe <command> [flags]   (loupe <command> --help for its flags)', '', 'commands:'];
  for (const c of commands.values()) lines.push(`  ${c.name.padEnd(width)}${c.summary}`);
  return lines.join('\n');
}

/**
 * The commands a command line needs: only `<name>.ts` when that file defines the named command, so running one
 * command does not import (and, under tsx, transpile) every other command's dependencies; all of them for help
 * and unknown names.
 */
async function commandsFor(name: string | undefined, dir = COMMANDS_DIR): Promise<Map<string, Command>> {
  if (name && /^[a-z][a-z-]*$/.test(name) && (await readdir(dir)).includes(`${name}.ts`)) {
    const mod: { command?: unknown } = await import(pathToFileURL(`${dir}/${name}.ts`).href);
    if (isCommand(mod.command) && mod.command.name === name) return new Map([[name, mod.command]]);
  }
  return loadCommands(dir);
}

/** Runs one command line; returns the exit code (0 ok, 1 failure while running, 2 bad command line). */
export async function runCli(argv: readonly string[], io: CliIO): Promise<number> {
  const [name, ...rest] = argv;
  const commands = await commandsFor(name);
  const errLine = (s: string) => io.err.write(`${s}\n`);
  if (name === undefined || name === '--help' || name === 'help') {
    if (name === undefined) {
      errLine(overview(commands));
      return 2;
    }
    io.out([overview(commands), ...[...commands.values()].map(commandHelp)].join('\n\n'));
    return 0;
  }
  const command = commands.get(name);
  if (!command) {
    errLine(`loupe: unknown command '${name}' (commands: ${[...commands.keys()].join(', ')})`);
    return 2;
  }
  if (rest.includes('--help')) {
    io.out(commandHelp(command));
    return 0;
  }
  try {
    const options = parseCommandLine(command, rest);
    await command.run(options, io);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      errLine(`loupe ${name}: ${e.message}`);
      errLine(`usage: loupe ${name} ${command.usage}`);
      return 2;
    }
    errLine(`loupe ${name}: ${(e as Error).message}`);
    return 1;
  }
}

// Run only when executed (also through a bin symlink), not when imported by tests.
if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  const code = await runCli(process.argv.slice(2), { out: (s) => console.log(s), err: process.stderr });
  process.exitCode = code;
}
