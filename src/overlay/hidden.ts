// Files unlinked while open. libfuse 2 keeps a name for them (it renames them to
// .fuse_hiddenXXXX and unlinks that name at the last close) so that calls like fstat, which the
// kernel sends by path, still reach them. layerfs takes that rename as "hide": the name is
// removed as by unlink (a whiteout where a lower layer holds it, never a copy-up), an upper
// object moves into workdir/work, and the hidden name lives only here, never in upper.
import * as host from '../host/fs';
import { FsError, ignoreENOENT } from '../host/errors';
import type { Entry } from './namei';

/** libfuse's names for unlinked open files (.fuse_hidden%08x%08x): reserved, never made in upper. */
export const isHiddenName = (name: string): boolean => /^\.fuse_hidden[0-9a-f]{16}$/.test(name);

interface HiddenFile {
  /** Where the object now is: workdir/work for an upper object, its lower path otherwise. */
  hostPath: string;
  /** The object lives in workdir and is ours to delete at the last close. */
  owned: boolean;
}

export class HiddenFiles {
  private readonly files = new Map<string, HiddenFile>();

  has = (path: string): boolean => this.files.has(path);

  /** Records that `entry` now goes by the hidden `path`, at hostPath (moved there by the caller when owned). */
  add(path: string, entry: Entry, hostPath: string, owned: boolean): void {
    this.files.set(path, { hostPath: owned ? hostPath : entry.hostPath, owned });
  }

  stat(path: string): host.Stat {
    return host.mustLstat(this.get(path).hostPath);
  }

  /** The host path to change for chmod/chown/utimens/truncate; a hidden lower file cannot change. */
  writable(path: string): string {
    const f = this.get(path);
    if (!f.owned) throw new FsError('ENOENT', path, 'an unlinked lower file');
    return f.hostPath;
  }

  /** The last close: the object goes for good. */
  remove(path: string): void {
    const f = this.get(path);
    this.files.delete(path);
    if (f.owned) ignoreENOENT(() => host.unlink(f.hostPath));
  }

  private get(path: string): HiddenFile {
    const f = this.files.get(path);
    if (f === undefined) throw new FsError('ENOENT', path);
    return f;
  }
}
