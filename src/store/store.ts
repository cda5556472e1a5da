// The image store: where layers, images and containers live, how its metadata is written
// (atomically: temp file + rename) and how concurrent commands are serialized (a lock file).
//
// Layout (docs/instructor-walkthrough.md, docs/user-guide.md):
//   ROOT/layerfs-store.json             marker: {"layerfsStore": 1}
//   ROOT/lock                           held by the one command changing the store ("PID STARTTIME CMD")
//   ROOT/layers/<hex>/diff/             an immutable layer, kernel overlayfs format
//   ROOT/layers/<hex>/layer.json        its metadata (Id, Size, Created, Source)
//   ROOT/layers/<hex>/oci-blob[.json]   for a layer imported from an OCI image: its original blob
//                                       (and media type), so an export keeps the image's digests
//   ROOT/images/<hex>.json              an image: its layers, bottom first
//   ROOT/repositories.json              tags: {"name:tag": "sha256:<image id>"}
//   ROOT/containers/<hex>/container.json, upper/, work/
//   ROOT/tmp/<pid>-<random>/            staging and trash; whatever a dead pid left is removed
//   ROOT/locks/<name>                   a narrower lock (one layer being pulled), same format as ROOT/lock
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const DEFAULT_STORE = '/var/lib/layerfs';
export const MARKER = 'layerfs-store.json';
const STORE_VERSION = 1;
/** Entries another part of layerfs keeps in the default store directory (make demo). */
const TOLERATED = new Set(['demo']);

/** A refusal or a problem with the store, printed as one line. */
export class StoreError extends Error {}

export function storeRoot(flag?: string): string {
  return resolve(flag ?? process.env.LAYERFS_STORE ?? DEFAULT_STORE);
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The start time of a process (field 22 of /proc/PID/stat), to tell a reused pid from the original. */
function startTime(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '?';
  } catch {
    return '?';
  }
}

