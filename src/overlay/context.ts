// What every overlay module shares for one mount: the layers, the lookup cache, the on-disk
// format in use, the logger and the event sink that the live trace listens to.
import type { Logger } from 'pino';
import type { LayerStack } from './layers';
import type { Namei } from './namei';
import type { WhiteoutFormat } from './whiteout';
import { FsError } from '../host/errors';

/** The process a request comes from (fuse_get_context), used for ownership of new objects. */
export interface Caller {
  uid: number;
  gid: number;
  pid: number;
  umask: number;
}

export const ROOT_CALLER: Caller = { uid: 0, gid: 0, pid: 0, umask: 0 };

/** A change the overlay made to the upper layer, for the live trace and tools. */
export interface OverlayEvent {
  op: 'copy-up' | 'whiteout' | 'opaque' | 'create' | 'mkdir' | 'remove' | 'rename';
  path: string;
  /** Layer the object came from (copy-up) or 'upper'. */
  layer?: string;
  bytes?: number;
  ms?: number;
  to?: string;
}

export interface OverlayContext {
  readonly stack: LayerStack;
  readonly namei: Namei;
  readonly format: WhiteoutFormat;
  readonly log: Logger;
  /** Whether the daemon may chown (it runs as root); otherwise new objects keep the daemon's ids. */
  readonly privileged: boolean;
  /** No fsync reaches the disk (faster; a crash may lose recent changes, as the kernel's volatile). */
  readonly volatile: boolean;
  emit(ev: OverlayEvent): void;
}

export function requireUpper(ctx: OverlayContext, path: string): string {
  if (ctx.stack.upper === undefined) throw new FsError('EROFS', path);
  return ctx.stack.upper;
}
