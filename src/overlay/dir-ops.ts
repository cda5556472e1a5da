// Changes to the namespace (≈ fs/overlayfs/dir.c): create, mkdir, mknod, symlink, link, unlink,
// rmdir and rename, with the kernel's whiteout and opaque rules. Every step that replaces one
// object by another in upper is a single rename, so a crash leaves the old state or the new one.
import { join } from 'node:path';
import * as host from '../host/fs';
import { errorCode, FsError } from '../host/errors';
import { UPPER } from './layers';
import { baseName, parentOf, type Entry } from './namei';
import { isEmptyMerged } from './readdir';
import { hasMarker, isMarkerName, isOpaqueDir, isWhiteout, makeKernelWhiteout, markerPath, markOpaque, OCI_PREFIX } from './whiteout';
import { requireUpper, type Caller, type OverlayContext } from './context';
import type { CopyUp } from './copy-up';
import { isHiddenName, type HiddenFiles } from './hidden';
import { REDIRECT_MAX, writeRedirect } from './redirect';

const DAEMON_GID = process.getegid?.() ?? 0;

interface NewObject {
  /** Creates the object at a host path. */
  make(hostPath: string): void;
  isDir: boolean;
  /** New objects belong to the caller; a hard link keeps its inode's owner. */
  owned: boolean;
  /** Why this object may not be made through the mount, checked once the name is known to be free. */
  refused?: string;
}

export class DirOps {
  constructor(
    private readonly ctx: OverlayContext,
    private readonly copyUp: CopyUp,
  ) {}

  /** Creates a new object at path for caller; EEXIST when the name is visible, EROFS when read-only. */
  place(path: string, caller: Caller, obj: NewObject): void {
    requireUpper(this.ctx, path);
    const name = baseName(path);
    // An entry named .wh.X would read as a whiteout of X in an OCI export or a later mount.
    if (isMarkerName(name)) throw new FsError('EINVAL', path, `names starting with ${OCI_PREFIX} are reserved for whiteouts`);
    if (isHiddenName(name)) throw new FsError('EINVAL', path, 'names like .fuse_hidden<16 hex digits> are reserved by libfuse');
    const parent = this.ctx.namei.dir(parentOf(path));
    if (this.ctx.namei.child(parent, name) !== undefined) throw new FsError('EEXIST', path);
    if (obj.refused !== undefined) throw new FsError('EPERM', path, obj.refused);
    const parentHost = this.copyUp.ensureUpperDir(parent.path);
    const dest = join(parentHost, name);
    // The name is not visible, so what upper may hold there is a whiteout: try the common case first.
    if (!this.tryMake(dest, obj)) {
      // overlayfs: build the object in workdir and rename it over the whiteout in one step;
      // a directory made over a whiteout is opaque so the old lower content stays hidden.
      const tmp = this.copyUp.tmpPath();
      obj.make(tmp);
      this.own(tmp, caller, parentHost, obj);
      if (obj.isDir) {
        markOpaque(tmp, this.ctx.format);
        host.renameat2(tmp, dest, host.RENAME_EXCHANGE);
        host.unlink(tmp);
      } else {
        host.rename(tmp, dest);
      }
    } else {
      try {
        this.own(dest, caller, parentHost, obj);
        // overlayfs with redirect_dir=on (no offline changes allowed): a new directory in a
        // merged one is made opaque, so its lookups never need the lower layers.
        if (obj.isDir && this.ctx.stack.redirectDir === 'on' && this.ctx.namei.dir(parent.path).lowers.length > 0) markOpaque(dest, this.ctx.format);
        // An OCI-format marker only ever hides a name that a lower layer holds.
        if (this.ctx.namei.lowerTop(parent, name) !== undefined && hasMarker(parentHost, name)) {
          if (obj.isDir) markOpaque(dest, this.ctx.format);
          host.unlink(markerPath(parentHost, name));
        }
      } catch (err) {
        // Not half made: the new object goes again and the error is the answer.
        if (obj.isDir) host.rmdir(dest);
        else host.unlink(dest);
        throw err;
      }
    }
    this.ctx.namei.invalidate(path);
    this.ctx.emit({ op: obj.isDir ? 'mkdir' : 'create', path });
  }

