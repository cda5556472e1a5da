// Stat → the Uint32Array(24) layout that layerfs's fuse-native patch hands to libfuse unchanged:
// [mode, uid, gid, size lo/hi, dev, nlink, ino lo/hi, rdev, blksize, blocks lo/hi,
//  atime sec lo/hi, nsec, mtime sec lo/hi, nsec, ctime sec lo/hi, nsec, flags, 0]
// flags bit 0 (KEEP): only a request through this mount can change these attributes, so
// fuse-native may repeat them until its next change (docs/design.md, "Request path"); bit 1: NO_XATTRS.
import type { Stat } from '../host/fs';

const TWO32 = 4294967296;

function put64(a: Uint32Array, i: number, n: number): void {
  a[i] = n % TWO32;
  a[i + 1] = Math.floor(n / TWO32);
}

/** Only a request through this mount can change these attributes: fuse-native may keep them. */
export const KEEP = 1;
/** In a listing's attributes only: the entry has no xattr a caller can see, so every getxattr is ENODATA. */
export const NO_XATTRS = 2;
export const STAT_INTS = 24;
const STAT_FLAGS = 22;

export function toFuseStat(st: Stat, flags = 0): Uint32Array {
  const a = new Uint32Array(STAT_INTS);
  a[0] = st.mode;
  a[1] = st.uid;
  a[2] = st.gid;
  put64(a, 3, st.size);
  a[5] = 0;
  a[6] = st.nlink;
  put64(a, 7, st.ino);
  // The low 32 bits of glibc's dev_t are the kernel's new_encode_dev() for majors below 4096.
  a[9] = st.rdev % TWO32;
  a[10] = st.blksize;
  put64(a, 11, st.blocks);
  put64(a, 13, st.atimeSec);
  a[15] = st.atimeNsec;
  put64(a, 16, st.mtimeSec);
  a[18] = st.mtimeNsec;
  put64(a, 19, st.ctimeSec);
  a[21] = st.ctimeNsec;
  a[STAT_FLAGS] = flags;
  return a;
}
