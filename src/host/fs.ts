// The only module that touches the host filesystem (node:fs and the native addon). Calls are
// synchronous on purpose: each FUSE request is one short syscall sequence, and plain sync calls
// measured faster than the libuv pool here (docs/design.md); only bulk data copies go async.
// Every call that takes a path goes through the addon, which resolves paths under a confined root
// beneath that root without following any symlink (confine(); docs/design.md, "Confinement").
import * as fs from 'node:fs';
import { native } from './native';
import { check, FsError, fromErrno } from './errors';

export interface Stat {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  dev: number;
  nlink: number;
  ino: number;
  rdev: number;
  blksize: number;
  blocks: number;
  atimeSec: number;
  atimeNsec: number;
  mtimeSec: number;
  mtimeNsec: number;
  ctimeSec: number;
  ctimeNsec: number;
}

/** An object named by a path (never followed) or by an open descriptor. */
export type Target = string | number;

const label = (target: Target): string | undefined => (typeof target === 'number' ? undefined : target);

export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFCHR = 0o020000;
export const S_IFIFO = 0o010000;

export const isDir = (st: Stat): boolean => (st.mode & S_IFMT) === S_IFDIR;
export const isReg = (st: Stat): boolean => (st.mode & S_IFMT) === S_IFREG;
export const isSymlink = (st: Stat): boolean => (st.mode & S_IFMT) === S_IFLNK;

const buf = new Float64Array(16);

function toStat(a: Float64Array): Stat {
  return {
    mode: a[0]!, uid: a[1]!, gid: a[2]!, size: a[3]!, dev: a[4]!, nlink: a[5]!, ino: a[6]!, rdev: a[7]!,
    blksize: a[8]!, blocks: a[9]!, atimeSec: a[10]!, atimeNsec: a[11]!, mtimeSec: a[12]!,
    mtimeNsec: a[13]!, ctimeSec: a[14]!, ctimeNsec: a[15]!,
  };
}

/** lstat that answers undefined for a missing name (the common case in lookup) and throws otherwise. */
export function lstat(path: string): Stat | undefined {
  const rc = native.lstat(path, buf);
  if (rc === 0) return toStat(buf);
  if (rc === -2 || rc === -20) return undefined; // ENOENT, ENOTDIR: nothing there
  throw fromErrno(rc, path, 'lstat');
}

export function mustLstat(path: string): Stat {
  const st = lstat(path);
  if (st === undefined) throw new FsError('ENOENT', path, 'lstat');
  return st;
}

export function fstat(fd: number): Stat {
  check(native.fstat(fd, buf), undefined, 'fstat');
  return toStat(buf);
}

export interface DirEntry {
  name: string;
  /** The entry's d_type: its S_IFMT bits shifted right by 12 (DT.DIR, DT.REG, ...). */
  type: number;
}

export const DT = { UNKNOWN: 0, CHR: 2, DIR: 4, REG: 8 } as const;

/** Orders entries by name, code unit by code unit (what Array#sort does with strings). */
export const byName = (a: DirEntry, b: DirEntry): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

export function readdir(path: string): DirEntry[] {
  const r = native.readdir(path);
  if (typeof r === 'number') throw fromErrno(r, path, 'readdir');
  const [names, types] = r;
  return names.map((name, i) => {
    let type = types[i]!;
    if (type === DT.UNKNOWN) {
      // Some filesystems leave d_type out; ask the inode instead.
      const st = lstat(`${path}/${name}`);
      type = st === undefined ? DT.UNKNOWN : (st.mode & S_IFMT) >> 12;
    }
    return { name, type };
  });
}

/**
 * From now on, paths under these directories (layers, workdir, volumes) resolve beneath them:
 * a component that is a symlink or a mount fails (ELOOP/EXDEV) instead of leading elsewhere.
 * Replaces the previous set; a daemon serves one mount.
 */
export function confine(roots: string[]): void {
  check(native.confine(roots), roots.join(':'), 'confine');
}

export function readlink(path: string): string {
  const r = native.readlink(path);
  if (typeof r === 'number') throw fromErrno(r, path, 'readlink');
  return r;
}

/** Opens without following a symlink in the last component (or, when confined, anywhere). */
export function open(path: string, flags: number, mode = 0o600): number {
  const fd = native.open(path, flags, mode);
  if (fd < 0) throw fromErrno(fd, path, 'open');
  return fd;
}

