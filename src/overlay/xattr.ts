// Extended attributes through the mount (≈ fs/overlayfs/xattrs.c). The overlay's own attributes
// are never shown; a caller's trusted.overlay.NAME is stored escaped as trusted.overlay.overlay.NAME
// (kernel 6.x), so nothing a caller sets can change how the overlay behaves.
import * as host from '../host/fs';
import { FsError } from '../host/errors';
import type { WhiteoutFormat } from './whiteout';

const OVL = 'trusted.overlay.';
const ESCAPED = 'trusted.overlay.overlay.';
// The unprivileged marks (fuse-overlayfs, the kernel's userxattr mode).
const OVL_USER = ['user.fuseoverlayfs.', 'user.overlay.'];

/** An overlay mark in any format, as stored on disk: never copied up. */
export function isOverlayXattr(stored: string): boolean {
  if (stored.startsWith(OVL)) return !stored.startsWith(ESCAPED);
  return OVL_USER.some((p) => stored.startsWith(p));
}

/**
 * Hidden from callers and refused to them: the marks this mount reads in upper. In the kernel
 * format user.overlay.* is an ordinary attribute (as on a kernel mount without userxattr).
 */
export function isPrivateXattr(stored: string, format: WhiteoutFormat): boolean {
  if (stored.startsWith(OVL)) return !stored.startsWith(ESCAPED);
  return format === 'oci' && OVL_USER.some((p) => stored.startsWith(p));
}

/** The on-disk name of an attribute name a caller uses. */
export const storedName = (name: string): string => (name.startsWith(OVL) ? OVL + 'overlay.' + name.slice(OVL.length) : name);

/** The name a caller sees for an on-disk attribute name; undefined for private ones. */
function visibleName(stored: string, format: WhiteoutFormat): string | undefined {
  if (stored.startsWith(ESCAPED)) return OVL + stored.slice(ESCAPED.length);
  return isPrivateXattr(stored, format) ? undefined : stored;
}

/** Copy-up of attributes: everything but overlay marks. */
export function copyXattrs(from: host.Target, to: host.Target): void {
  for (const name of host.listxattr(from)) {
    if (isOverlayXattr(name)) continue;
    const value = host.getxattr(from, name);
    if (value !== undefined) host.setxattr(to, name, value);
  }
}

export function getxattr(hostPath: string, name: string, format: WhiteoutFormat): Buffer {
  const stored = storedName(name);
  const value = isPrivateXattr(stored, format) ? undefined : host.getxattr(hostPath, stored);
  if (value === undefined) throw new FsError('ENODATA', hostPath, `no attribute ${name}`);
  return value;
}

export function listxattr(hostPath: string, format: WhiteoutFormat): string[] {
  const names: string[] = [];
  for (const stored of host.listxattr(hostPath)) {
    const name = visibleName(stored, format);
    if (name !== undefined) names.push(name);
  }
  return names;
}

export function setxattr(hostPath: string, name: string, value: Buffer, flags: number, format: WhiteoutFormat): void {
  const stored = storedName(name);
  if (isPrivateXattr(stored, format)) throw new FsError('EPERM', hostPath, `${name} is reserved for the overlay's own marks`);
  host.setxattr(hostPath, stored, value, flags);
}

export function removexattr(hostPath: string, name: string, format: WhiteoutFormat): void {
  const stored = storedName(name);
  if (isPrivateXattr(stored, format)) throw new FsError('ENODATA', hostPath, `no attribute ${name}`);
  host.removexattr(hostPath, stored);
}
