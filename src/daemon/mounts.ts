// What the kernel says is mounted (/proc/self/mountinfo), read without touching the mounts
// themselves: a stat of a dead FUSE mount hangs or fails, and the daemon must never stat its own.
// Also how a mount is undone, without loading the FUSE engine.
import { readFileSync } from 'node:fs';

export const FSTYPE = 'fuse.layerfs';

export interface MountInfo {
  mountpoint: string;
  fstype: string;
  source: string;
  /** The filesystem's own options (for overlay: lowerdir=...,upperdir=...,workdir=...). */
  options: string;
}

const unescapeOctal = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

export function listMounts(): MountInfo[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((line) => {
      const [pre, post = ''] = line.split(' - ');
      const fields = pre!.split(' ');
      const [fstype = '', source = '', options = ''] = post.split(' ');
      return { mountpoint: unescapeOctal(fields[4] ?? ''), fstype, source: unescapeOctal(source), options: unescapeOctal(options) };
    });
}

/** The mount at exactly this path (the last one, if stacked), or undefined. */
export function mountAt(path: string): MountInfo | undefined {
  return listMounts()
    .filter((m) => m.mountpoint === path)
    .pop();
}

/** fusermount -u (lazy with -z): the unmount that works for root and for users alike. */
export function fusermount(mountpoint: string, lazy: boolean): Promise<void> {
  const { execFile } = require('node:child_process') as typeof import('node:child_process');
  return new Promise((res, rej) => {
    execFile('fusermount', lazy ? ['-u', '-z', mountpoint] : ['-u', mountpoint], (err, _out, stderr) => {
      if (err) rej(new Error(stderr.trim().replace(/^fusermount: /, '') || err.message));
      else res();
    });
  });
}
