// Whiteouts and opaque directories: the only module that knows their on-disk encodings.
// Read: the kernel's (char device 0/0, trusted.overlay.opaque=y), the unprivileged kernel and
// fuse-overlayfs xattrs, and OCI's (.wh.NAME, .wh..wh..opq). Write: the kernel's when the daemon
// may create devices and trusted.* xattrs, otherwise fuse-overlayfs's fallback (docs/on-disk.md).
import { join } from 'node:path';
import * as host from '../host/fs';
import type { Stat } from '../host/fs';
import { ignoreENOENT } from '../host/errors';

export const OCI_PREFIX = '.wh.';
export const OCI_OPAQUE = '.wh..wh..opq';
export const KERNEL_OPAQUE_XATTR = 'trusted.overlay.opaque';
const UNPRIVILEGED_OPAQUE_XATTR = 'user.fuseoverlayfs.opaque';
const OPAQUE_XATTRS = [KERNEL_OPAQUE_XATTR, 'user.overlay.opaque', UNPRIVILEGED_OPAQUE_XATTR];
const YES = Buffer.from('y');
const PROBE_XATTR = 'trusted.overlay.layerfs-probe';

export type WhiteoutFormat = 'kernel' | 'oci';

// overlayfs: a whiteout is a character device with device number 0/0.
export const isWhiteout = (st: Pick<Stat, 'mode' | 'rdev'>): boolean => (st.mode & host.S_IFMT) === host.S_IFCHR && st.rdev === 0;

/** True for a name that is an OCI marker (.wh.NAME or the opaque sentinel), never a real entry. */
export const isMarkerName = (name: string): boolean => name.startsWith(OCI_PREFIX);

/** For an OCI whiteout name, the name it hides; undefined for the opaque sentinel or other names. */
export function hiddenByMarker(name: string): string | undefined {
  if (!name.startsWith(OCI_PREFIX) || name === OCI_OPAQUE) return undefined;
  return name.slice(OCI_PREFIX.length);
}

/**
 * Whether a directory's own xattrs mark it opaque (readers of its entries check the
 * .wh..wh..opq sentinel). Lower layers may use any format; in upper, only the marks of the
 * format this mount writes count, so an attribute a caller may set never hides anything.
 */
export function hasOpaqueXattr(dirHostPath: string, format?: WhiteoutFormat): boolean {
  const names = format === 'kernel' ? [KERNEL_OPAQUE_XATTR] : OPAQUE_XATTRS;
  return names.some((x) => host.getxattr(dirHostPath, x)?.equals(YES) === true);
}

/** Opacity of a directory in upper, for a mount writing `format`. */
export function isOpaqueDir(dirHostPath: string, format: WhiteoutFormat): boolean {
  return hasOpaqueXattr(dirHostPath, format) || host.exists(join(dirHostPath, OCI_OPAQUE));
}

export function markOpaque(dirHostPath: string, format: WhiteoutFormat): void {
  host.setxattr(dirHostPath, format === 'kernel' ? KERNEL_OPAQUE_XATTR : UNPRIVILEGED_OPAQUE_XATTR, YES);
}

/** The OCI marker of `name` in a directory (the unprivileged whiteout). */
export const markerPath = (dirHostPath: string, name: string): string => join(dirHostPath, OCI_PREFIX + name);

/** Whether a directory holds an OCI whiteout for `name`; a name too long to have one has none. */
export function hasMarker(dirHostPath: string, name: string): boolean {
  return Buffer.byteLength(name) + OCI_PREFIX.length <= 255 && host.exists(markerPath(dirHostPath, name));
}

/** Creates a whiteout object at hostPath (the kernel format: a 0/0 character device, mode 0). */
export function makeKernelWhiteout(hostPath: string): void {
  host.mknod(hostPath, host.S_IFCHR, 0);
}

/**
 * Finds out at mount which format this daemon can write: creating a 0/0 device and a trusted.*
 * xattr needs CAP_MKNOD and CAP_SYS_ADMIN, which a user mounting as themselves lacks.
 */
export function probeFormat(workTmp: string): WhiteoutFormat {
  const probe = join(workTmp, '#probe');
  try {
    makeKernelWhiteout(probe);
    host.setxattr(workTmp, PROBE_XATTR, YES);
    host.removexattr(workTmp, PROBE_XATTR);
    return 'kernel';
  } catch {
    return 'oci';
  } finally {
    ignoreENOENT(() => host.unlink(probe));
  }
}
