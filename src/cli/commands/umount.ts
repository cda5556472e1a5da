// layerfs umount: works on a live mount and on a dead one ("Transport endpoint is not
// connected"); a busy mount is refused with the processes holding it, unless --lazy.
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CommandModule } from 'yargs';
import { FSTYPE, fusermount } from '../../daemon/daemon';
import { mountAt } from '../../daemon/mounts';
import { holdersOf } from '../../daemon/holders';
import { isDaemonRunning, readState, removeState } from '../../daemon/runtime';
import type { CliDeps } from '../cli';

interface UmountArgs {
  mountpoint: string;
  lazy?: boolean;
}

const EXIT_WAIT_MS = 10_000;

export function umountCommand(deps: CliDeps, setCode: (c: number) => void): CommandModule<object, UmountArgs> {
  return {
    command: 'umount <mountpoint>',
    describe: 'unmount a layerfs mount and stop its daemon',
    builder: (y) =>
      y
        .positional('mountpoint', { type: 'string', demandOption: true })
        .option('lazy', { alias: 'l', type: 'boolean', describe: 'detach now even if busy; finish when no longer used' }) as never,
    handler: async (args) => setCode(await umount(resolve(args.mountpoint), args.lazy === true, deps)),
  };
}

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
    const holders = holdersOf(mnt);
    const who = holders.map((h) => `${h.command} (pid ${h.pid}, ${h.what})`).join(', ');
    deps.err(`layerfs: cannot unmount ${mnt}: ${(err as Error).message}${who ? `; held by ${who}` : ''} (--lazy detaches anyway)`);
    return 1;
  }
  // Tell the daemon its mount is gone (it would notice within a second anyway), and wait for it
  // so that a new mount can reuse upper/work at once.
  if (state !== undefined && isDaemonRunning(state)) {
    process.kill(state.pid, 'SIGTERM');
    const until = Date.now() + EXIT_WAIT_MS;
    while (isDaemonRunning(state) && Date.now() < until) await sleep(50);
  }
  removeState(mnt);
  return 0;
}
