// The FUSE adapter: fuse-native's ops table translated to Overlay calls. It knows nothing of
// layers; it decodes arguments, reads the caller's identity, replies exactly once per request,
// and turns errors into negative errnos (unexpected ones are logged: they are bugs). No flush
// handler: there is nothing to flush, and the ENOSYS answer makes the kernel stop sending it.
import type { Logger } from 'pino';
import type { Overlay } from '../overlay/overlay';
import type { Caller } from '../overlay/context';
import { toErrno } from './errno';
import { KEEP, NO_XATTRS, STAT_INTS, toFuseStat } from './stat';
import { DT, isDir, type DirEntry } from '../host/fs';

type Reply = (...args: any[]) => void;
type CallerSource = () => Caller;
/** Listings longer than this send no attributes along (entryAttrs). */
const PREFETCH_MAX = 4096;
/** Directories remembered as already listed with attributes (then forgotten all at once). */
const PREFETCH_DIRS = 100_000;
const EIO = -5;

export function makeOps(ovl: Overlay, log: Logger, caller: CallerSource): Record<string, (...args: any[]) => void> {
  const tracing = log.isLevelEnabled('debug');
  const prefetched = new Set<string>();

  /** Runs a handler; replies cb(0, value) or cb(-errno). */
  function run<T>(op: string, path: string, fn: () => T | Promise<T>, cb: Reply, map?: (v: T) => unknown): void {
    if (tracing) log.debug({ op, path }, op);
    const ok = (v: T): void => (map === undefined ? cb(0, v) : cb(0, map(v)));
    let result: T | Promise<T>;
    try {
      result = fn();
    } catch (err) {
      cb(fail(op, path, err));
      return;
    }
    if (result instanceof Promise) result.then(ok, (err: unknown) => cb(fail(op, path, err)));
    else ok(result);
  }

  /** read/write reply with a byte count in the first slot. */
  function runCount(op: string, path: string, fn: () => number, cb: Reply): void {
    if (tracing) log.debug({ op, path }, op);
    try {
      cb(fn());
    } catch (err) {
      cb(fail(op, path, err));
    }
  }

  /**
   * A change (chmod, mkdir, ...) answers with the attributes after it: libfuse asks for them at
   * once, and fuse-native answers that getattr from this reply instead of calling us again.
   */
  function change(op: string, path: string, fn: () => void | Promise<void>, cb: Reply): void {
    const after = (): Uint32Array | undefined => {
      try {
        return toFuseStat(ovl.getattr(path), keepIf(path));
      } catch {
        return undefined; // libfuse's own getattr then asks us and gets the error
      }
    };
    run(op, path, () => {
      const done = fn();
      return done instanceof Promise ? done.then(after) : after();
    }, cb);
  }

  const keepIf = (path: string): number => (ovl.isPrivate(path) ? KEEP : 0);

  /** A file with no other name: a change to it shows under its own path alone. */
  const alone = (path: string): boolean => {
    const st = ovl.getattr(path);
    return !isDir(st) && st.nlink === 1;
  };
  const aloneOrMissing = (path: string): boolean => {
    try {
      return alone(path);
    } catch {
      return true; // nothing there to lose a name
    }
  };

  /**
   * unlink and rename answer whether what went was a file with no other name (and, for rename,
   * what it replaced too): fuse-native then outdates only those paths' kept listings and
   * attributes instead of all of them (docs/design.md, "Request path").
   */
  function moving(before: () => boolean, fn: () => void | Promise<void>): () => boolean | Promise<boolean> {
    return () => {
      const one = before();
      const done = fn();
      return done instanceof Promise ? done.then(() => one) : one;
    };
  }

  /**
   * The attributes of a listing's entries, in the listing's order after '.' and '..' (zeros there
   * and for an entry that fails or is shared: fuse-native keeps only those flagged KEEP). Only with
   * a directory's first listing since the mount: a tool that lists again (git status, make) already
   * knows the entries, and paying a getattr and a listxattr per entry at every change tripled a
   * warm git status. Skipped for big directories, where `ls` is likelier than a stat of each entry.
   */
  function entryAttrs(dir: string, entries: DirEntry[]): Uint32Array | undefined {
    if (entries.length > PREFETCH_MAX || prefetched.has(dir)) return undefined;
    if (prefetched.size >= PREFETCH_DIRS) prefetched.clear();
    prefetched.add(dir);
    const all = new Uint32Array((entries.length + 2) * STAT_INTS);
    const base = dir === '/' ? '/' : dir + '/';
    entries.forEach((e, i) => {
      const path = base + e.name;
      if (!ovl.isPrivate(path)) return;
      try {
        const flags = KEEP | (ovl.listxattr(path).length === 0 ? NO_XATTRS : 0);
        all.set(toFuseStat(ovl.getattr(path), flags), (i + 2) * STAT_INTS);
      } catch {
        // left out: the lookup will ask and get the error
      }
    });
    return all;
  }

  function fail(op: string, path: string, err: unknown): number {
    const errno = toErrno(err);
    if (errno === EIO) log.error({ op, path, err }, 'unexpected failure');
    else if (tracing) log.debug({ op, path, errno: (err as { code?: string }).code }, 'failed');
    return errno;
  }

  return {
    getattr: (path: string, cb: Reply) => run('getattr', path, () => ovl.getattr(path), cb, (st) => toFuseStat(st, keepIf(path))),
    fgetattr: (path: string, fh: number, cb: Reply) => run('fgetattr', path, () => ovl.fgetattr(fh), cb, toFuseStat),
    // A private listing may be repeated by fuse-native until the next change, and its entries'
    // attributes answer the lookups that follow it (docs/design.md, "Request path").
    readdir: (path: string, cb: Reply) => run('readdir', path, () => ovl.readdir(path), (err: number, entries?: DirEntry[]) => {
      if (err !== 0) return cb(err);
      const keep = ovl.isPrivate(path);
      cb(0, ...fuseListing(entries!), keep, keep ? entryAttrs(path, entries!) : undefined);
    }),
    readlink: (path: string, cb: Reply) => run('readlink', path, () => ovl.readlink(path), cb),
    statfs: (path: string, cb: Reply) => run('statfs', path, () => ovl.statfs(), cb),
    access: (path: string, _mode: number, cb: Reply) => run('access', path, () => void ovl.getattr(path), cb),
    open: (path: string, flags: number, cb: Reply) => run('open', path, () => ovl.open(path, flags), cb),
    create: (path: string, mode: number, cb: Reply) => {
      const who = caller();
      run('create', path, () => ovl.create(path, mode, who), cb);
    },
    read: (path: string, fh: number, buf: Buffer, len: number, pos: number, cb: Reply) =>
      runCount('read', path, () => ovl.read(fh, buf, len, pos), cb),
    write: (path: string, fh: number, buf: Buffer, len: number, pos: number, cb: Reply) =>
      runCount('write', path, () => ovl.write(fh, buf, len, pos), cb),
    fsync: (path: string, datasync: number, fh: number, cb: Reply) =>
      run('fsync', path, () => ovl.fsync(fh, datasync !== 0), cb),
    fsyncdir: (path: string, _datasync: number, _fh: number, cb: Reply) => run('fsyncdir', path, () => ovl.fsyncdir(path), cb),
    release: (path: string, fh: number, cb: Reply) => run('release', path, () => ovl.release(fh), cb),
    truncate: (path: string, size: number, cb: Reply) => change('truncate', path, () => ovl.truncate(path, size), cb),
    ftruncate: (path: string, fh: number, size: number, cb: Reply) =>
      run('ftruncate', path, () => ovl.ftruncate(fh, size), cb),
    chmod: (path: string, mode: number, cb: Reply) => change('chmod', path, () => ovl.chmod(path, mode), cb),
    chown: (path: string, uid: number, gid: number, cb: Reply) => change('chown', path, () => ovl.chown(path, uid, gid), cb),
    utimens: (path: string, aSec: number, aNsec: number, mSec: number, mNsec: number, cb: Reply) =>
      change('utimens', path, () => ovl.utimens(path, aSec, aNsec, mSec, mNsec), cb),
    mkdir: (path: string, mode: number, cb: Reply) => {
      const who = caller();
      change('mkdir', path, () => ovl.mkdir(path, mode, who), cb);
    },
    mknod: (path: string, mode: number, dev: number, cb: Reply) => {
      const who = caller();
      change('mknod', path, () => ovl.mknod(path, mode, dev, who), cb);
    },
    symlink: (target: string, path: string, cb: Reply) => {
      const who = caller();
      change('symlink', path, () => ovl.symlink(target, path, who), cb);
    },
    link: (existing: string, path: string, cb: Reply) => {
      const who = caller();
      change('link', path, () => ovl.link(existing, path, who), cb);
    },
    unlink: (path: string, cb: Reply) => run('unlink', path, moving(() => alone(path), () => ovl.unlink(path)), cb),
    rmdir: (path: string, cb: Reply) => run('rmdir', path, () => ovl.rmdir(path), cb),
    rename: (from: string, to: string, cb: Reply) =>
      run('rename', from, moving(() => alone(from) && aloneOrMissing(to), () => ovl.rename(from, to)), cb),
    getxattr: (path: string, name: string, _pos: number, cb: Reply) => run('getxattr', path, () => ovl.getxattr(path, name), cb),
    listxattr: (path: string, cb: Reply) => run('listxattr', path, () => ovl.listxattr(path), cb),
    setxattr: (path: string, name: string, value: Buffer, _pos: number, flags: number, cb: Reply) =>
      run('setxattr', path, () => ovl.setxattr(path, name, Buffer.from(value), flags), cb),
    removexattr: (path: string, name: string, cb: Reply) =>
      run('removexattr', path, () => ovl.removexattr(path, name), cb),
  };
}

/** Names with '.' and '..' first, and their d_types, which fuse-native hands to libfuse's filler. */
function fuseListing(entries: DirEntry[]): [string[], Uint8Array] {
  const names = ['.', '..'];
  const types = new Uint8Array(entries.length + 2).fill(DT.DIR, 0, 2);
  entries.forEach((e, i) => {
    names.push(e.name);
    types[i + 2] = e.type;
  });
  return [names, types];
}
