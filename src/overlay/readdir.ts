// Merged directory listing (≈ fs/overlayfs/readdir.c): the union of the names of every layer in
// the directory's merge, upper first, without duplicates, without whiteouts or the names they
// hide, and never showing a marker itself.
import { join } from 'node:path';
import * as host from '../host/fs';
import { WHITEOUT } from './lower-index';
import { UPPER } from './layers';
import { hiddenByMarker, isMarkerName, isWhiteout } from './whiteout';
import { childPath, type Namei } from './namei';
import { errorCode } from '../host/errors';
import type { LayerStack } from './layers';

/** The entries of a merged directory, sorted by name (without '.' and '..'), each with its d_type. */
export function readdirMerged(stack: LayerStack, namei: Namei, path: string): host.DirEntry[] {
  const dir = namei.dir(path);
  const seen = new Map<string, number>();
  const hidden = new Set<string>();
  const upperNames = new Set<string>();
  if (dir.upper) {
    const hostPath = stack.hostPath(UPPER, path);
    for (const e of host.readdir(hostPath)) {
      if (isMarkerName(e.name)) {
        const name = hiddenByMarker(e.name);
        if (name !== undefined) hidden.add(name);
      } else if (e.type === host.DT.CHR && isWhiteoutAt(join(hostPath, e.name))) {
        hidden.add(e.name);
      } else {
        seen.set(e.name, e.type);
        upperNames.add(e.name);
      }
    }
  }
  for (const [i, layer] of dir.lowers.entries()) {
    for (const [name, kind] of namei.lower.dir(layer, dir.lowerPaths[i]!).names) {
      if (seen.has(name) || hidden.has(name)) continue;
      if (kind === WHITEOUT) hidden.add(name);
      else seen.set(name, kind);
    }
  }
  const entries = [...seen].map(([name, type]) => ({ name, type })).sort(host.byName);
  // The kernel looks up the upper entries of a merged directory for their inode numbers and
  // leaves out those it fails to look up: with redirect_dir=nofollow, the upper directories
  // whose redirects it refuses (EPERM). Lower entries keep their own numbers and are listed.
  if (namei.follows || !dir.merged) return entries;
  return entries.filter((e) => e.type !== host.DT.DIR || !upperNames.has(e.name) || !refused(namei, childPath(path, e.name)));
}

function refused(namei: Namei, path: string): boolean {
  try {
    namei.dir(path);
    return false;
  } catch (err) {
    return errorCode(err) === 'EPERM';
  }
}

function isWhiteoutAt(hostPath: string): boolean {
  const st = host.lstat(hostPath);
  return st !== undefined && isWhiteout(st);
}

/** True when the merged directory has no entry at all (rmdir's test). */
export const isEmptyMerged = (stack: LayerStack, namei: Namei, path: string): boolean =>
  readdirMerged(stack, namei, path).length === 0;
