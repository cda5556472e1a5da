// Open files (≈ fs/overlayfs/file.c): a handle is a real file descriptor on the top-most object.
// Opening for write or with O_TRUNC copies up first; a read-only open never does.
import * as host from '../host/fs';
import { FsError } from '../host/errors';
import { requireUpper, type Caller, type OverlayContext } from './context';
import type { CopyUp } from './copy-up';
import type { DirOps } from './dir-ops';
import type { Entry } from './namei';
import { UPPER } from './layers';

const O = host.O;
const O_ACCMODE = 3;
// Flags that describe the open file rather than the lookup; O_CREAT/O_EXCL were handled by the
// kernel's lookup and O_DIRECT would impose alignment on the kernel's buffers.
export const PASS_FLAGS = O_ACCMODE | O.O_APPEND | O.O_TRUNC | O.O_SYNC | O.O_DSYNC | O.O_NONBLOCK | O.O_NOATIME;

interface Handle {
  fd: number;
  path: string;
  onUpper: boolean;
}

/** What onDescriptor is told of a handle outside volumes. */
export interface Described {
  path: string;
  /** The descriptor is the upper object at path itself. */
  named: boolean;
  /** Named, and the object has no xattr at all. */
  bare: boolean;
}

/** overlayfs: any write access, or truncation, needs the object in upper. */
export const needsCopyUp = (flags: number): boolean => (flags & O_ACCMODE) !== O.O_RDONLY || (flags & O.O_TRUNC) !== 0;

export class FileOps {
  private readonly handles = new Map<number, Handle>();
  private nextFh = 1;
  /**
   * Told a handle's descriptor, when the handle is made and whenever the descriptor is replaced
   * (before the old one is closed): the FUSE layer may serve data from it without calling us.
   * `about` for a handle outside volumes; `named` there when the descriptor is the upper object
   * at the handle's path: changes of that path's attributes may then be made on it (until a
   * rename or unlink).
   */
  onDescriptor: (fh: number, fd: number, about?: Described) => void = () => {};

  constructor(
    private readonly ctx: OverlayContext,
    private readonly copyUp: CopyUp,
    private readonly dirOps: DirOps,
  ) {}

  async open(path: string, flags: number): Promise<number> {
    let entry: Entry;
    if (needsCopyUp(flags)) {
      requireUpper(this.ctx, path);
      await this.copyUp.settle(path);
      entry = await this.copyUp.copyUp(path, (flags & O.O_TRUNC) === 0);
    } else {
      entry = this.ctx.namei.mustLookup(path);
    }
    return this.add(host.open(entry.hostPath, (flags & PASS_FLAGS) | O.O_NOFOLLOW), path, entry.layer === UPPER);
  }

  create(path: string, mode: number, caller: Caller): number {
    let fd = -1;
    const make = (p: string): void => {
      fd = host.open(p, O.O_RDWR | O.O_CREAT | O.O_EXCL | O.O_NOFOLLOW, mode);
    };
    try {
      this.dirOps.place(path, caller, { make, isDir: false, owned: true });
    } catch (err) {
      if (fd >= 0) host.close(fd);
      throw err;
    }
    return this.add(fd, path, true);
  }

  /**
   * After a copy-up, read-only handles still on the lower file move to the upper copy, so they
   * see later writes (overlayfs since 4.19: "has it been copied up since we'd opened it?").
   */
  followCopyUp(path: string, upperHostPath: string): void {
    for (const [fh, h] of this.handles) {
      if (h.onUpper || h.path !== path) continue;
      const fd = host.open(upperHostPath, O.O_RDONLY | O.O_NOFOLLOW);
      this.onDescriptor(fh, fd, this.describe(fd, path, true));
      host.close(h.fd);
      h.fd = fd;
      h.onUpper = true;
    }
  }

  read(fh: number, buf: Buffer, len: number, pos: number): number {
    return host.read(this.get(fh).fd, buf, len, pos);
  }

  write(fh: number, buf: Buffer, len: number, pos: number): number {
    return host.write(this.get(fh).fd, buf, len, pos);
  }

  ftruncate(fh: number, size: number): void {
    host.ftruncate(this.get(fh).fd, size);
  }

  fsync(fh: number, datasync: boolean): void {
    if (this.ctx.volatile) return;
    const { fd } = this.get(fh);
    if (datasync) host.fdatasync(fd);
    else host.fsync(fd);
  }

  /** fsync of a directory: reaches the upper copy (a directory only in lowers has nothing to sync). */
  fsyncdir(path: string): void {
    const entry = this.ctx.namei.mustLookup(path);
    if (entry.layer === UPPER) this.fsyncPath(entry.hostPath);
  }

  fsyncPath(hostPath: string): void {
    if (this.ctx.volatile) return;
    const fd = host.open(hostPath, O.O_RDONLY | O.O_DIRECTORY | O.O_NOFOLLOW);
    try {
      host.fsync(fd);
    } finally {
      host.close(fd);
    }
  }

  fgetattr(fh: number): host.Stat {
    return host.fstat(this.get(fh).fd);
  }

  release(fh: number): void {
    const handle = this.get(fh);
    this.handles.delete(fh);
    host.close(handle.fd);
  }

  get openCount(): number {
    return this.handles.size;
  }

  /** A handle for a descriptor opened elsewhere (a volume): it is never copied up. */
  adopt(fd: number, path: string): number {
    return this.add(fd, path, true, true);
  }

  private add(fd: number, path: string, onUpper: boolean, inVolume = false): number {
    const fh = this.nextFh++;
    if (this.nextFh > 0xffffffff) this.nextFh = 1;
    this.handles.set(fh, { fd, path, onUpper });
    this.onDescriptor(fh, fd, inVolume ? undefined : this.describe(fd, path, onUpper));
    return fh;
  }

  private describe(fd: number, path: string, named: boolean): Described {
    return { path, named, bare: named && host.listxattr(fd).length === 0 };
  }

  private get(fh: number): Handle {
    const handle = this.handles.get(fh);
    if (handle === undefined) throw new FsError('EBADF', undefined, `no open file ${fh}`);
    return handle;
  }
}
