// layerfs umount: works on a live mount and on a dead one ("Transport endpoint is not
// connected"); a busy mount is refused with the processes holding it, unless --lazy.
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FSTYPE, fusermount, mountAt } from '../../daemon/mounts';
import { heldBy } from '../../daemon/holders';
import { isDaemonRunning, readState, removeState } from '../../daemon/runtime';
import type { CliDeps } from '../deps';
import type { Args } from '../spec';

const EXIT_WAIT_MS = 10_000;

export const run = (a: Args, deps: CliDeps): Promise<number> => umount(resolve(a.mountpoint as string), a.lazy === true, deps);

export async function umount(mnt: string, lazy: boolean, deps: CliDeps): Promise<number> {
  const mounted = mountAt(mnt);
  const state = readState(mnt);
  if (mounted === undefined) {
    removeState(mnt);
    deps.err(`layerfs: ${mnt} is not mounted`);
    return 1;
  }
  if (mounted.fstype !== FSTYPE) {
    deps.err(`layerfs: ${mnt} is not a layerfs mount (it is ${mounted.fstype})`);
    return 1;
  }
  try {
    await fusermount(mnt, lazy);
  } catch (err) {
    const who = heldBy(mnt);
    deps.err(`layerfs: cannot unmount ${mnt}: ${(err as Error).message}${who ? `; held by ${who}` : ''} (--lazy detaches anyway)`);
    return 1;
  }
  // Tell the daemon its mount is gone, and wait for it so that a new mount can reuse upper/work at once.
  if (state !== undefined && isDaemonRunning(state)) {
    process.kill(state.pid, 'SIGTERM');
    const until = Date.now() + EXIT_WAIT_MS;
    while (isDaemonRunning(state) && Date.now() < until) await sleep(20);
  }
  removeState(mnt);
  return 0;
}