  /** Makes the object at dest; false when a whiteout is in the way (EEXIST on an invisible name). */
  private tryMake(dest: string, obj: NewObject): boolean {
    try {
      obj.make(dest);
      return true;
    } catch (err) {
      const existing = errorCode(err) === 'EEXIST' ? host.lstat(dest) : undefined;
      if (existing !== undefined && isWhiteout(existing)) return false;
      throw err;
    }
  }

  /**
   * New objects belong to the caller; the group follows a setgid parent, as on any Linux fs. The
   * daemon runs as root, so what a root caller creates already has the right owner and group
   * (the host applies a setgid parent itself).
   */
  private own(hostPath: string, caller: Caller, parentHost: string, obj: NewObject): void {
    if (!obj.owned || !this.ctx.privileged || (caller.uid === 0 && caller.gid === DAEMON_GID)) return;
    const parent = host.mustLstat(parentHost);
    host.lchown(hostPath, caller.uid, parent.mode & 0o2000 ? parent.gid : caller.gid);
  }

  mkdir(path: string, mode: number, caller: Caller): void {
    this.place(path, caller, { make: (p) => host.mkdir(p, mode), isDir: true, owned: true });
  }

  mknod(path: string, mode: number, dev: number, caller: Caller): void {
    // overlayfs: a caller may not forge a whiteout (ovl_mknod's EPERM, after the VFS's EEXIST).
    const refused = isWhiteout({ mode, rdev: dev }) ? 'a character device 0/0 is a whiteout' : undefined;
    this.place(path, caller, { make: (p) => host.mknod(p, mode, dev), isDir: false, owned: true, ...(refused === undefined ? {} : { refused }) });
  }

  symlink(target: string, path: string, caller: Caller): void {
    this.place(path, caller, { make: (p) => host.symlink(target, p), isDir: false, owned: true });
  }

  async link(existing: string, path: string, caller: Caller): Promise<void> {
    requireUpper(this.ctx, path);
    const src = this.ctx.namei.mustLookup(existing);
    if (host.isDir(src.stat)) throw new FsError('EPERM', existing, 'hard link to a directory');
    const upper = await this.copyUp.copyUp(existing);
    this.place(path, caller, { make: (p) => host.link(upper.hostPath, p), isDir: false, owned: false });
  }

  async unlink(path: string): Promise<void> {
    requireUpper(this.ctx, path);
    await this.copyUp.settle(path);
    const entry = this.ctx.namei.mustLookup(path);
    if (host.isDir(entry.stat)) throw new FsError('EISDIR', path);
    this.remove(entry);
  }

  async rmdir(path: string): Promise<void> {
    requireUpper(this.ctx, path);
    if (path === '/') throw new FsError('EBUSY', path);
    const entry = this.ctx.namei.mustLookup(path);
    if (!host.isDir(entry.stat)) throw new FsError('ENOTDIR', path);
    if (!isEmptyMerged(this.ctx.stack, this.ctx.namei, path)) throw new FsError('ENOTEMPTY', path);
    this.remove(entry);
  }

  /**
   * libfuse's rename of a file unlinked while open (hidden.ts): the name goes as by unlink, the
   * object stays reachable under the hidden name, and nothing is copied up.
   */
  async hide(from: string, to: string, hidden: HiddenFiles): Promise<void> {
    requireUpper(this.ctx, from);
    await this.copyUp.settle(from);
    const entry = this.ctx.namei.mustLookup(from);
    if (host.isDir(entry.stat)) throw new FsError('EISDIR', from);
    if (entry.layer !== UPPER) {
      this.remove(entry);
      hidden.add(to, entry, entry.hostPath, false);
      return;
    }
    const tmp = this.copyUp.tmpPath();
    if (!entry.lowerBelow) host.rename(entry.hostPath, tmp);
    else if (this.ctx.format === 'kernel') host.renameat2(entry.hostPath, tmp, host.RENAME_WHITEOUT);
    else {
      touchMarker(markerPath(parentOf(entry.hostPath), baseName(from)));
      host.rename(entry.hostPath, tmp);
    }
    hidden.add(to, entry, tmp, true);
    this.ctx.namei.invalidate(from);
    this.ctx.emit({ op: entry.lowerBelow ? 'whiteout' : 'remove', path: from });
  }

