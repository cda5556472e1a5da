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
import type { Caller, OverlayContext, OverlayEvent } from './context';

export interface OverlayOptions {
  log: Logger;
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

  constructor(
    readonly stack: LayerStack,
    opts: OverlayOptions,
  ) {
    super();
    const cleaned = prepareWorkdir(stack);
    if (cleaned > 0) opts.log.warn({ op: 'mount', count: cleaned }, 'removed leftovers of an interrupted operation from workdir');
    const format = opts.format ?? (stack.workTmp === undefined ? 'kernel' : probeFormat(stack.workTmp));
    this.ctx = {
      stack,
      namei: new Namei(stack, resolveLogger(opts.log)),
      format,
      log: opts.log,
      privileged: process.getuid?.() === 0,
      emit: (ev: OverlayEvent) => this.emit('change', ev),
    };
    this.copyUp = new CopyUp(this.ctx);
    this.dirOps = new DirOps(this.ctx, this.copyUp);
    this.files = new FileOps(this.ctx, this.copyUp, this.dirOps);
    this.attrs = new AttrOps(this.ctx, this.copyUp);
    this.on('change', (ev: OverlayEvent) => {
      if (ev.op === 'copy-up' && ev.bytes !== undefined) this.files.followCopyUp(ev.path, stack.hostPath(0, ev.path));
    });
  }

  getattr = (path: string) => this.attrs.getattr(path);
  readlink = (path: string) => this.attrs.readlink(path);
  readdir = (path: string) => readdirMerged(this.stack, this.ctx.namei, path);
  statfs = () => this.attrs.statfs();
  chmod = (path: string, mode: number) => this.attrs.chmod(path, mode);
  chown = (path: string, uid: number, gid: number) => this.attrs.chown(path, uid, gid);
  utimens = (path: string, aSec: number, aNsec: number, mSec: number, mNsec: number) =>
    this.attrs.utimens(path, aSec, aNsec, mSec, mNsec);
  truncate = (path: string, size: number) => this.attrs.truncate(path, size);
  getxattr = (path: string, name: string) => this.attrs.getxattr(path, name);
  listxattr = (path: string) => this.attrs.listxattr(path);
  setxattr = (path: string, name: string, value: Buffer, flags: number) => this.attrs.setxattr(path, name, value, flags);
  removexattr = (path: string, name: string) => this.attrs.removexattr(path, name);

  mkdir = (path: string, mode: number, caller: Caller) => this.dirOps.mkdir(path, mode, caller);
  mknod = (path: string, mode: number, dev: number, caller: Caller) => this.dirOps.mknod(path, mode, dev, caller);
  symlink = (target: string, path: string, caller: Caller) => this.dirOps.symlink(target, path, caller);
  link = (existing: string, path: string, caller: Caller) => this.dirOps.link(existing, path, caller);
  unlink = (path: string) => this.dirOps.unlink(path);
  rmdir = (path: string) => this.dirOps.rmdir(path);
  rename = (from: string, to: string) => this.dirOps.rename(from, to);

  open = (path: string, flags: number) => this.files.open(path, flags);
  create = (path: string, mode: number, caller: Caller) => this.files.create(path, mode, caller);
  read = (fh: number, buf: Buffer, len: number, pos: number) => this.files.read(fh, buf, len, pos);
  write = (fh: number, buf: Buffer, len: number, pos: number) => this.files.write(fh, buf, len, pos);
  ftruncate = (fh: number, size: number) => this.files.ftruncate(fh, size);
  fsync = (fh: number, datasync: boolean) => this.files.fsync(fh, datasync);
  fgetattr = (fh: number) => this.files.fgetattr(fh);
  release = (fh: number) => this.files.release(fh);
}
