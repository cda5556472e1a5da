// Merged directory listing (≈ fs/overlayfs/readdir.c): the union of the names of every layer in
// the directory's merge, upper first, without duplicates, without whiteouts or the names they
// hide, and never showing a marker itself.
import { join } from 'node:path';
import * as host from '../host/fs';
import { Kind } from './lower-index';
import { UPPER } from './layers';
import { hiddenByMarker, isMarkerName, isWhiteout } from './whiteout';
import type { Namei } from './namei';
import type { LayerStack } from './layers';

/** The names of a merged directory, sorted (without '.' and '..'). */
export function readdirMerged(stack: LayerStack, namei: Namei, path: string): string[] {
  const dir = namei.dir(path);
  const seen = new Set<string>();
  const hidden = new Set<string>();
  if (dir.upper) {
    const hostPath = stack.hostPath(UPPER, path);
    for (const e of host.readdir(hostPath)) {
      if (isMarkerName(e.name)) {
        const name = hiddenByMarker(e.name);
        if (name !== undefined) hidden.add(name);
      } else if (e.isChr && isWhiteoutAt(join(hostPath, e.name))) {
        hidden.add(e.name);
      } else {
        seen.add(e.name);
      }
    }
  }
  for (const layer of dir.lowers) {
    for (const [name, kind] of namei.lower.dir(layer, path).names) {
      if (seen.has(name) || hidden.has(name)) continue;
      if (kind === Kind.Whiteout) hidden.add(name);
      else seen.add(name);
    }
  }
  return [...seen].sort();
}

function isWhiteoutAt(hostPath: string): boolean {
  const st = host.lstat(hostPath);
  return st !== undefined && isWhiteout(st);
}

/** True when the merged directory has no entry at all (rmdir's test). */
export const isEmptyMerged = (stack: LayerStack, namei: Namei, path: string): boolean =>
  readdirMerged(stack, namei, path).length === 0;
