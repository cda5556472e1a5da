// The command line: a thin yargs shell over the typed API. Handlers return exit codes; only
// main.ts exits the process.
import { resolve } from 'node:path';
import yargs, { type Argv } from 'yargs';
import { mountAt } from '../daemon/mounts';
import { mountCommand } from './commands/mount';
import { umountCommand } from './commands/umount';
import { eventsCommand } from './commands/events';
import { layerCommand } from './commands/layer';
import { imageCommand, imageShortcuts } from './commands/image';
import { containerCommand, containerShortcuts } from './commands/container';
import { whichCommand } from './commands/which';

export interface CliDeps {
  out: (line: string) => void;
  err: (line: string) => void;
}

export const defaultDeps: CliDeps = {
  out: (line) => process.stdout.write(line + '\n'),
  err: (line) => process.stderr.write(line + '\n'),
};

interface CommandTable {
  getInternalMethods(): { getCommandInstance(): { getCommands(): string[] } };
}

/**
 * mount.fuse3 runs `layerfs SOURCE MOUNTPOINT -o OPTIONS` and podman `layerfs -o OPTIONS MOUNTPOINT`:
 * argv that starts with -o or with a word that is no command is the hidden mount-helper command.
 */
function asMountHelper(argv: string[], commands: string[]): string[] {
  const first = argv[0];
  if (first === undefined) return argv;
  if (first === '-o' || (!first.startsWith('-') && !commands.includes(first))) return ['mount-helper', ...argv];
  return argv;
}

// Options that take a value, so that value is not mistaken for a positional argument.
const VALUE_OPTIONS = new Set(['-o', '--lower', '--upper', '--work', '--log-level', '--trace', '-v', '--volume', '--whiteout-format', '--store']);
const LAYER_OPTIONS = new Set(['-o', '--lower', '--upper', '--work']);

function positionals(args: string[]): string[] {
  return args.filter((a, i) => !a.startsWith('-') && !VALUE_OPTIONS.has(args[i - 1] ?? ''));
}

/**
 * The Docker-like short forms `layerfs mount CONTAINER MOUNTPOINT` (two positionals, no layer
 * options) and `layerfs umount CONTAINER` (a name that is no mountpoint) of `layerfs container ...`.
 */
function asContainerForm(argv: string[]): string[] {
  const [verb, ...rest] = argv;
  const pos = positionals(rest);
  if (verb === 'mount' && pos.length === 2 && !rest.some((a) => LAYER_OPTIONS.has(a.split('=')[0]!))) return ['container', ...argv];
  if (verb === 'umount' && pos.length === 1 && !pos[0]!.includes('/') && mountAt(resolve(pos[0]!)) === undefined) return ['container', ...argv];
  return argv;
}

/** Parses argv and runs the command; resolves with the exit code (2 for usage errors). */
export async function runCli(argv: string[], deps: CliDeps = defaultDeps): Promise<number> {
  let code = 0;
  let usageError: string | undefined;
  const build = (args: string[]): Argv => yargs(args)
    .scriptName('layerfs')
    .command(mountCommand(deps, (c) => (code = c)))
    .command(mountCommand(deps, (c) => (code = c), 'helper'))
    .command(umountCommand(deps, (c) => (code = c)))
    .command(eventsCommand(deps, (c) => (code = c)))
    .command(layerCommand(deps, (c) => (code = c)))
    .command(imageCommand(deps, (c) => (code = c)))
    .command(containerCommand(deps, (c) => (code = c)))
    .command(imageShortcuts(deps, (c) => (code = c)))
    .command(containerShortcuts(deps, (c) => (code = c)))
    .command(whichCommand(deps, (c) => (code = c)))
    .demandCommand(1, 'say which command to run (layerfs --help lists them)')
    .strict()
    .version(require('../../package.json').version)
    .help()
    .exitProcess(false)
    .fail((msg, err) => {
      usageError = msg ?? err?.message ?? 'bad usage';
    });
  const commands: string[] = (build([]) as unknown as CommandTable).getInternalMethods().getCommandInstance().getCommands();
  const parser = build(asContainerForm(asMountHelper(argv, commands)));
  try {
    await parser.parseAsync();
  } catch (err) {
    usageError ??= (err as Error).message;
  }
  if (usageError !== undefined) {
    deps.err(`layerfs: ${usageError}`);
    return 2;
  }
  return code;
}
