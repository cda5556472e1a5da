// Lookup through the layers (≈ fs/overlayfs/namei.c). A path resolves top-down: upper, then the
// lowers in which its parent directory is merged; a whiteout ends the search, a non-directory is
// the answer, a directory merges with the same directory below until an opaque one.
import * as host from '../host/fs';
import type { Stat } from '../host/fs';
import { FsError } from '../host/errors';
import { hasMarker, isOpaqueDir, isWhiteout, type WhiteoutFormat } from './whiteout';
import { LowerIndex, WHITEOUT } from './lower-index';
import { UPPER, type LayerStack } from './layers';
import { applyRedirect, readRedirect, type LowerName } from './redirect';

/** A directory of the merged tree: where it exists and which lower copies merge into it. */
export class DirNode {
  readonly children = new Map<string, DirNode>();

  constructor(
    readonly path: string,
    /** The directory exists in upper. */
    readonly upper: boolean,
    /** Lower layers whose copy of this directory is part of the merge, top-down. */
    readonly lowers: number[],
    /** Where each of those copies is in its layer (not `path` below a redirected directory). */
    readonly lowerPaths: string[] = lowers.map(() => path),
    /** The redirect its upper copy carries, if any. */
    readonly redirect?: string,
  ) {}

  /** overlayfs "merge" type: the directory has copies in more than one layer. */
  get merged(): boolean {
    return (this.upper ? 1 : 0) + this.lowers.length > 1;
  }

  /** The path of this directory's copy in a lower layer of its merge. */
  lowerPath(layer: number): string {
    return this.lowerPaths[this.lowers.indexOf(layer)] ?? this.path;
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
    this.follows = stack.redirectDir !== 'nofollow';
  }

  /** Whether redirects are followed (redirect_dir=on or follow). */
  readonly follows: boolean;

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
    const hostPath = this.stack.hostPath(low, childPath(dir.lowerPath(low), name));
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
    for (const [i, layer] of dir.lowers.entries()) {
      const kind = this.lower.dir(layer, dir.lowerPaths[i]!).names.get(name);
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
    for (const [i, layer] of dir.lowers.entries()) {
      const kind = this.lower.dir(layer, dir.lowerPaths[i]!).names.get(name);
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
    const want: LowerName = { name, stop: false, redirected: false };
    let redirect: string | undefined;
    if (upper) {
      if (isOpaqueDir(entry.hostPath, this.format)) return new DirNode(path, true, [], []);
      // Without follow, a directory whose parent merges nothing is the last layer: its redirect is not read.
      redirect = this.follows || parent.lowers.length > 0 ? readRedirect(entry.hostPath) : undefined;
      if (redirect !== undefined) applyRedirect(want, redirect, 0, '');
    }
    const [lowers, paths] = this.mergeLowers(parent, want, path);
    return new DirNode(path, upper, lowers, paths, redirect);
  }

  /**
   * The lower copies that merge into a directory (ovl_lookup's loop): in the parent's lower
   * copies, or from the lower roots once a redirect is absolute; a whiteout, a non-directory or
   * an opaque directory ends the merge, which an absolute redirect below it resumes.
   */
  private mergeLowers(parent: DirNode, want: LowerName, path: string): [number[], string[]] {
    const lowers: number[] = [];
    const paths: string[] = [];
    const bottom = this.stack.count - 1;
    const allLowers = Array.from({ length: bottom }, (_, i) => i + 1);
    let fromRoot = want.name.startsWith('/');
    let layers = fromRoot ? allLowers : parent.lowers;
    for (let i = 0; !want.stop && i < layers.length; i++) {
      const layer = layers[i]!;
      // The bottom layer's (without follow: the last candidate's) marks are never read.
      const last = this.follows ? layer === bottom : i === layers.length - 1;
      const found = fromRoot ? this.walkLayer(layer, want, last) : this.lookupStep(layer, parent.lowerPaths[i]!, want.name, want, last, 0, '');
      if (found === undefined) continue;
      // overlayfs: following a redirect is like a symlink into a lower layer; nofollow refuses it.
      if (want.redirected && !this.follows) throw new FsError('EPERM', path, 'refusing to follow a redirect (redirect_dir=nofollow)');
      lowers.push(layer);
      paths.push(found);
      if (want.stop) break;
      if (want.name.startsWith('/') && !fromRoot) {
        fromRoot = true;
        layers = allLowers;
        i = layer - 1; // go on with the layer below this one, from its root
      }
    }
    return [lowers, paths];
  }

  /** Walks an absolute lower path in one layer, component by component (ovl_lookup_layer). */
  private walkLayer(layer: number, want: LowerName, last: boolean): string | undefined {
    let dir = '/';
    let rem = want.name.length - 1; // counted from the end: a redirect may change the prefix
    for (;;) {
      const start = want.name.length - rem;
      let end = want.name.indexOf('/', start);
      if (end < 0) end = want.name.length;
      const component = want.name.slice(start, end);
      const post = want.name.slice(end);
      const found = this.lookupStep(layer, dir, component, want, last, start, post);
      if (found === undefined || post === '') return found;
      dir = found;
      rem -= component.length + 1;
    }
  }

  /**
   * One name in one lower directory (ovl_lookup_single): the directory's path in the layer,
   * or undefined. A whiteout or a non-directory stops the merge; an opaque directory stops it
   * after itself; a redirect on the directory changes what is looked up next.
   */
  private lookupStep(layer: number, base: string, name: string, want: LowerName, last: boolean, prelen: number, post: string): string | undefined {
    const kind = this.lower.dir(layer, base).names.get(name);
    if (kind === undefined) return undefined;
    if (kind !== host.DT.DIR) {
      want.stop = true;
      return undefined;
    }
    const path = childPath(base, name);
    if (last) return path;
    if (this.lower.dir(layer, path).opaque) {
      want.stop = true;
      return path;
    }
    const redirect = readRedirect(this.stack.hostPath(layer, path));
    if (redirect !== undefined) applyRedirect(want, redirect, prelen, post);
    return path;
  }
}
