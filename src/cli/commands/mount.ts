// layerfs mount: the overlay syntax of mount -t overlay, or --lower/--upper/--work. In the
// background by default, returning once the mount answers; --foreground stays attached.
import { spawn } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import type { CommandModule } from 'yargs';
import { LayerConfigError, validateStack, type LayerStack } from '../../overlay/layers';
import { OptionError, parseMountOptions, type ParsedOptions } from '../../daemon/mount-options';
import { checkMountpoint, Daemon } from '../../daemon/daemon';
import { createLogger, LOG_LEVELS, type LogLevel } from '../../daemon/logger';
import { removeState, statePaths, writeState } from '../../daemon/runtime';
import type { CliDeps } from '../cli';
import { parseVolume, type Volume } from '../../overlay/volumes';
import { resolve } from 'node:path';

interface MountArgs {
  mountpoint?: string;
  /** The helper form's first positional: mount(8)'s SOURCE, or the mountpoint when alone. */
  source?: string;
  o?: string[];
  lower?: string[];
  upper?: string;
  work?: string;
  foreground?: boolean;
  'log-level': LogLevel;
  trace?: string;
  'whiteout-format'?: 'kernel' | 'oci';
  volume?: string[];
  'ready-fd'?: number;
}

/** A volume argument, or an OptionError saying what is wrong with it. */
function parseVolumeArg(spec: string): Volume {
  try {
    const v = parseVolume(spec);
    return { ...v, hostDir: resolve(v.hostDir) };
  } catch (err) {
    throw new OptionError((err as Error).message);
  }
}

/** Repeated options arrive as an array, a single one as a string. */
const toList = (v: string | string[]): string[] => (Array.isArray(v) ? v : [v]);

/** Merges -o options with the friendly flags; a layer given both ways is an error. */
function collectOptions(args: MountArgs): ParsedOptions {
  const parsed = parseMountOptions(args.o ?? []);
  if (args.lower !== undefined) {
    if (parsed.lowers.length > 0) throw new OptionError('lower layers are given both as lowerdir= and --lower');
    parsed.lowers = args.lower;
  }
  for (const key of ['upper', 'work'] as const) {
    if (args[key] === undefined) continue;
    if (parsed[key] !== undefined) throw new OptionError(`${key}dir is given both as ${key}dir= and --${key}`);
    parsed[key] = args[key];
  }
  return parsed;
}

/**
 * `layerfs mount MOUNTPOINT`, and the helper form that mount(8) (through mount.fuse3, for
 * `-t fuse.layerfs` and fstab) and podman's mount_program use: `layerfs [SOURCE] MOUNTPOINT -o ...`.
 */
export function mountCommand(deps: CliDeps, setCode: (c: number) => void, form: 'verb' | 'helper' = 'verb'): CommandModule<object, MountArgs> {
  return {
    command: form === 'verb' ? 'mount <mountpoint>' : 'mount-helper <source> [mountpoint]',
    describe: form === 'verb' ? 'mount an overlay of layer directories (like mount -t overlay)' : false,
    builder: (y) =>
      y
        .positional(form === 'verb' ? 'mountpoint' : 'source', { type: 'string', demandOption: true, describe: 'where to mount' })
        .option('o', { type: 'string', coerce: toList, describe: 'lowerdir=A:B,upperdir=U,workdir=W[,ro,allow_other]' })
        .option('lower', { type: 'string', coerce: toList, describe: 'a lower layer, top-most first (repeat)' })
        .option('upper', { type: 'string', describe: 'the writable upper directory' })
        .option('work', { type: 'string', describe: 'the work directory (same filesystem as --upper)' })
        .option('foreground', { alias: 'f', type: 'boolean', describe: 'stay attached; unmount on SIGINT/SIGTERM' })
        .option('log-level', { choices: LOG_LEVELS, default: 'warn' as LogLevel, describe: 'debug shows every operation' })
        .option('trace', { type: 'string', choices: ['text', 'json'], describe: 'print each copy-up, whiteout and create' })
        .option('volume', { alias: 'v', type: 'string', coerce: toList, describe: 'HOSTDIR:/path: show a host directory at /path (repeat)' })
        .option('whiteout-format', { choices: ['kernel', 'oci'], describe: 'force the format of new whiteouts (default: kernel when privileged)' })
        .option('ready-fd', { type: 'number', hidden: true }) as never,
    handler: async (args) => {
      try {
        const parsed = collectOptions(args);
        const stack = validateStack(parsed);
        const mnt = checkMountpoint(stack, (args.mountpoint ?? args.source)!);
        const volumes = (args.volume ?? []).map(parseVolumeArg);
        for (const v of volumes) {
          if (v.hostDir === mnt || v.hostDir.startsWith(mnt + '/') || mnt.startsWith(v.hostDir + '/')) {
            throw new OptionError(`volume ${v.hostDir} overlaps the mountpoint ${mnt}`);
          }
        }
        setCode(args.foreground ? await foreground(args, stack, parsed, mnt, volumes) : await background(args, stack, parsed, mnt, deps));
      } catch (err) {
        if (!(err instanceof LayerConfigError || err instanceof OptionError)) throw err;
        if (args['ready-fd'] !== undefined) tell(args['ready-fd'], `error ${err.message}`);
        deps.err(`layerfs: ${err.message}`);
        setCode(1);
      }
    },
  };
}

