// Copy-up (≈ fs/overlayfs/copy_up.c): before the first change to an object that lives only in a
// lower layer, copy it into upper. Parents first; each object is built under workdir/work and
// renamed into upper in one step, so a crash leaves the old state or the new one, never a part.
import { join } from 'node:path';
import * as host from '../host/fs';
import { FsError, ignoreENOENT } from '../host/errors';
import { UPPER } from './layers';
import { parentOf, type Entry } from './namei';
import { copyXattrs } from './xattr';
import type { OverlayContext } from './context';

/** Files up to this size copy inline (copyDataSync); bigger ones on the thread pool. */
const SYNC_COPY_MAX = 1 << 20;

export class CopyUp {
  private readonly inflight = new Map<string, Promise<Entry>>();
  private seq = 0;

  constructor(private readonly ctx: OverlayContext) {}

  /** A fresh name in the work area (same filesystem as upper, so rename into upper is atomic). */
  tmpPath(): string {
    return join(this.ctx.stack.workTmp!, `#${process.pid.toString(36)}.${(++this.seq).toString(36)}`);
  }

  /**
   * Returns the upper Entry of path, copying it (and its parents) up first when it lives in a
   * lower layer. withData=false copies only metadata (the caller truncates it to 0 anyway).
   * Concurrent callers for one path share one copy-up.
   */
  copyUp(path: string, withData = true): Promise<Entry> {
    const entry = this.ctx.namei.mustLookup(path);
    if (entry.layer === UPPER) return Promise.resolve(entry);
    let pending = this.inflight.get(path);
    if (pending === undefined) {
      pending = (host.isDir(entry.stat) ? this.copyUpDirAsync(path) : this.copyUpNonDir(entry, withData)).finally(() =>
        this.inflight.delete(path),
      );
      this.inflight.set(path, pending);
    }
    return pending;
  }

  /** Resolves once no copy-up of path is running (mutations of a path wait for its copy-up). */
  async settle(path: string): Promise<void> {
    const pending = this.inflight.get(path);
    if (pending !== undefined) await pending.catch(() => undefined);
  }

  /** Makes sure directory `path` exists in upper (copying up it and its parents); returns its host path. */
  ensureUpperDir(path: string): string {
    const hostPath = this.ctx.stack.hostPath(UPPER, path);
    if (path === '/' || this.ctx.namei.dir(path).upper) return hostPath;
    this.ensureUpperDir(parentOf(path));
    const entry = this.ctx.namei.mustLookup(path);
    const tmp = this.tmpPath();
    this.build(entry, tmp, () => {
      host.mkdir(tmp, 0o700);
      this.copyMeta(entry, entry.hostPath, tmp);
    });
    this.install(entry, tmp);
    this.ctx.emit({ op: 'copy-up', path, layer: this.ctx.stack.label(entry.layer) });
    return hostPath;
  }

  private async copyUpDirAsync(path: string): Promise<Entry> {
    this.ensureUpperDir(path);
    return this.ctx.namei.mustLookup(path);
  }

  private async copyUpNonDir(entry: Entry, withData: boolean): Promise<Entry> {
    const started = Date.now();
    const tmp = this.tmpPath();
    let bytes = 0;
    if (host.isReg(entry.stat)) {
      const copied = await this.copyFile(entry, tmp, withData);
      bytes = copied.bytes;
      // A copy on the thread pool let other requests run: if the object changed meanwhile, it is stale.
      const raced = copied.async ? this.raced(entry, tmp) : undefined;
      if (raced !== undefined) return raced;
    } else {
      this.build(entry, tmp, () => {
        if (host.isSymlink(entry.stat)) host.symlink(host.readlink(entry.hostPath), tmp);
        else host.mknod(tmp, entry.stat.mode, entry.stat.rdev);
        this.copyMeta(entry, entry.hostPath, tmp);
      });
    }
    this.ensureUpperDir(parentOf(entry.path));
    this.install(entry, tmp);
    this.ctx.emit({ op: 'copy-up', path: entry.path, layer: this.ctx.stack.label(entry.layer), bytes, ms: Date.now() - started });
    return this.ctx.namei.mustLookup(entry.path);
  }

