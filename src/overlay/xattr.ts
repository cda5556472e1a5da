// Extended attributes through the mount (≈ fs/overlayfs/xattrs.c). The overlay's own attributes
// are never shown; a caller's trusted.overlay.NAME is stored escaped as trusted.overlay.overlay.NAME
// (kernel 6.x), so nothing a caller sets can change how the overlay behaves.
import * as host from '../host/fs';
import { FsError } from '../host/errors';

const OVL = 'trusted.overlay.';
const ESCAPED = 'trusted.overlay.overlay.';
const PRIVATE_USER = ['user.fuseoverlayfs.', 'user.overlay.'];

/** An attribute of the overlay itself (opaque, origin, impure, ...), as stored on disk. */
export function isPrivateXattr(stored: string): boolean {
  if (stored.startsWith(OVL)) return !stored.startsWith(ESCAPED);
  return PRIVATE_USER.some((p) => stored.startsWith(p));
}

/** The on-disk name of an attribute name a caller uses. */
export const storedName = (name: string): string => (name.startsWith(OVL) ? OVL + 'overlay.' + name.slice(OVL.length) : name);

/** The name a caller sees for an on-disk attribute name; undefined for private ones. */
export function visibleName(stored: string): string | undefined {
  if (stored.startsWith(ESCAPED)) return OVL + stored.slice(ESCAPED.length);
  return isPrivateXattr(stored) ? undefined : stored;
}

/** Copy-up of attributes: everything but the overlay's private ones. */
export function copyXattrs(from: string, to: string): void {
  for (const name of host.listxattr(from)) {
    if (isPrivateXattr(name)) continue;
    const value = host.getxattr(from, name);
    if (value !== undefined) host.setxattr(to, name, value);
  }
}

export function getxattr(hostPath: string, name: string): Buffer {
  const stored = storedName(name);
  const value = isPrivateXattr(stored) ? undefined : host.getxattr(hostPath, stored);
  if (value === undefined) throw new FsError('ENODATA', hostPath, `no attribute ${name}`);
  return value;
}

export function listxattr(hostPath: string): string[] {
  const names: string[] = [];
  for (const stored of host.listxattr(hostPath)) {
    const name = visibleName(stored);
    if (name !== undefined) names.push(name);
  }
  return names;
}

export function setxattr(hostPath: string, name: string, value: Buffer, flags: number): void {
  host.setxattr(hostPath, storedName(name), value, flags);
}

export function removexattr(hostPath: string, name: string): void {
  const stored = storedName(name);
  if (isPrivateXattr(stored)) throw new FsError('ENODATA', hostPath, `no attribute ${name}`);
  host.removexattr(hostPath, stored);
}
