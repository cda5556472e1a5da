// Which processes keep a mount busy (cwd, root or an open file below it), read from /proc
// without touching the mount: what `layerfs umount` reports instead of a bare EBUSY.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export interface Holder {
  pid: number;
  command: string;
  what: string;
}

const below = (p: string, mnt: string): boolean => p === mnt || p.startsWith(mnt + '/');

function links(pid: string): [string, string][] {
  const out: [string, string][] = [];
  for (const what of ['cwd', 'root']) {
    try {
      out.push([what, readlinkSync(`/proc/${pid}/${what}`)]);
    } catch {
      /* the process is gone or not ours to read */
    }
  }
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        out.push([`fd ${fd}`, readlinkSync(`/proc/${pid}/fd/${fd}`)]);
      } catch {
        /* closed meanwhile */
      }
    }
  } catch {
    /* not readable */
  }
  return out;
}

export function holdersOf(mountpoint: string): Holder[] {
  const holders: Holder[] = [];
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n) && Number(n) !== process.pid)) {
    const hit = links(pid).find(([, target]) => below(target, mountpoint));
    if (hit === undefined) continue;
    let command = '?';
    try {
      command = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    } catch {
      /* gone */
    }
    holders.push({ pid: Number(pid), command, what: hit[0] });
  }
  return holders;
}

/** "bash (pid 7526, cwd), vim (pid 7601, fd 3)", or '' when nobody holds it. */
export const heldBy = (mountpoint: string): string => holdersOf(mountpoint).map((h) => `${h.command} (pid ${h.pid}, ${h.what})`).join(', ');
