// The overlay filesystem of one mount: every entry point, named after its syscall. Knows nothing
// of FUSE; errors are FsError values with an errno code.
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { LayerStack, prepareWorkdir } from './layers';
import { Namei, type ResolveHook } from './namei';
import { CopyUp } from './copy-up';
import { DirOps } from './dir-ops';
import { FileOps } from './file-ops';
import { AttrOps } from './attr';
import { readdirMerged } from './readdir';
import { probeFormat, type WhiteoutFormat } from './whiteout';
import { ROOT_CALLER, type Caller, type OverlayContext, type OverlayEvent } from './context';
import { Passthrough, Volumes, type Volume, type VolumeHit } from './volumes';
import { HiddenFiles, isHiddenName } from './hidden';
import { baseName } from './namei';
import { PASS_FLAGS } from './file-ops';
import * as host from '../host/fs';
import { FsError } from '../host/errors';

export interface OverlayOptions {
  log: Logger;
  /** Host directories shown at paths of the view (docker -v). */
  volumes?: Volume[];
  volatile?: boolean | undefined;
  /** Force a whiteout format instead of probing what the daemon may create. */
  format?: WhiteoutFormat | undefined;
}

function resolveLogger(log: Logger): ResolveHook | undefined {
  if (!log.isLevelEnabled('debug')) return undefined;
  return (path, layer) => log.debug({ op: 'lookup', path, layer }, 'lookup');
}

export class Overlay extends EventEmitter {
  readonly ctx: OverlayContext;
  readonly copyUp: CopyUp;
  readonly dirOps: DirOps;
  readonly files: FileOps;
  readonly attrs: AttrOps;
  readonly volumes: Volumes;
  private readonly pass = new Passthrough();
  private readonly hidden = new HiddenFiles();

  constructor(
    readonly stack: LayerStack,
    opts: OverlayOptions,
  ) {
    super();
    const volumes = opts.volumes ?? [];
    host.confine([...stack.roots.filter((r) => r !== ''), ...(stack.work === undefined ? [] : [stack.work]), ...volumes.map((v) => v.hostDir)]);
    const cleaned = prepareWorkdir(stack);
    if (cleaned > 0) opts.log.warn({ op: 'mount', count: cleaned }, 'removed leftovers of an interrupted operation from workdir');
    const format = opts.format ?? (stack.workTmp === undefined ? 'kernel' : probeFormat(stack.workTmp));
    this.ctx = {
      stack,
      namei: new Namei(stack, format, resolveLogger(opts.log)),
      format,
      log: opts.log,
      privileged: process.getuid?.() === 0,
      volatile: opts.volatile === true,
      emit: (ev: OverlayEvent) => this.emit('change', ev),
    };
    this.copyUp = new CopyUp(this.ctx);
    this.dirOps = new DirOps(this.ctx, this.copyUp);
    this.files = new FileOps(this.ctx, this.copyUp, this.dirOps);
    this.attrs = new AttrOps(this.ctx, this.copyUp);
    this.volumes = new Volumes(volumes);
    this.volumes.list.forEach((v) => this.makeMountpoint(v));
    this.on('change', (ev: OverlayEvent) => {
      if (ev.op === 'copy-up' && ev.bytes !== undefined) this.files.followCopyUp(ev.path, stack.hostPath(0, ev.path));
    });
  }

  /**
   * True when nothing but requests through this overlay can change what path shows: false at
   * and below a volume, whose host directory other containers and the host also write.
   */
  isPrivate(path: string): boolean {
    return this.volumes.match(path) === undefined;
  }

  /** Runs `inVolume` for a path inside a volume, `outside` for the layered tree. */
  private route<A, B>(path: string, inVolume: (v: VolumeHit) => A, outside: () => B): A | B {
    const v = this.volumes.match(path);
    return v === undefined ? outside() : inVolume(v);
  }

  /** A volume needs a directory to stand on, made in upper when the image has none (as Docker does). */
  private makeMountpoint(v: Volume): void {
    const parts = v.path.split('/').filter(Boolean);
    for (let i = 1; i <= parts.length; i++) {
      const path = '/' + parts.slice(0, i).join('/');
      const entry = this.ctx.namei.lookup(path);
      if (entry === undefined && !this.stack.writable) throw new FsError('EROFS', path, `volume target ${v.path} is missing in a read-only view`);
      if (entry === undefined) this.dirOps.mkdir(path, 0o755, ROOT_CALLER);
      else if (!host.isDir(entry.stat)) throw new FsError('ENOTDIR', path, `volume target ${v.path} is not a directory in the image`);
    }
  }

