// Sizes like `docker ps -s` and `docker images`: the apparent size of everything that is not a
// directory, each inode counted once (hard links), as containers-storage's directory.Size does.
import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** Bytes under a directory tree; `seen` lets several trees share the hard-link accounting. */
export function treeSize(root: string, seen: Set<string> = new Set()): number {
  let total = 0;
  const walk = (dir: string): void => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      const p = join(dir, name);
      let st;
      try {
        st = lstatSync(p, { bigint: false });
      } catch {
        continue;
      }
      if (st.isDirectory()) {
        walk(p);
        continue;
      }
      if (st.size === 0) continue;
      const key = `${st.dev}:${st.ino}`;
      if (seen.has(key)) continue;
      seen.add(key);
      total += st.size;
    }
  };
  walk(root);
  return total;
}

/** Docker's units.HumanSize: decimal units, 4 significant digits, no trailing zeros ("72.9MB", "52B"). */
export function humanSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB'];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${Number(v.toPrecision(4))}${units[i]}`;
}