  /** Removes a name: a whiteout stays where a lower layer still holds it (never a copy-up). */
  private remove(entry: Entry): void {
    const parentHost = this.copyUp.ensureUpperDir(parentOf(entry.path));
    const dest = join(parentHost, baseName(entry.path));
    const dir = host.isDir(entry.stat);
    if (!entry.lowerBelow) {
      // Only upper has it; a merged-empty upper directory may still hold whiteouts.
      if (dir) host.rmTree(dest);
      else host.unlink(dest);
      this.ctx.emit({ op: 'remove', path: entry.path });
    } else {
      this.whiteout(parentHost, baseName(entry.path), entry.layer === UPPER ? (dir ? 'dir' : 'file') : undefined);
      this.ctx.emit({ op: 'whiteout', path: entry.path });
    }
    this.ctx.namei.invalidate(entry.path);
  }

  /**
   * Leaves a whiteout for `name` in an upper directory, replacing what upper holds there
   * (`replacing`) in one step: the lower object never shows through, even after a crash.
   */
  private whiteout(parentHost: string, name: string, replacing: 'file' | 'dir' | undefined): void {
    const dest = join(parentHost, name);
    if (this.ctx.format === 'oci') {
      touchMarker(markerPath(parentHost, name));
      if (replacing === 'dir') host.rmTree(dest);
      else if (replacing === 'file') host.unlink(dest);
      return;
    }
    if (replacing === undefined) {
      makeKernelWhiteout(dest);
      return;
    }
    const tmp = this.copyUp.tmpPath();
    makeKernelWhiteout(tmp);
    if (replacing === 'dir') {
      host.renameat2(tmp, dest, host.RENAME_EXCHANGE);
      host.rmTree(tmp);
    } else {
      host.rename(tmp, dest);
    }
  }

  async rename(from: string, to: string): Promise<void> {
    requireUpper(this.ctx, from);
    await this.copyUp.settle(from);
    await this.copyUp.settle(to);
    const src = this.ctx.namei.mustLookup(from);
    if (!host.isDir(src.stat) && src.layer !== UPPER) await this.copyUp.copyUp(from);
    this.renameNow(from, to);
  }

  private renameNow(from: string, to: string): void {
    if (from === to) return;
    if (to.startsWith(from + '/')) throw new FsError('EINVAL', to, 'cannot move a directory into itself');
    const name = baseName(to);
    if (isMarkerName(name)) throw new FsError('EINVAL', to, `names starting with ${OCI_PREFIX} are reserved for whiteouts`);
    const src = this.ctx.namei.mustLookup(from);
    const srcIsDir = host.isDir(src.stat);
    const toParent = this.ctx.namei.dir(parentOf(to));
    const dst = this.ctx.namei.child(toParent, name);
    // The VFS checks come first (types, same inode), then overlayfs's own: EXDEV, then emptiness.
    if (dst !== undefined) {
      if (srcIsDir && !host.isDir(dst.stat)) throw new FsError('ENOTDIR', to);
      if (!srcIsDir && host.isDir(dst.stat)) throw new FsError('EISDIR', to);
      if (dst.layer === src.layer && dst.stat.ino === src.stat.ino) return;
    }
    // overlayfs: a directory with lower content moves only with redirect_dir=on (and a format
    // that may write trusted.* xattrs); otherwise EXDEV, and mv copies instead.
    const redirected = srcIsDir && (src.layer !== UPPER || this.ctx.namei.dir(from).lowers.length > 0);
    if (redirected && (this.ctx.stack.redirectDir !== 'on' || this.ctx.format !== 'kernel')) throw new FsError('EXDEV', from);
    // A target directory with lower content must be empty in the merged view (its upper copy
    // then holds whiteouts only); one only in upper must be empty on disk, as the host rename
    // requires: the kernel's ENOTEMPTY for it comes after the opaque mark below.
    const dstMerged = dst !== undefined && srcIsDir && this.ctx.namei.dir(to).lowers.length > 0;
    if (dstMerged && !isEmptyMerged(this.ctx.stack, this.ctx.namei, to)) throw new FsError('ENOTEMPTY', to);
    if (redirected) this.copyUp.ensureUpperDir(from);
    else if (src.layer !== UPPER) throw new FsError('EIO', from, 'source not copied up');
    const toParentHost = this.copyUp.ensureUpperDir(toParent.path);
    const dest = join(toParentHost, name);
    const moved = this.ctx.namei.mustLookup(from);
    if (redirected) {
      // overlayfs: the directory records where its lower copies are, and is found there again.
      const redirect = this.redirectFor(from, to);
      if (redirect !== undefined) writeRedirect(moved.hostPath, redirect);
    } else if (srcIsDir && this.ctx.namei.dir(toParent.path).lowers.length > 0 && !isOpaqueDir(moved.hostPath, this.ctx.format)) {
      // overlayfs: a directory moved into a merged directory becomes opaque, so a lower
      // directory of the same name never merges into it.
      markOpaque(moved.hostPath, this.ctx.format);
    }
    // Nothing is removed or marked before the rename is known to succeed.
    if (dst?.layer === UPPER && srcIsDir && !dstMerged && host.readdir(dest).length > 0) throw new FsError('ENOTEMPTY', to);
    if (dstMerged && dst?.layer === UPPER && host.readdir(dest).length > 0) this.emptyTarget(dest);
    this.moveInUpper(moved, dest, srcIsDir);
    this.ctx.namei.invalidate(from);
    this.ctx.namei.invalidate(to);
    this.ctx.emit({ op: 'rename', path: from, to });
  }

