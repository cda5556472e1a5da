// Where running daemons leave their pid, log and state: one JSON file per mountpoint under the
// run directory ($LAYERFS_RUN_DIR, else /run/layerfs for root, else $XDG_RUNTIME_DIR/layerfs).
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

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
  started: string;
}

export function runDir(): string {
  if (process.env.LAYERFS_RUN_DIR) return process.env.LAYERFS_RUN_DIR;
  if (process.getuid?.() === 0) return '/run/layerfs';
  return join(process.env.XDG_RUNTIME_DIR ?? tmpdir(), 'layerfs');
}

const idOf = (mountpoint: string): string => createHash('sha256').update(mountpoint).digest('hex').slice(0, 16);

export function statePaths(mountpoint: string): { state: string; log: string } {
  const dir = join(runDir(), 'mounts');
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const id = idOf(mountpoint);
  return { state: join(dir, `${id}.json`), log: join(dir, `${id}.log`) };
}

export function writeState(s: MountState): void {
  const { state } = statePaths(s.mountpoint);
  writeFileSync(state + '.tmp', JSON.stringify(s, null, 2) + '\n');
  renameSync(state + '.tmp', state);
}

export function readState(mountpoint: string): MountState | undefined {
  try {
    return JSON.parse(readFileSync(statePaths(mountpoint).state, 'utf8')) as MountState;
  } catch {
    return undefined;
  }
}

/** The states of every mount whose daemon is still running. */
export function runningMounts(): MountState[] {
  const dir = join(runDir(), 'mounts');
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  } catch {
    return [];
  }
  const states: MountState[] = [];
  for (const f of files) {
    try {
      const s = JSON.parse(readFileSync(join(dir, f), 'utf8')) as MountState;
      if (isDaemonRunning(s)) states.push(s);
    } catch {
      /* being written or removed: not a running mount */
    }
  }
  return states;
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
 * The daemon of this state is still running: its pid runs that mount (pids get reused). A
 * zombie has an empty command line, so it does not count (not every init reaps orphans at once).
 */
export function isDaemonRunning(s: MountState): boolean {
  try {
    const argv = readFileSync(`/proc/${s.pid}/cmdline`, 'utf8').split('\0');
    return argv.includes('mount') && argv.includes(s.mountpoint);
  } catch {
    return false;
  }
}
