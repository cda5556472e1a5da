// Where running daemons leave their pid, log and state: one JSON file per mountpoint under the
// run directory ($LAYERFS_RUN_DIR, else /run/layerfs for root, else $XDG_RUNTIME_DIR/layerfs).
// The directory and its files are the user's alone (0700, 0600, whatever the umask), and a
// record is believed only when its file is ours and its pid is still the layerfs daemon of that
// mountpoint: `umount` signals that pid.
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

export interface MountState {
  pid: number;
  mountpoint: string;
  log: string;
  lowers: string[];
  upper?: string | undefined;
  work?: string | undefined;
  volumes?: { path: string; hostDir: string }[];
  /** The whiteout format the daemon writes. */
  format?: 'kernel' | 'oci';
  /** How changes are recorded in the log for `layerfs events`, when they are. */
  trace?: 'text' | 'json' | undefined;
  started: string;
}

export class RunDirError extends Error {}

const uid = (): number => process.getuid?.() ?? 0;

function chooseRunDir(): string {
  if (process.env.LAYERFS_RUN_DIR) return process.env.LAYERFS_RUN_DIR;
  if (uid() === 0) return '/run/layerfs';
  // Never a shared, predictable path in /tmp: another user could own it first.
  if (!process.env.XDG_RUNTIME_DIR) throw new RunDirError('no runtime directory of your own: XDG_RUNTIME_DIR is not set (set it, or LAYERFS_RUN_DIR, to a directory only you can write)');
  return join(process.env.XDG_RUNTIME_DIR, 'layerfs');
}

let checkedDir: string | undefined;

/** The run directory's mounts/ folder, created owner-only; refused when someone else could write it. */
function mountsDir(): string {
  const dir = join(chooseRunDir(), 'mounts');
  if (checkedDir === dir) return dir;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const d of [dir, join(dir, '..')]) {
    const st = lstatSync(d);
    if (!st.isDirectory() || st.uid !== uid() || (st.mode & 0o022) !== 0) {
      throw new RunDirError(`${d} is not a directory only you can write (owner uid ${st.uid}, mode ${(st.mode & 0o7777).toString(8)}): choose another with LAYERFS_RUN_DIR`);
    }
  }
  checkedDir = dir;
  return dir;
}

/** The run directory, created and checked: a mount calls it before it acts, so a bad one is refused first. */
export function runDir(): string {
  return dirname(mountsDir());
}

const idOf = (mountpoint: string): string => createHash('sha256').update(mountpoint).digest('hex').slice(0, 16);

export function statePaths(mountpoint: string): { state: string; log: string } {
  const dir = mountsDir();
  const id = idOf(mountpoint);
  return { state: join(dir, `${id}.json`), log: join(dir, `${id}.log`) };
}

/** A fresh, owner-only log for a mount (the old one goes: `events` shows this mount's changes only). */
export function openLog(mountpoint: string): number {
  const { log } = statePaths(mountpoint);
  rmSync(log, { force: true });
  return openSync(log, 'wx', 0o600);
}

export function writeState(s: MountState): void {
  const { state } = statePaths(s.mountpoint);
  const tmp = `${state}.tmp`;
  rmSync(tmp, { force: true });
  writeFileSync(tmp, JSON.stringify(s, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
  renameSync(tmp, state);
}

/** A record file we may believe: a plain file of ours that nobody else can write. */
function trusted(file: string): MountState | undefined {
  try {
    const st = lstatSync(file);
    if (!st.isFile() || st.uid !== uid() || (st.mode & 0o022) !== 0) return undefined;
    return JSON.parse(readFileSync(file, 'utf8')) as MountState;
  } catch {
    return undefined;
  }
}

export function readState(mountpoint: string): MountState | undefined {
  const s = trusted(statePaths(mountpoint).state);
  return s?.mountpoint === mountpoint ? s : undefined;
}

/** The states of every mount whose daemon is still running. */
export function runningMounts(): MountState[] {
  const dir = mountsDir();
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => trusted(join(dir, f)))
    .filter((s): s is MountState => s !== undefined && isDaemonRunning(s));
}

/** Forgets a mount. Its log goes too when empty; one with warnings, errors or a trace stays to be read. */
export function removeState(mountpoint: string): void {
  const { state, log } = statePaths(mountpoint);
  rmSync(state, { force: true });
  try {
    if (statSync(log).size === 0) rmSync(log, { force: true });
  } catch {
    /* no log */
  }
}

/**
 * The pid of this state is still its daemon: a process of ours running `layerfs mount
 * --foreground` with this mountpoint among its arguments (pids get reused). A zombie has an empty
 * command line, so it does not count (not every init reaps orphans at once).
 */
export function isDaemonRunning(s: MountState): boolean {
  if (!Number.isInteger(s.pid) || s.pid <= 0) return false;
  try {
    const argv = readFileSync(`/proc/${s.pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
    const owner = /^Uid:\s+\d+\s+(\d+)/m.exec(readFileSync(`/proc/${s.pid}/status`, 'utf8'))?.[1];
    const cwd = readlinkSync(`/proc/${s.pid}/cwd`);
    const script = basename(argv[1] ?? '');
    return (script === 'main.js' || script === 'layerfs') && argv.includes('--foreground') && Number(owner) === uid()
      && argv.slice(2).some((a) => resolve(cwd, a) === s.mountpoint);
  } catch {
    return false;
  }
}
