// The project's own N-API addon (native/): the syscalls Node lacks (xattrs, mknod, nanosecond
// utimensat, renameat2, sparse-aware copy offload) and every path call, confined beneath the
// registered roots (confine). Calls return -errno instead of throwing.
import { join } from 'node:path';

export interface NativeAddon {
  lstat(path: string, out: Float64Array): number;
  fstat(fd: number, out: Float64Array): number;
  lgetxattr(path: string, name: string): Buffer | number;
  llistxattr(path: string): string[] | number;
  lsetxattr(path: string, name: string, value: Buffer, flags: number): number;
  lremovexattr(path: string, name: string): number;
  fgetxattr(fd: number, name: string): Buffer | number;
  flistxattr(fd: number): string[] | number;
  fsetxattr(fd: number, name: string, value: Buffer, flags: number): number;
  mknod(path: string, mode: number, dev: number): number;
  utimensat(path: string, aSec: number, aNsec: number, mSec: number, mNsec: number, nofollow: boolean): number;
  futimens(fd: number, aSec: number, aNsec: number, mSec: number, mNsec: number): number;
  renameat2(oldPath: string, newPath: string, flags: number): number;
  confine(roots: string[]): number;
  open(path: string, flags: number, mode: number): number;
  mkdir(path: string, mode: number): number;
  unlink(path: string): number;
  rmdir(path: string): number;
  symlink(target: string, path: string): number;
  link(existing: string, path: string): number;
  lchown(path: string, uid: number, gid: number): number;
  chmod(path: string, mode: number): number;
  readlink(path: string): string | number;
  /** [names, d_type of each name]; "." and ".." left out. */
  readdir(path: string): [string[], Buffer] | number;
  rmtree(path: string): number;
  umount2(path: string, flags: number): number;
  copyData(srcFd: number, dstFd: number, cb: (err: number, bytes: number) => void): void;
  copyDataSync(srcFd: number, dstFd: number): number;
  devMajor(dev: number): number;
  devMinor(dev: number): number;
  makeDev(major: number, minor: number): number;
  UTIME_NOW: number;
  UTIME_OMIT: number;
  RENAME_NOREPLACE: number;
  RENAME_EXCHANGE: number;
  RENAME_WHITEOUT: number;
  XATTR_CREATE: number;
  XATTR_REPLACE: number;
  MNT_DETACH: number;
  MNT_FORCE: number;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
export const native: NativeAddon = require(join(__dirname, '..', '..', 'native', 'build', 'Release', 'layerfs_native.node'));