  /**
   * Builds the regular file at tmp through descriptors: data, attributes, then fsync. A small
   * file copies inline; a big one on the thread pool, so the mount keeps answering meanwhile.
   */
  private async copyFile(entry: Entry, tmp: string, withData: boolean): Promise<{ bytes: number; async: boolean }> {
    const size = withData ? entry.stat.size : 0;
    const async = size > SYNC_COPY_MAX;
    const src = host.open(entry.hostPath, host.O.O_RDONLY | host.O.O_NOFOLLOW);
    try {
      const dst = host.open(tmp, host.O.O_WRONLY | host.O.O_CREAT | host.O.O_EXCL, 0o600);
      try {
        const bytes = size === 0 ? 0 : async ? await host.copyData(src, dst) : host.copyDataSync(src, dst);
        this.copyMeta(entry, src, dst);
        // The rename into upper must never publish a file whose data a crash could still lose.
        if (!this.ctx.volatile) host.fsync(dst);
        return { bytes, async };
      } catch (err) {
        this.drop(entry, tmp);
        throw err;
      } finally {
        host.close(dst);
      }
    } finally {
      host.close(src);
    }
  }

  /** After a copy on the pool: the answer when the object changed meanwhile (tmp is dropped), else undefined. */
  private raced(entry: Entry, tmp: string): Entry | undefined {
    const now = this.ctx.namei.lookup(entry.path);
    if (now !== undefined && now.layer === entry.layer && now.stat.ino === entry.stat.ino) return undefined;
    host.unlink(tmp);
    if (now === undefined) throw new FsError('ENOENT', entry.path);
    // Made in upper meanwhile (removed and created again): that object is the answer.
    if (now.layer === UPPER) return now;
    throw new FsError('ESTALE', entry.path, 'a lower layer changed underneath the mount');
  }

  /** Runs make, which creates tmp; removes tmp if make fails. */
  private build(entry: Entry, tmp: string, make: () => void): void {
    try {
      make();
    } catch (err) {
      this.drop(entry, tmp);
      throw err;
    }
  }

  private drop(entry: Entry, tmp: string): void {
    ignoreENOENT(() => (host.isDir(entry.stat) ? host.rmdir(tmp) : host.unlink(tmp)));
  }

  /** Renames the finished object at tmp into upper, keeping the parent's times as the kernel does. */
  private install(entry: Entry, tmp: string): void {
    const dest = this.ctx.stack.hostPath(UPPER, entry.path);
    const parentHost = this.ctx.stack.hostPath(UPPER, parentOf(entry.path));
    try {
      const parent = host.mustLstat(parentHost);
      host.rename(tmp, dest);
      host.utimens(parentHost, parent.atimeSec, parent.atimeNsec, parent.mtimeSec, parent.mtimeNsec);
    } catch (err) {
      this.drop(entry, tmp);
      throw err;
    }
    this.ctx.namei.invalidate(entry.path);
  }

  /**
   * Owner first (chown(2) drops security.capability and the setuid bits), then xattrs, mode, and
   * times last (the others change ctime/mtime). By descriptor for a regular file being copied (no
   * path walks), by path for the rest.
   */
  private copyMeta(entry: Entry, from: host.Target, to: host.Target): void {
    const st = entry.stat;
    if (this.ctx.privileged) host.lchown(to, st.uid, st.gid);
    copyXattrs(from, to);
    if (!host.isSymlink(st)) host.chmod(to, st.mode & 0o7777);
    host.utimens(to, st.atimeSec, st.atimeNsec, st.mtimeSec, st.mtimeNsec);
  }
}
