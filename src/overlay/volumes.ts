// Volumes: a host directory that stands at a path of the merged view (docker run -v HOST:/path).
// Everything at or below that path is the host directory itself: no layers, no copy-up, no
// whiteouts; writes land in the host directory and outlive the container layer.
import { join, posix } from 'node:path';
import * as host from '../host/fs';
import { FsError } from '../host/errors';
import * as xattr from './xattr';
import type { Caller } from './context';

export interface Volume {
  /** Absolute path inside the mount, e.g. /data. */
  path: string;
  /** The host directory shown there. */
  hostDir: string;
}

export interface VolumeHit {
  volume: Volume;
  hostPath: string;
}

/** Parses HOSTDIR:/path (the -v syntax) into a Volume; throws with a one-line reason. */
export function parseVolume(spec: string): Volume {
  const i = spec.lastIndexOf(':');
  if (i <= 0) throw new Error(`volume ${spec} must be HOSTDIR:/path`);
  const hostDir = spec.slice(0, i);
  const path = posix.normalize(spec.slice(i + 1));
  if (!path.startsWith('/') || path === '/') throw new Error(`volume ${spec}: the path inside the mount must be absolute and not /`);
  const st = host.lstat(hostDir);
  if (st === undefined || !host.isDir(st)) throw new Error(`volume ${spec}: ${hostDir} is not a directory`);
  // Resolved once, like a layer root: nothing below it is followed (host.confine).
  return { path: path.replace(/\/$/, ''), hostDir: host.realpath(hostDir) };
}

export class Volumes {
  constructor(readonly list: Volume[]) {}

  /** The volume a path falls in, with the path's host path; undefined outside every volume. */
  match(path: string): VolumeHit | undefined {
    for (const volume of this.list) {
      if (path === volume.path) return { volume, hostPath: volume.hostDir };
      if (path.startsWith(volume.path + '/')) return { volume, hostPath: join(volume.hostDir, path.slice(volume.path.length)) };
    }
    return undefined;
  }
}

/** The filesystem calls inside a volume: plain calls on the host directory. */
export class Passthrough {
  getattr = (v: VolumeHit): host.Stat => host.mustLstat(v.hostPath);
  readlink = (v: VolumeHit): string => host.readlink(v.hostPath);
  readdir = (v: VolumeHit): host.DirEntry[] => host.readdir(v.hostPath).sort(host.byName);

  open(v: VolumeHit, flags: number, passFlags: number): number {
    return host.open(v.hostPath, (flags & passFlags) | host.O.O_NOFOLLOW);
  }

  create(v: VolumeHit, mode: number, caller: Caller, privileged: boolean): number {
    const fd = host.open(v.hostPath, host.O.O_RDWR | host.O.O_CREAT | host.O.O_EXCL | host.O.O_NOFOLLOW, mode);
    if (privileged) host.lchown(v.hostPath, caller.uid, caller.gid);
    return fd;
  }

  make(v: VolumeHit, caller: Caller, privileged: boolean, make: (p: string) => void): void {
    make(v.hostPath);
    if (privileged) host.lchown(v.hostPath, caller.uid, caller.gid);
  }

  unlink = (v: VolumeHit): void => host.unlink(v.hostPath);

  rmdir(v: VolumeHit): void {
    if (v.hostPath === v.volume.hostDir) throw new FsError('EBUSY', v.volume.path, 'a volume mount point');
    host.rmdir(v.hostPath);
  }

  /** Within one volume only: a rename across the boundary is a move between filesystems. */
  rename(from: VolumeHit, to: VolumeHit | undefined): void {
    if (to === undefined || to.volume !== from.volume || from.hostPath === from.volume.hostDir) throw new FsError('EXDEV', from.hostPath);
    host.rename(from.hostPath, to.hostPath);
  }

  link(from: VolumeHit, to: VolumeHit | undefined): void {
    if (to === undefined || to.volume !== from.volume) throw new FsError('EXDEV', from.hostPath);
    host.link(from.hostPath, to.hostPath);
  }

  chmod = (v: VolumeHit, mode: number): void => host.chmod(v.hostPath, mode & 0o7777);
  chown = (v: VolumeHit, uid: number, gid: number): void => host.lchown(v.hostPath, uid, gid);
  utimens = (v: VolumeHit, aSec: number, aNsec: number, mSec: number, mNsec: number): void =>
    host.utimens(v.hostPath, aSec, aNsec, mSec, mNsec);

  truncate(v: VolumeHit, size: number): void {
    const fd = host.open(v.hostPath, host.O.O_WRONLY | host.O.O_NOFOLLOW);
    try {
      host.ftruncate(fd, size);
    } finally {
      host.close(fd);
    }
  }

  getxattr = (v: VolumeHit, name: string): Buffer => xattr.getxattr(v.hostPath, name, 'kernel');
  listxattr = (v: VolumeHit): string[] => xattr.listxattr(v.hostPath, 'kernel');
  setxattr = (v: VolumeHit, name: string, value: Buffer, flags: number): void => xattr.setxattr(v.hostPath, name, value, flags, 'kernel');
  removexattr = (v: VolumeHit, name: string): void => xattr.removexattr(v.hostPath, name, 'kernel');
}
