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

/** The command files' names, `attribute` for `commands/attribute.ts`, sorted. */
async function commandFiles(): Promise<string[]> {
  const files = await readdir(COMMANDS_DIR);
  return files
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
    .map((f) => f.slice(0, -'.ts'.length))
    .sort();
}

/**
 * The `command` that `commands/<file>.ts` exports. The import names the folder literally so that a bundler
 * (apps/cli/build.mjs) includes every command file and still evaluates only the one imported.
 */
async function importCommand(file: string): Promise<unknown> {
  const mod: { command?: unknown } = await import(`./commands/${file}.ts`);
  return mod.command;
}

export async function loadCommands(): Promise<Map<string, Command>> {
  const out = new Map<string, Command>();
  for (const f of await commandFiles()) {
    const command = await importCommand(f);
    if (!isCommand(command)) throw new Error(`${COMMANDS_DIR}${f}.ts does not export a valid 'command'`);
    if (out.has(command.name)) throw new Error(`two commands are named '${command.name}'`);
    out.set(command.name, command);
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
async function commandsFor(name: string | undefined): Promise<Map<string, Command>> {
  if (name && /^[a-z][a-z-]*$/.test(name) && (await commandFiles()).includes(name)) {
    const command = await importCommand(name);
    if (isCommand(command) && command.name === name) return new Map([[name, command]]);
  }
  return loadCommands();
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

/** Runs the process's own command line (`loupe ARGS`) and sets its exit code. */
export async function runProcess(): Promise<void> {
  process.exitCode = await runCli(process.argv.slice(2), { out: (s) => console.log(s), err: process.stderr });
}

// Run only when executed (also through a bin symlink), not when imported by tests or by the bundle's entry.
if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href)
  await runProcess();
