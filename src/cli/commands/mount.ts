// layerfs mount: the overlay syntax of mount -t overlay, or --lower/--upper/--work. In the
// background by default: a daemon process is started once everything is checked, and the command
// returns when the daemon writes "ok" (or why not) on the pipe it was given. --foreground is the
// daemon itself.
import { spawn } from 'node:child_process';
import { closeSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';
import { assertNotInLayers, LayerConfigError, validateStack, type LayerStack } from '../../overlay/layers';
import * as host from '../../host/fs';
import { OptionError, parseMountOptions, type ParsedOptions } from '../../daemon/mount-options';
import { fusermount, listMounts, mountAt } from '../../daemon/mounts';
import { heldBy } from '../../daemon/holders';
import type { LogLevel } from '../../daemon/logger';
import { openLog, removeState, runDir, runningMounts, statePaths, writeState } from '../../daemon/runtime';
import type { Volume } from '../../overlay/volumes';
import { CommandError, UsageError, type CliDeps } from '../deps';
import type { Args } from '../spec';

interface MountArgs {
  mountpoint: string;
  o?: string[];
  lower?: string[];
  upper?: string;
  work?: string;
  foreground?: boolean;
  'log-level': LogLevel;
  trace?: 'text' | 'json';
  'whiteout-format'?: 'kernel' | 'oci';
  volume?: string[];
  'ready-fd'?: number;
}

/** Everything a mount needs, checked. */
interface Plan {
  stack: LayerStack;
  parsed: ParsedOptions;
  mnt: string;
  volumes: Volume[];
}

/** Merges -o options with the friendly flags; a layer given both ways is an error. */
function collectOptions(args: MountArgs): ParsedOptions {
  const parsed = parseMountOptions(args.o ?? []);
  if (args.lower !== undefined && parsed.lowers.length > 0) throw new UsageError('lower layers are given both as lowerdir= and --lower');
  if (args.lower !== undefined) parsed.lowers = args.lower;
  for (const key of ['upper', 'work'] as const) {
    if (args[key] === undefined) continue;
    if (parsed[key] !== undefined) throw new UsageError(`${key}dir is given both as ${key}dir= and --${key}`);
    parsed[key] = args[key];
  }
  return parsed;
}

function volumeOf(spec: string, mnt: string): Volume {
  // Loaded for volumes only: a plain mount starts without the overlay's volume code.
  const { parseVolume } = require('../../overlay/volumes') as typeof import('../../overlay/volumes');
  let v: Volume;
  try {
    v = parseVolume(spec);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const hostDir = resolve(v.hostDir);
  if (hostDir === mnt || hostDir.startsWith(mnt + '/') || mnt.startsWith(hostDir + '/')) throw new CommandError(`volume ${hostDir} overlaps the mountpoint ${mnt}`);
  return { ...v, hostDir };
}

/** Refuses a mountpoint the way mount(8) would, with a one-line reason. */
function checkMountpoint(stack: LayerStack, mountpoint: string): string {
  const mnt = resolve(mountpoint);
  const st = host.lstat(mnt);
  if (st === undefined) throw new LayerConfigError(`mountpoint ${mnt} does not exist`);
  if (!host.isDir(st)) throw new LayerConfigError(`mountpoint ${mnt} is not a directory`);
  if (mountAt(mnt) !== undefined) throw new LayerConfigError(`mountpoint ${mnt} is busy: something is mounted there`);
  assertNotInLayers(stack, mnt);
  assertNotInUse(stack);
  return mnt;
}

/**
 * Two overlays writing one upper would corrupt it; the kernel answers EBUSY. layerfs refuses an
 * upper or workdir that a running layerfs daemon or a kernel overlay mount already uses.
 */
function assertNotInUse(stack: LayerStack): void {
  if (stack.upper === undefined) return;
  for (const s of runningMounts()) {
    if (s.upper === stack.upper || s.work === stack.work) {
      throw new LayerConfigError(`upperdir/workdir ${s.upper === stack.upper ? stack.upper : stack.work} is in use by the layerfs mount at ${s.mountpoint}`);
    }
  }
  for (const m of listMounts().filter((m) => m.fstype === 'overlay')) {
    for (const dir of [stack.upper, stack.work]) {
      if (m.options.split(',').some((o) => o === `upperdir=${dir}` || o === `workdir=${dir}`)) {
        throw new LayerConfigError(`${dir} is in use by the kernel overlay mounted at ${m.mountpoint}`);
      }
    }
  }
}

/** Checks the whole request before anything is started or written. */
function plan(args: MountArgs): Plan {
  let parsed: ParsedOptions;
  try {
    parsed = collectOptions(args);
  } catch (err) {
    throw err instanceof OptionError ? new UsageError(err.message) : err;
  }
  if (parsed.lowers.length === 0) throw new UsageError('mount needs its layers (--lower DIR or -o lowerdir=DIR[:DIR...]) and a MOUNTPOINT, or a CONTAINER and a MOUNTPOINT');
  const stack = validateStack(parsed);
  const mnt = checkMountpoint(stack, args.mountpoint);
  const volumes = (args.volume ?? []).map((v) => volumeOf(v, mnt));
  runDir();
  return { stack, parsed, mnt, volumes };
}

export async function mount(a: Args, deps: CliDeps): Promise<number> {
  const args = a as unknown as MountArgs;
  try {
    const p = plan(args);
    return args.foreground ? await foreground(args, p, deps) : await background(args, p, deps);
  } catch (err) {
    if (args['ready-fd'] !== undefined) tell(args['ready-fd'], `error ${(err as Error).message}`);
    throw err;
  }
}

function tell(fd: number, message: string): void {
  try {
    writeSync(fd, message + '\n');
    closeSync(fd);
  } catch {
    /* the parent went away: nothing to tell */
  }
}

/**
 * Serves the mount until it is unmounted. A first SIGINT/SIGTERM unmounts; when the mount is busy
 * it says who holds it and unmounts as soon as they let go; a second one detaches it lazily.
 */
async function foreground(args: MountArgs, { stack, parsed, mnt, volumes }: Plan, deps: CliDeps): Promise<number> {
  const { Daemon } = require('../../daemon/daemon') as typeof import('../../daemon/daemon');
  const { createLogger } = require('../../daemon/logger') as typeof import('../../daemon/logger');
  const log = createLogger(args['log-level']);
  const fail = (err: unknown): Error => new Error(`cannot mount ${mnt}: ${(err as Error).message}`);
  let daemon: InstanceType<typeof Daemon>;
  try {
    daemon = new Daemon({ stack, mountpoint: mnt, fuseFlags: parsed.fuse, log, volumes, volatile: parsed.volatile, trace: args.trace, format: args['whiteout-format'] });
    for (const opt of parsed.ignored) log.warn({ op: 'mount', option: opt }, 'option accepted and ignored');
    await daemon.mount();
  } catch (err) {
    throw fail(err);
  }
  writeState({
    pid: process.pid, mountpoint: mnt, log: statePaths(mnt).log, lowers: stack.lowers, upper: stack.upper, work: stack.work,
    volumes, format: daemon.ovl.ctx.format, trace: args.trace, started: new Date().toISOString(),
  });
  if (args['ready-fd'] !== undefined) tell(args['ready-fd'], 'ok');
  let retry: NodeJS.Timeout | undefined;
  const onSignal = (): void => {
    if (retry !== undefined) {
      clearInterval(retry);
      fusermount(mnt, true).then(() => daemon.unmount(), (err: Error) => deps.err(`layerfs: cannot detach ${mnt}: ${err.message}`));
      return;
    }
    daemon.unmount().catch((err: Error) => {
      const who = heldBy(mnt);
      deps.err(`layerfs: ${mnt} is busy (${who ? `held by ${who}` : err.message}): unmounting when it is let go; Ctrl-C again detaches it now`);
      retry = setInterval(() => daemon.unmount().then(() => clearInterval(retry), () => undefined), 200);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', () => undefined);
  await daemon.done;
  if (retry !== undefined) clearInterval(retry);
  removeState(mnt);
  return 0;
}

/** Starts the daemon detached and waits for it to say the mount answers (or why not). */
async function background(args: MountArgs, { stack, parsed, mnt }: Plan, deps: CliDeps): Promise<number> {
  const logFd = openLog(mnt);
  // `--opt=value` and `--` keep values that start with a dash from being read as options.
  const childArgs = [process.argv[1]!, 'mount', '--foreground', '--ready-fd=3', `--log-level=${args['log-level']}`];
  for (const l of stack.lowers) childArgs.push(`--lower=${l}`);
  if (stack.upper !== undefined) childArgs.push(`--upper=${stack.upper}`, `--work=${stack.work!}`);
  const childOpts = [...parsed.fuse, ...(parsed.volatile ? ['volatile'] : []), ...(parsed.redirectDir !== undefined ? [`redirect_dir=${parsed.redirectDir}`] : [])];
  if (childOpts.length > 0) childArgs.push('-o', childOpts.join(','));
  if (args.trace !== undefined) childArgs.push(`--trace=${args.trace}`);
  if (args['whiteout-format'] !== undefined) childArgs.push(`--whiteout-format=${args['whiteout-format']}`);
  for (const v of args.volume ?? []) childArgs.push(`--volume=${v}`);
  childArgs.push('--', mnt);
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
