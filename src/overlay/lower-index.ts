// Cached listings of lower-layer directories. Lower layers are read-only for the life of a mount
// (changing them underneath is undefined, as on the kernel), so each lower directory is read once
// and later lookups in it cost no syscall: this is what keeps lookup flat from 1 to 500 layers.
// Only names are kept: an lstat costs a few µs against a FUSE request's 40–80, and keeping every
// entry's attributes made the daemon's memory grow with the size of the tree browsed.
import { join } from 'node:path';
import * as host from '../host/fs';
import { hasOpaqueXattr, hiddenByMarker, isWhiteout, OCI_OPAQUE } from './whiteout';
import type { LayerStack } from './layers';

/** What a layer's listing says of a name: its d_type (host.DT), or WHITEOUT. */
export type Kind = number;
export const WHITEOUT: Kind = 0x100;

export interface DirIndex {
  /** Names of this directory in this layer; whiteouts (either format) as WHITEOUT. */
  readonly names: Map<string, Kind>;
  /** This directory hides the same directory in the layers below. */
  readonly opaque: boolean;
}

const EMPTY: DirIndex = { names: new Map(), opaque: false };

export class LowerIndex {
  private readonly dirs: Map<string, DirIndex>[];

  constructor(private readonly stack: LayerStack) {
    this.dirs = stack.roots.map(() => new Map());
  }

  /** The listing of directory `path` in lower layer `layer` (empty when it is not a directory there). */
  dir(layer: number, path: string): DirIndex {
    const cache = this.dirs[layer]!;
    let idx = cache.get(path);
    if (idx === undefined) {
      idx = this.read(this.stack.hostPath(layer, path));
      cache.set(path, idx);
    }
    return idx;
  }

  private read(hostPath: string): DirIndex {
    let entries: host.DirEntry[];
    try {
      entries = host.readdir(hostPath);
    } catch {
      return EMPTY;
    }
    const names = new Map<string, Kind>();
    let opaque = false;
    for (const e of entries) {
      if (e.name === OCI_OPAQUE) {
        opaque = true;
        continue;
      }
      const hidden = hiddenByMarker(e.name);
      if (hidden !== undefined) {
        if (!names.has(hidden)) names.set(hidden, WHITEOUT);
        continue;
      }
      if (e.type === host.DT.CHR) {
        const st = host.lstat(join(hostPath, e.name));
        if (st !== undefined && isWhiteout(st)) {
          names.set(e.name, WHITEOUT);
          continue;
        }
      }
      names.set(e.name, e.type);
    }
    return { names, opaque: opaque || hasOpaqueXattr(hostPath) };
  }
}