/** Writes JSON so that readers see the old or the new content, never a part (temp + fsync + rename). */
export function writeJsonAtomic(path: string, value: unknown): void {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'w', 0o644);
  try {
    writeSync(fd, JSON.stringify(value, null, 2) + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

export interface LockInfo {
  pid: number;
  start: string;
  command: string;
}

/** The lock files the current async call chain holds (for reentrancy). */
const held = new AsyncLocalStorage<Set<string>>();

export class Store {
  readonly root: string;

  constructor(root: string) {
    this.root = root;
  }

  get layersDir(): string {
    return join(this.root, 'layers');
  }
  get imagesDir(): string {
    return join(this.root, 'images');
  }
  get containersDir(): string {
    return join(this.root, 'containers');
  }
  get tmpDir(): string {
    return join(this.root, 'tmp');
  }
  get repositoriesFile(): string {
    return join(this.root, 'repositories.json');
  }
  get lockFile(): string {
    return join(this.root, 'lock');
  }
  get locksDir(): string {
    return join(this.root, 'locks');
  }

  /**
   * Checks the directory is a layerfs store. `create`: make it one when it is missing or empty
   * (commands that only read treat a missing store as an empty one). Throws a one-line StoreError.
   */
  check(create: boolean): boolean {
    const r = this.root;
    let st;
    try {
      st = statSync(r);
    } catch {
      if (!create) return false;
      try {
        mkdirSync(r, { recursive: true, mode: 0o700 });
      } catch (err) {
        throw new StoreError(`cannot create the store ${r}: ${(err as Error).message}`);
      }
      return this.init();
    }
    if (!st.isDirectory()) throw new StoreError(`the store ${r} is not a directory (choose another with --store or LAYERFS_STORE)`);
    const marker = join(r, MARKER);
    if (!existsSync(marker)) {
      const foreign = readdirSync(r).filter((n) => !TOLERATED.has(n));
      if (foreign.length > 0) {
        const shown = foreign.slice(0, 3).join(', ') + (foreign.length > 3 ? ', ...' : '');
        throw new StoreError(`${r} is not a layerfs store: it has no ${MARKER} and holds other files (${shown}); choose another with --store or LAYERFS_STORE`);
      }
      if (!create) return false;
      return this.init();
    }
    let m: unknown;
    try {
      m = JSON.parse(readFileSync(marker, 'utf8'));
    } catch (err) {
      throw new StoreError(`the store ${r} is broken: ${MARKER} is not valid JSON (${(err as Error).message})`);
    }
    const version = (m as { layerfsStore?: unknown } | null)?.layerfsStore;
    if (typeof version !== 'number') throw new StoreError(`the store ${r} is broken: ${MARKER} does not say it is a layerfs store`);
    if (version > STORE_VERSION) throw new StoreError(`the store ${r} was made by a newer layerfs (format ${version}; this one reads ${STORE_VERSION})`);
    for (const d of [this.layersDir, this.imagesDir, this.containersDir, this.tmpDir]) {
      if (!existsSync(d)) {
        if (!create) continue;
        mkdirSync(d, { recursive: true });
      } else if (!statSync(d).isDirectory()) {
        throw new StoreError(`the store ${r} is broken: ${d} is not a directory`);
      }
    }
    return true;
  }

  private init(): boolean {
    for (const d of [this.layersDir, this.imagesDir, this.containersDir, this.tmpDir]) mkdirSync(d, { recursive: true });
    writeJsonAtomic(join(this.root, MARKER), { layerfsStore: STORE_VERSION, created: new Date().toISOString() });
    return true;
  }

  /** Reads a metadata file; a damaged one is a one-line StoreError naming it. */
  readJson<T>(path: string): T {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new StoreError(`the store ${this.root} is broken: cannot read ${path}: ${(err as Error).message}`);
    }
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new StoreError(`the store ${this.root} is broken: ${path} is not valid JSON`);
    }
  }

  /** A fresh staging directory inside the store (same filesystem, so one rename publishes it). */
  stagingDir(): string {
    mkdirSync(this.tmpDir, { recursive: true });
    const dir = join(this.tmpDir, `${process.pid}-${randomBytes(6).toString('hex')}`);
    mkdirSync(dir);
    return dir;
  }

  /** Moves a directory out of sight in one rename, then deletes it (a kill in between leaves trash for cleanTmp). */
  discard(path: string): void {
    if (!existsSync(path)) return;
    const trash = join(this.tmpDir, `${process.pid}-${randomBytes(6).toString('hex')}-trash`);
    renameSync(path, trash);
    rmSync(trash, { recursive: true, force: true });
  }

  /** Removes staging and trash left by commands that died. */
  cleanTmp(): void {
    let names: string[];
    try {
      names = readdirSync(this.tmpDir);
    } catch {
      return;
    }
    for (const n of names) {
      const pid = Number(n.split('-')[0]);
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) continue;
      if (pid === process.pid) continue;
      rmSync(join(this.tmpDir, n), { recursive: true, force: true });
    }
  }

  readLock(file = this.lockFile): LockInfo | undefined {
    try {
      const [pid, start, ...cmd] = readFileSync(file, 'utf8').trim().split(' ');
      return { pid: Number(pid), start: start ?? '?', command: cmd.join(' ') };
    } catch {
      return undefined;
    }
  }

  private lockIsStale(l: LockInfo): boolean {
    if (!Number.isInteger(l.pid) || l.pid <= 0) return true;
    if (!isAlive(l.pid)) return true;
    return l.start !== '?' && startTime(l.pid) !== '?' && startTime(l.pid) !== l.start;
  }

  /**
   * Runs fn holding the store lock. Reentrant within one async call chain (a command that imports
   * layers while holding it), not between two concurrent calls of one process: those wait for each
   * other like two processes do.
   */
  async withLock<T>(command: string, fn: () => Promise<T> | T, timeoutMs = Number(process.env.LAYERFS_LOCK_TIMEOUT_MS ?? 60_000)): Promise<T> {
    if (held.getStore()?.has(this.lockFile)) return fn();
    return this.holding(this.lockFile, command, timeoutMs, () => {
      this.cleanTmp();
      return fn();
    });
  }

  /**
   * Runs fn holding the lock ROOT/locks/NAME, one narrower than the store's (a layer being pulled:
   * minutes of download must not keep other commands out of the store). `waiting` is called once
   * if another command holds it.
   */
  async withNamedLock<T>(name: string, command: string, fn: () => Promise<T> | T, opts: { timeoutMs?: number; waiting?: (holder: LockInfo | undefined) => void } = {}): Promise<T> {
    if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new StoreError(`invalid lock name ${name}`);
    mkdirSync(this.locksDir, { recursive: true });
    return this.holding(join(this.locksDir, name), command, opts.timeoutMs ?? 3_600_000, fn, opts.waiting);
  }

  /**
   * The lock file is created complete (written aside, then link(2)ed into place, which fails if it
   * exists) and holds "PID STARTTIME COMMAND"; a lock whose process is gone is broken. Waits up to
   * timeoutMs for another holder, then says who holds it.
   */
  private async holding<T>(file: string, command: string, timeoutMs: number, fn: () => Promise<T> | T, waiting?: (holder: LockInfo | undefined) => void): Promise<T> {
    const mine = `${process.pid} ${startTime(process.pid)} ${command}\n`;
    const aside = join(dirname(file), `.${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}`);
    writeFileSync(aside, mine);
    const until = Date.now() + timeoutMs;
    let told = false;
    try {
      for (;;) {
        try {
          linkSync(aside, file);
          break;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        }
        const holder = this.readLock(file);
        if (holder !== undefined && this.lockIsStale(holder)) {
          this.breakLock(file, holder);
          continue;
        }
        if (Date.now() > until) {
          const who = holder ? `pid ${holder.pid} (layerfs ${holder.command})` : 'another command';
          throw new StoreError(`the store ${this.root} is busy: ${who} holds ${file}`);
        }
        if (!told) waiting?.(holder);
        told = true;
        await sleep(25 + Math.random() * 50);
      }
    } finally {
      rmSync(aside, { force: true });
    }
    const mineNow = new Set(held.getStore() ?? []).add(file);
    try {
      return await held.run(mineNow, fn);
    } finally {
      if (this.readLock(file)?.pid === process.pid) rmSync(file, { force: true });
    }
  }

  /**
   * Removes a dead command's lock. Renaming it aside is atomic, so of two breakers one wins; if
   * what was moved turns out to be a live lock (taken in between), it is put back.
   */
  private breakLock(file: string, seen: LockInfo): void {
    const aside = join(dirname(file), `.${basename(file)}.stale.${process.pid}.${randomBytes(4).toString('hex')}`);
    try {
      renameSync(file, aside);
    } catch {
      return;
    }
    const moved = (() => {
      try {
        return readFileSync(aside, 'utf8');
      } catch {
        return '';
      }
    })();
    if (!moved.startsWith(`${seen.pid} ${seen.start} `)) {
      try {
        linkSync(aside, file);
      } catch {
        /* someone else took the lock meanwhile: the moved one's owner will notice it lost it */
      }
    }
    try {
      unlinkSync(aside);
    } catch {
      /* gone */
    }
  }
}
