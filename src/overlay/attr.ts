// Attributes (≈ fs/overlayfs/inode.c): getattr answers from the top-most object; every change
// (chmod, chown, utimens, truncate, xattrs) copies up first and is applied in upper.
import * as host from '../host/fs';
import { requireUpper, type OverlayContext } from './context';
import { UPPER } from './layers';
import type { CopyUp } from './copy-up';
import * as xattr from './xattr';

const UNCHANGED_ID = 0xffffffff;

export interface StatFs {
  bsize: number;
  frsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  favail: number;
  namemax: number;
}

export class AttrOps {
  constructor(
    private readonly ctx: OverlayContext,
    private readonly copyUp: CopyUp,
  ) {}

  getattr(path: string): host.Stat {
    const entry = this.ctx.namei.mustLookup(path);
    if (!host.isDir(entry.stat)) return entry.stat;
    const dir = this.ctx.namei.dir(path);
    if (!dir.merged) return entry.stat;
    // overlayfs reports nlink 1 for a merged directory (its real link count is unknowable), and
    // the inode number of its lower origin, so a directory keeps its number when it is copied up
    // (rm -rf and find compare a directory's dev/ino before and after descending into it).
    const origin = entry.layer === UPPER ? this.ctx.namei.lowerStat(dir.lowers[0]!, dir.lowerPaths[0]!) : undefined;
    return { ...entry.stat, nlink: 1, ino: origin?.ino ?? entry.stat.ino };
  }

  readlink(path: string): string {
    return host.readlink(this.ctx.namei.mustLookup(path).hostPath);
  }

  async chmod(path: string, mode: number): Promise<void> {
    host.chmod((await this.upper(path)).hostPath, mode & 0o7777);
  }

  async chown(path: string, uid: number, gid: number): Promise<void> {
    const id = (n: number): number => (n === UNCHANGED_ID ? -1 : n);
    host.lchown((await this.upper(path)).hostPath, id(uid), id(gid));
  }

  async utimens(path: string, aSec: number, aNsec: number, mSec: number, mNsec: number): Promise<void> {
    host.utimens((await this.upper(path)).hostPath, aSec, aNsec, mSec, mNsec);
  }

  async truncate(path: string, size: number): Promise<void> {
    requireUpper(this.ctx, path);
    await this.copyUp.settle(path);
    const entry = await this.copyUp.copyUp(path, size > 0);
    const fd = host.open(entry.hostPath, host.O.O_WRONLY | host.O.O_NOFOLLOW);
    try {
      host.ftruncate(fd, size);
    } finally {
      host.close(fd);
    }
  }

  getxattr(path: string, name: string): Buffer {
    return xattr.getxattr(this.ctx.namei.mustLookup(path).hostPath, name, this.ctx.format);
  }

  listxattr(path: string): string[] {
    return xattr.listxattr(this.ctx.namei.mustLookup(path).hostPath, this.ctx.format);
  }

  async setxattr(path: string, name: string, value: Buffer, flags: number): Promise<void> {
    xattr.setxattr((await this.upper(path)).hostPath, name, value, flags, this.ctx.format);
  }

  /** overlayfs: removing an attribute the object lacks is ENODATA without a copy-up. */
  async removexattr(path: string, name: string): Promise<void> {
    requireUpper(this.ctx, path);
    xattr.getxattr(this.ctx.namei.mustLookup(path).hostPath, name, this.ctx.format);
    xattr.removexattr((await this.upper(path)).hostPath, name, this.ctx.format);
  }

  /** The upper filesystem's figures (the top-most lower one on a read-only mount). */
  statfs(): StatFs {
    const s = host.statfs(this.ctx.stack.roots[this.ctx.stack.writable ? 0 : 1]!);
    return {
      bsize: s.bsize, frsize: s.bsize, blocks: s.blocks, bfree: s.bfree, bavail: s.bavail,
      files: s.files, ffree: s.ffree, favail: s.ffree, namemax: 255,
    };
  }

  private async upper(path: string): Promise<{ hostPath: string }> {
    requireUpper(this.ctx, path);
    await this.copyUp.settle(path);
    return this.copyUp.copyUp(path);
  }
}