  /**
   * The redirect a directory moving from `from` to `to` needs, as ovl_set_redirect writes it:
   * none when it has one that stays valid (it stays in its parent, or it is absolute), its old
   * name when it stays in its parent, else the absolute path of its old place, built from the
   * names (or redirects) of it and its ancestors. EXDEV when that is longer than redirect_max.
   */
  private redirectFor(from: string, to: string): string | undefined {
    const own = this.ctx.namei.dir(from).redirect;
    const samedir = parentOf(from) === parentOf(to);
    if (own !== undefined && (samedir || own.startsWith('/'))) return undefined;
    if (samedir) return baseName(from);
    const parts: string[] = [];
    for (let path = from; path !== '/'; path = parentOf(path)) {
      const part = this.ctx.namei.dir(path).redirect ?? baseName(path);
      parts.unshift(part);
      if (part.startsWith('/')) break;
    }
    const redirect = parts[0]!.startsWith('/') ? parts.join('/') : '/' + parts.join('/');
    if (Buffer.byteLength(redirect) > REDIRECT_MAX) throw new FsError('EXDEV', from, 'the redirect would be longer than redirect_max');
    return redirect;
  }

  /** The host rename, leaving a whiteout at the source when a lower layer still holds it. */
  private moveInUpper(src: Entry, dest: string, srcIsDir: boolean): void {
    const destStat = host.lstat(dest);
    const fromParentHost = parentOf(src.hostPath);
    if (this.ctx.format === 'oci') {
      const marker = src.lowerBelow && !hasMarker(fromParentHost, baseName(src.path)) ? markerPath(fromParentHost, baseName(src.path)) : undefined;
      if (marker !== undefined) touchMarker(marker);
      try {
        host.rename(src.hostPath, dest);
      } catch (err) {
        if (marker !== undefined) host.unlink(marker);
        throw err;
      }
      if (hasMarker(parentOf(dest), baseName(dest))) {
        if (srcIsDir) markOpaque(dest, 'oci');
        host.unlink(markerPath(parentOf(dest), baseName(dest)));
      }
      return;
    }
    if (destStat !== undefined && isWhiteout(destStat) && srcIsDir) {
      // A directory cannot replace a device: swap them, and the whiteout lands at the source.
      host.renameat2(src.hostPath, dest, host.RENAME_EXCHANGE);
      if (!src.lowerBelow) host.unlink(src.hostPath);
      return;
    }
    host.renameat2(src.hostPath, dest, src.lowerBelow ? host.RENAME_WHITEOUT : 0);
  }

  /**
   * Swaps the upper copy of a directory that is empty in the merged view (it holds whiteouts
   * only) for an empty opaque one, as the kernel's ovl_clear_empty does: a crash at any point
   * still shows it empty. The whiteouts go with the old copy.
   */
  private emptyTarget(dest: string): void {
    const st = host.mustLstat(dest);
    const tmp = this.copyUp.tmpPath();
    host.mkdir(tmp, st.mode & 0o7777);
    try {
      if (this.ctx.privileged) host.lchown(tmp, st.uid, st.gid);
      markOpaque(tmp, this.ctx.format);
      host.renameat2(tmp, dest, host.RENAME_EXCHANGE);
    } catch (err) {
      host.rmdir(tmp);
      throw err;
    }
    host.rmTree(tmp);
  }
}

/** Creates an OCI whiteout marker (the unprivileged format). */
function touchMarker(hostPath: string): void {
  host.close(host.open(hostPath, host.O.O_WRONLY | host.O.O_CREAT, 0));
}

