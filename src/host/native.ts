// The project's own N-API addon (native/): the syscalls Node lacks (xattrs, mknod, nanosecond
// utimensat, renameat2, sparse-aware copy offload). Hot-path calls return -errno instead of throwing.
import { join } from 'node:path';

export interface NativeAddon {
  lstat(path: string, out: Float64Array): number;
  fstat(fd: number, out: Float64Array): number;
  lgetxattr(path: string, name: string): Buffer | number;
  llistxattr(path: string): string[] | number;
  lsetxattr(path: string, name: string, value: Buffer, flags: number): number;
  lremovexattr(path: string, name: string): number;
  mknod(path: string, mode: number, dev: number): number;
  utimensat(path: string, aSec: number, aNsec: number, mSec: number, mNsec: number, nofollow: boolean): number;
  renameat2(oldPath: string, newPath: string, flags: number): number;
  umount2(path: string, flags: number): number;
  copyData(srcFd: number, dstFd: number, cb: (err: number, bytes: number) => void): void;
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
