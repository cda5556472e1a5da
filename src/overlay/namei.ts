// Lookup through the layers (≈ fs/overlayfs/namei.c). A path resolves top-down: upper, then the
// lowers in which its parent directory is merged; a whiteout ends the search, a non-directory is
// the answer, a directory merges with the same directory below until an opaque one.
import * as host from '../host/fs';
import type { Stat } from '../host/fs';
import { FsError } from '../host/errors';
import { hasMarker, isOpaqueDir, isWhiteout, type WhiteoutFormat } from './whiteout';
import { LowerIndex, WHITEOUT } from './lower-index';
import { UPPER, type LayerStack } from './layers';

/** A directory of the merged tree: where it exists and which lower copies merge into it. */
export class DirNode {
  readonly children = new Map<string, DirNode>();

  constructor(
    readonly path: string,
    /** The directory exists in upper. */
    readonly upper: boolean,
    /** Lower layers whose copy of this directory is part of the merge, top-down. */
    readonly lowers: number[],
  ) {}

  /** overlayfs "merge" type: the directory has copies in more than one layer. */
  get merged(): boolean {
    return (this.upper ? 1 : 0) + this.lowers.length > 1;
  }
}

export interface Entry {
  path: string;
  /** Layer of the top-most object (UPPER = 0). */
  layer: number;
  hostPath: string;
  stat: Stat;
  /** A lower layer also holds this name (so removing it needs a whiteout). */
  lowerBelow: boolean;
}

export const parentOf = (path: string): string => {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
};
export const baseName = (path: string): string => path.slice(path.lastIndexOf('/') + 1);
export const childPath = (dir: string, name: string): string => (dir === '/' ? `/${name}` : `${dir}/${name}`);

/** Told which layer answered each lookup (the debug log); absent when nobody listens. */
export type ResolveHook = (path: string, layer: string) => void;

export class Namei {
  readonly lower: LowerIndex;
  private root: DirNode | undefined;

  constructor(
    private readonly stack: LayerStack,
    /** The whiteout format the mount writes: which opaque marks count in upper. */
    private readonly format: WhiteoutFormat = 'kernel',
    private readonly onResolve?: ResolveHook,
  ) {
    this.lower = new LowerIndex(stack);
  }

  /** Resolves a path; undefined when it does not exist in the merged view. Throws ENOTDIR/EACCES from the walk. */
  lookup(path: string): Entry | undefined {
    const entry = path === '/' ? this.rootEntry() : this.child(this.dir(parentOf(path)), baseName(path));
    if (this.onResolve !== undefined) this.onResolve(path, entry === undefined ? 'none' : this.stack.label(entry.layer));
    return entry;
  }

  mustLookup(path: string): Entry {
    const e = this.lookup(path);
    if (e === undefined) throw new FsError('ENOENT', path);
    return e;
  }

  /** The merged directory at path; throws ENOENT or ENOTDIR. */
  dir(path: string): DirNode {
    let node = this.rootNode();
    if (path === '/') return node;
    let start = 1;
    while (start <= path.length) {
      let end = path.indexOf('/', start);
      if (end < 0) end = path.length;
      const name = path.slice(start, end);
      let next = node.children.get(name);
      if (next === undefined) {
        next = this.buildChild(node, name);
        node.children.set(name, next);
      }
      node = next;
      start = end + 1;
    }
    return node;
  }

  /** Forgets what is cached about a directory path (after anything changed it in upper). */
  invalidate(path: string): void {
    if (path === '/') {
      this.root = undefined;
      return;
    }
    const parent = this.cachedDir(parentOf(path));
    parent?.children.delete(baseName(path));
  }

  /** Resolves `name` in a merged directory. */
  child(dir: DirNode, name: string): Entry | undefined {
    const path = childPath(dir.path, name);
    const low = this.lowerTop(dir, name);
    if (dir.upper) {
      const hostPath = this.stack.hostPath(UPPER, path);
      const st = host.lstat(hostPath);
      if (st !== undefined) {
        if (isWhiteout(st)) return undefined;
        return { path, layer: UPPER, hostPath, stat: st, lowerBelow: low !== undefined };
      }
      if (low !== undefined && hasMarker(this.stack.hostPath(UPPER, dir.path), name)) return undefined;
    }
    if (low === undefined) return undefined;
    const hostPath = this.stack.hostPath(low, path);
    const stat = host.lstat(hostPath);
    if (stat === undefined) return undefined;
    return { path, layer: low, hostPath, stat, lowerBelow: true };
  }

  /** lstat of the copy of `path` in a lower layer. */
  lowerStat(layer: number, path: string): Stat | undefined {
    return host.lstat(this.stack.hostPath(layer, path));
  }

  /** The top-most lower layer where `name` is visible in dir, ignoring upper; undefined if none. */
  lowerTop(dir: DirNode, name: string): number | undefined {
    for (const layer of dir.lowers) {
      const kind = this.lower.dir(layer, dir.path).names.get(name);
      if (kind === undefined) continue;
      return kind === WHITEOUT ? undefined : layer;
    }
    return undefined;
  }

  /** Every lower layer holding `path` in its parent's merge, top-down, down to the first whiteout. */
  lowerCopies(path: string): number[] {
    const dir = this.dir(parentOf(path));
    const name = baseName(path);
    const layers: number[] = [];
    for (const layer of dir.lowers) {
      const kind = this.lower.dir(layer, dir.path).names.get(name);
      if (kind === WHITEOUT) break;
      if (kind !== undefined) layers.push(layer);
    }
    return layers;
  }

  private rootEntry(): Entry {
    const layer = this.stack.writable ? UPPER : 1;
    const hostPath = this.stack.roots[layer]!;
    return { path: '/', layer, hostPath, stat: host.mustLstat(hostPath), lowerBelow: true };
  }

  /** overlayfs ignores opaque marks on layer roots: the root always merges every layer. */
  private rootNode(): DirNode {
    if (this.root === undefined) {
      const lowers = Array.from({ length: this.stack.count - 1 }, (_, i) => i + 1);
      this.root = new DirNode('/', this.stack.writable, lowers);
    }
    return this.root;
  }

  private cachedDir(path: string): DirNode | undefined {
    let node = this.root;
    if (path === '/' || node === undefined) return node;
    for (const name of path.slice(1).split('/')) {
      node = node.children.get(name);
      if (node === undefined) return undefined;
    }
    return node;
  }

  private buildChild(parent: DirNode, name: string): DirNode {
    const path = childPath(parent.path, name);
    const entry = this.child(parent, name);
    if (entry === undefined) throw new FsError('ENOENT', path);
    if (!host.isDir(entry.stat)) throw new FsError('ENOTDIR', path);
    const upper = entry.layer === UPPER;
    const lowers: number[] = [];
    if (!(upper && isOpaqueDir(entry.hostPath, this.format))) {
      for (const layer of parent.lowers) {
        const kind = this.lower.dir(layer, parent.path).names.get(name);
        if (kind === undefined) continue;
        // overlayfs: a whiteout or a non-directory below ends the merge.
        if (kind !== host.DT.DIR) break;
        lowers.push(layer);
        if (this.lower.dir(layer, path).opaque) break;
      }
    }
    return new DirNode(path, upper, lowers);
  }
}