export const realpath = (path: string): string => fs.realpathSync(path);
export const close = (fd: number): void => fs.closeSync(fd);
export const read = (fd: number, b: Buffer, len: number, pos: number): number => fs.readSync(fd, b, 0, len, pos);
export const write = (fd: number, b: Buffer, len: number, pos: number): number => fs.writeSync(fd, b, 0, len, pos);
export const ftruncate = (fd: number, len: number): void => fs.ftruncateSync(fd, len);
export const fsync = (fd: number): void => fs.fsyncSync(fd);
export const fdatasync = (fd: number): void => fs.fdatasyncSync(fd);
export const mkdir = (path: string, mode: number): void => void check(native.mkdir(path, mode), path, 'mkdir');
export const rmdir = (path: string): void => void check(native.rmdir(path), path, 'rmdir');
export const unlink = (path: string): void => void check(native.unlink(path), path, 'unlink');
export const rename = (from: string, to: string): void => renameat2(from, to, 0);
export const symlink = (target: string, path: string): void => void check(native.symlink(target, path), path, 'symlink');
export const link = (existing: string, path: string): void => void check(native.link(existing, path), path, 'link');
export function lchown(target: Target, uid: number, gid: number): void {
  if (typeof target === 'number') fs.fchownSync(target, uid, gid);
  else check(native.lchown(target, uid, gid), target, 'lchown');
}
/** chmod of the object itself; EOPNOTSUPP for a symlink (Linux has no symlink modes). */
export function chmod(target: Target, mode: number): void {
  if (typeof target === 'number') fs.fchmodSync(target, mode);
  else check(native.chmod(target, mode), target, 'chmod');
}
/** statfs of a layer root (roots were resolved once at mount; nothing below is followed). */
export const statfs = (path: string): fs.StatsFs => fs.statfsSync(path);
export const exists = (path: string): boolean => lstat(path) !== undefined;
/** rm -rf that never follows a symlink; a missing path is no error. */
export const rmTree = (path: string): void => void check(native.rmtree(path), path, 'rmtree');

/** rename(2) with renameat2 flags (RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT). */
export function renameat2(from: string, to: string, flags: number): void {
  check(native.renameat2(from, to, flags), to, 'renameat2');
}

export function mknod(path: string, mode: number, dev: number): void {
  check(native.mknod(path, mode, dev), path, 'mknod');
}

export function utimens(target: Target, aSec: number, aNsec: number, mSec: number, mNsec: number): void {
  const rc = typeof target === 'number'
    ? native.futimens(target, aSec, aNsec, mSec, mNsec)
    : native.utimensat(target, aSec, aNsec, mSec, mNsec, true);
  check(rc, label(target), 'utimens');
}

/** The value of an xattr, or undefined when the object has no such attribute. */
export function getxattr(target: Target, name: string): Buffer | undefined {
  const r = typeof target === 'number' ? native.fgetxattr(target, name) : native.lgetxattr(target, name);
  if (typeof r !== 'number') return r;
  if (r === -61 || r === -95) return undefined; // ENODATA, EOPNOTSUPP
  throw fromErrno(r, label(target), 'getxattr');
}

export function listxattr(target: Target): string[] {
  const r = typeof target === 'number' ? native.flistxattr(target) : native.llistxattr(target);
  if (typeof r !== 'number') return r;
  if (r === -95) return [];
  throw fromErrno(r, label(target), 'listxattr');
}

export function setxattr(target: Target, name: string, value: Buffer, flags = 0): void {
  const rc = typeof target === 'number' ? native.fsetxattr(target, name, value, flags) : native.lsetxattr(target, name, value, flags);
  check(rc, label(target), 'setxattr');
}

export function removexattr(path: string, name: string): void {
  check(native.lremovexattr(path, name), path, 'lremovexattr');
}

/** copyData inline: for small files, where a thread-pool round trip costs more than the copy. */
export function copyDataSync(srcFd: number, dstFd: number): number {
  const r = native.copyDataSync(srcFd, dstFd);
  if (r < 0) throw fromErrno(r, undefined, 'copy');
  return r;
}

/** Copies a whole file's data with the kernel's copy offload (reflink, else copy_file_range by data segment). */
export function copyData(srcFd: number, dstFd: number): Promise<number> {
  return new Promise((resolve, reject) => {
    native.copyData(srcFd, dstFd, (err, bytes) => (err < 0 ? reject(fromErrno(err, undefined, 'copy')) : resolve(bytes)));
  });
}

export const UTIME_NOW = native.UTIME_NOW;
export const UTIME_OMIT = native.UTIME_OMIT;
export const RENAME_NOREPLACE = native.RENAME_NOREPLACE;
export const RENAME_EXCHANGE = native.RENAME_EXCHANGE;
export const RENAME_WHITEOUT = native.RENAME_WHITEOUT;
export const makeDev = native.makeDev;
export const O = fs.constants;
