// Daemon lifecycle (mounts.ts checks the mountpoint first): mounts the overlay through fuse-native,
// serves until SIGINT/SIGTERM or an external unmount (fusermount -u, umount), then unmounts and flushes logs.
import Fuse from 'fuse-native';
import type { Logger } from 'pino';
import type { LayerStack } from '../overlay/layers';
import { Overlay } from '../overlay/overlay';
import type { OverlayEvent } from '../overlay/context';
import type { WhiteoutFormat } from '../overlay/whiteout';
import type { Volume } from '../overlay/volumes';
import { makeOps } from '../fuse/ops';
import { FSTYPE, fusermount, mountAt } from './mounts';

const WATCH_MS = 1000;

export interface DaemonOptions {
  stack: LayerStack;
  mountpoint: string;
  /** Extra FUSE flags asked for by the user (ro, allow_other, ...). */
  fuseFlags?: string[];
  log: Logger;
  /** Print each change to stderr for a class: human lines or JSON. */
  trace?: 'text' | 'json' | undefined;
  volumes?: Volume[];
  volatile?: boolean;
  /** Force the whiteout format written (default: probed). */
  format?: WhiteoutFormat | undefined;
}

/**
 * The FUSE options of a mount (docs/design.md says why each); `extra` adds or overrides. With
 * volumes, names can appear from outside the mount (other containers, the host), so a name found
 * missing is asked again after a second instead of an hour.
 */
export function fuseOptions(stack: LayerStack, extra: string[] = [], volumes = false): string[] {
  const opts = new Map<string, string | undefined>([
    ['fsname', 'layerfs'], ['subtype', 'layerfs'], ['use_ino', undefined],
    ['nonempty', undefined], ['default_permissions', undefined], ['big_writes', undefined], ['max_write', '131072'],
    ['auto_cache', undefined], ['attr_timeout', '1'], ['entry_timeout', '3600'], ['negative_timeout', volumes ? '1' : '3600'],
  ]);
  if (process.getuid?.() === 0) opts.set('allow_other', undefined);
  if (!stack.writable) opts.set('ro', undefined);
  for (const flag of extra) {
    const eq = flag.indexOf('=');
    opts.set(eq < 0 ? flag : flag.slice(0, eq), eq < 0 ? undefined : flag.slice(eq + 1));
  }
  return [...opts].map(([k, v]) => (v === undefined ? k : `${k}=${v}`));
}

export class Daemon {
  readonly ovl: Overlay;
  private readonly fuse: Fuse;
  private watch: NodeJS.Timeout | undefined;
  private finished: Promise<void>;
  private finish!: () => void;

  constructor(private readonly opts: DaemonOptions) {
    // Modes from the kernel are already masked by the caller's umask; ours must not mask again.
    process.umask(0);
    this.ovl = new Overlay(opts.stack, { log: opts.log.child({ component: 'overlay' }), format: opts.format, volumes: opts.volumes, volatile: opts.volatile });
    if (opts.trace !== undefined) this.ovl.on('change', (ev: OverlayEvent) => process.stderr.write(formatEvent(ev, opts.trace!)));
    const log = opts.log.child({ component: 'fuse' });
    const ops = makeOps(this.ovl, log, () => {
      const c = this.fuse.contextArray;
      return { uid: c[0]!, gid: c[1]!, pid: c[2]!, umask: c[3]! };
    });
    this.fuse = new Fuse(opts.mountpoint, ops, { timeout: false, fsync: !this.ovl.ctx.volatile, options: fuseOptions(opts.stack, opts.fuseFlags, (opts.volumes ?? []).length > 0) });
    // Data ops on open files are served by fuse-native from the handle's descriptor (no JS hop).
    this.ovl.files.onDescriptor = (fh, fd, about) =>
      this.fuse.setFd(fh, fd, about?.path, about === undefined ? 0 : (about.named ? Fuse.SET_FD_NAMED : 0) | (about.bare ? Fuse.SET_FD_BARE : 0));
    this.finished = new Promise((res) => (this.finish = res));
  }

  async mount(): Promise<void> {
    await new Promise<void>((res, rej) => this.fuse.mount((err) => (err ? rej(err) : res())));
    this.opts.log.info({ op: 'mount', path: this.opts.mountpoint, format: this.ovl.ctx.format }, 'mounted');
    // Someone else may unmount (fusermount -u, umount): then the daemon's work is done.
    this.watch = setInterval(() => {
      if (mountAt(this.opts.mountpoint)?.fstype !== FSTYPE) this.stop('unmounted from outside');
    }, WATCH_MS);
  }

  /** Resolves when the daemon has stopped serving. */
  get done(): Promise<void> {
    return this.finished;
  }

  /** Unmounts (refusing nothing: a busy mount stays, and the error says so) and stops. */
  async unmount(): Promise<void> {
    if (mountAt(this.opts.mountpoint)?.fstype === FSTYPE) await fusermount(this.opts.mountpoint, false);
    this.stop('unmounted');
  }

  private stop(why: string): void {
    if (this.watch !== undefined) clearInterval(this.watch);
    this.watch = undefined;
    this.opts.log.info({ op: 'umount', path: this.opts.mountpoint, open: this.ovl.files.openCount }, why);
    this.finish();
  }
}

const kB = (n: number): string => (n < 1024 ? `${n} B` : n < 1048576 ? `${(n / 1024).toFixed(1)} kB` : `${(n / 1048576).toFixed(1)} MB`);

/** One line of the live trace: readable by a class, or JSON for tools. */
export function formatEvent(ev: OverlayEvent, style: 'text' | 'json'): string {
  if (style === 'json') return JSON.stringify({ time: new Date().toISOString(), ...ev }) + '\n';
  switch (ev.op) {
    case 'copy-up':
      return `copy-up  ${ev.path} from ${ev.layer}${ev.bytes !== undefined ? ` (${kB(ev.bytes)}, ${ev.ms} ms)` : ' (directory)'}\n`;
    case 'whiteout':
      return `whiteout ${ev.path} (hides the lower copy)\n`;
    case 'rename':
      return `rename   ${ev.path} -> ${ev.to}\n`;
    default:
      return `${ev.op.padEnd(8)} ${ev.path}\n`;
  }
}