  getattr = (path: string) =>
    this.route(path, (v) => this.pass.getattr(v), () => (this.hidden.has(path) ? this.hidden.stat(path) : this.attrs.getattr(path)));
  readlink = (path: string) => this.route(path, (v) => this.pass.readlink(v), () => this.attrs.readlink(path));
  readdir = (path: string) => this.route(path, (v) => this.pass.readdir(v), () => readdirMerged(this.stack, this.ctx.namei, path));
  statfs = () => this.attrs.statfs();
  chmod = (path: string, mode: number) =>
    this.route(path, (v) => this.pass.chmod(v, mode), () =>
      this.hidden.has(path) ? host.chmod(this.hidden.writable(path), mode & 0o7777) : this.attrs.chmod(path, mode));
  chown = (path: string, uid: number, gid: number) =>
    this.route(path, (v) => this.pass.chown(v, uid, gid), () =>
      this.hidden.has(path) ? host.lchown(this.hidden.writable(path), uid, gid) : this.attrs.chown(path, uid, gid));
  utimens = (path: string, aSec: number, aNsec: number, mSec: number, mNsec: number) =>
    this.route(path, (v) => this.pass.utimens(v, aSec, aNsec, mSec, mNsec), () =>
      this.hidden.has(path) ? host.utimens(this.hidden.writable(path), aSec, aNsec, mSec, mNsec) : this.attrs.utimens(path, aSec, aNsec, mSec, mNsec));
  truncate = (path: string, size: number) => this.route(path, (v) => this.pass.truncate(v, size), () => this.attrs.truncate(path, size));
  getxattr = (path: string, name: string) => this.route(path, (v) => this.pass.getxattr(v, name), () => this.attrs.getxattr(path, name));
  listxattr = (path: string) => this.route(path, (v) => this.pass.listxattr(v), () => this.attrs.listxattr(path));
  setxattr = (path: string, name: string, value: Buffer, flags: number) =>
    this.route(path, (v) => this.pass.setxattr(v, name, value, flags), () => this.attrs.setxattr(path, name, value, flags));
  removexattr = (path: string, name: string) =>
    this.route(path, (v) => this.pass.removexattr(v, name), () => this.attrs.removexattr(path, name));

  mkdir = (path: string, mode: number, caller: Caller) =>
    this.route(path, (v) => this.pass.make(v, caller, this.ctx.privileged, (p) => host.mkdir(p, mode)), () => this.dirOps.mkdir(path, mode, caller));
  mknod = (path: string, mode: number, dev: number, caller: Caller) =>
    this.route(path, (v) => this.pass.make(v, caller, this.ctx.privileged, (p) => host.mknod(p, mode, dev)), () => this.dirOps.mknod(path, mode, dev, caller));
  symlink = (target: string, path: string, caller: Caller) =>
    this.route(path, (v) => this.pass.make(v, caller, this.ctx.privileged, (p) => host.symlink(target, p)), () => this.dirOps.symlink(target, path, caller));
  link = (existing: string, path: string, caller: Caller) =>
    this.route(existing, (v) => this.pass.link(v, this.volumes.match(path)), () => this.route(path, () => { throw new FsError('EXDEV', path); }, () => this.dirOps.link(existing, path, caller)));
  unlink = (path: string) =>
    this.route(path, (v) => this.pass.unlink(v), () => (this.hidden.has(path) ? this.hidden.remove(path) : this.dirOps.unlink(path)));
  rmdir = (path: string) => this.route(path, (v) => this.pass.rmdir(v), () => this.dirOps.rmdir(path));
  rename = (from: string, to: string) =>
    this.route(from, (v) => this.pass.rename(v, this.volumes.match(to)), () => this.route(to, () => { throw new FsError('EXDEV', to); }, () =>
      isHiddenName(baseName(to)) ? this.dirOps.hide(from, to, this.hidden) : this.dirOps.rename(from, to)));

  open = (path: string, flags: number) =>
    this.route(path, (v) => this.files.adopt(this.pass.open(v, flags, PASS_FLAGS), path), () => this.files.open(path, flags));
  create = (path: string, mode: number, caller: Caller) =>
    this.route(path, (v) => this.files.adopt(this.pass.create(v, mode, caller, this.ctx.privileged), path), () => this.files.create(path, mode, caller));
  read = (fh: number, buf: Buffer, len: number, pos: number) => this.files.read(fh, buf, len, pos);
  write = (fh: number, buf: Buffer, len: number, pos: number) => this.files.write(fh, buf, len, pos);
  ftruncate = (fh: number, size: number) => this.files.ftruncate(fh, size);
  fsync = (fh: number, datasync: boolean) => this.files.fsync(fh, datasync);
  fsyncdir = (path: string) => this.route(path, (v) => this.files.fsyncPath(v.hostPath), () => this.files.fsyncdir(path));
  fgetattr = (fh: number) => this.files.fgetattr(fh);
  release = (fh: number) => this.files.release(fh);
}