function tell(fd: number, message: string): void {
  try {
    writeSync(fd, message + '\n');
    closeSync(fd);
  } catch {
    /* the parent went away: nothing to tell */
  }
}

async function foreground(args: MountArgs, stack: LayerStack, parsed: ParsedOptions, mnt: string, volumes: Volume[]): Promise<number> {
  const log = createLogger(args['log-level']);
  let daemon: Daemon;
  try {
    daemon = new Daemon({
      stack, mountpoint: mnt, fuseFlags: parsed.fuse, log, volumes, volatile: parsed.volatile,
      trace: args.trace as 'text' | 'json' | undefined, format: args['whiteout-format'],
    });
  } catch (err) {
    throw new LayerConfigError(`cannot mount ${mnt}: ${(err as Error).message}`);
  }
  for (const opt of parsed.ignored) log.warn({ op: 'mount', option: opt }, 'option accepted and ignored');
  try {
    await daemon.mount();
  } catch (err) {
    throw new LayerConfigError(`cannot mount ${mnt}: ${(err as Error).message}`);
  }
  writeState({
    pid: process.pid, mountpoint: mnt, log: statePaths(mnt).log, lowers: stack.lowers, upper: stack.upper,
    work: stack.work, volumes, format: daemon.ovl.ctx.format, started: new Date().toISOString(),
  });
  if (args['ready-fd'] !== undefined) tell(args['ready-fd'], 'ok');
  const onSignal = (): void => {
    daemon.unmount().catch((err: Error) => log.error({ op: 'umount', path: mnt, err }, `cannot unmount: ${err.message}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', () => undefined);
  await daemon.done;
  removeState(mnt);
  return 0;
}

/** Starts the daemon detached and waits for it to say the mount answers (or why not). */
async function background(args: MountArgs, stack: LayerStack, parsed: ParsedOptions, mnt: string, deps: CliDeps): Promise<number> {
  // A fresh log per mount, so `layerfs events` shows this mount's changes only.
  const logFd = openSync(statePaths(mnt).log, 'w');
  const childArgs = [process.argv[1]!, 'mount', '--foreground', '--ready-fd', '3', '--log-level', args['log-level']];
  for (const l of stack.lowers) childArgs.push('--lower', l);
  if (stack.upper !== undefined) childArgs.push('--upper', stack.upper, '--work', stack.work!);
  const childOpts = [...parsed.fuse, ...(parsed.volatile ? ['volatile'] : []), ...(parsed.redirectDir !== undefined ? [`redirect_dir=${parsed.redirectDir}`] : [])];
  if (childOpts.length > 0) childArgs.push('-o', childOpts.join(','));
  if (args.trace !== undefined) childArgs.push('--trace', args.trace);
  if (args['whiteout-format'] !== undefined) childArgs.push('--whiteout-format', args['whiteout-format']);
  for (const v of args.volume ?? []) childArgs.push('--volume', v);
  childArgs.push(mnt);
  const child = spawn(process.execPath, childArgs, { detached: true, stdio: ['ignore', logFd, logFd, 'pipe'] });
  closeSync(logFd);
  let said = '';
  child.stdio[3]!.on('data', (d: Buffer) => (said += d.toString()));
  await new Promise<void>((res) => child.stdio[3]!.on('close', () => res()));
  if (said.startsWith('ok')) {
    child.unref();
    (child.stdio[3] as { unref?: () => void }).unref?.();
    return 0;
  }
  const reason = said.startsWith('error ') ? said.slice(6).trim() : `the daemon exited before mounting (see ${statePaths(mnt).log})`;
  deps.err(`layerfs: ${reason}`);
  removeState(mnt);
  return 1;
}
