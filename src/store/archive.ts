// Layers as tar streams, like Docker's diffIDs: GNU tar writes and extracts them, this module
// hashes the stream, refuses unsafe member names, and converts between the two whiteout
// encodings: OCI in tar streams (.wh.NAME, .wh..wh..opq), the kernel's in stored layer
// directories (a 0/0 character device, trusted.overlay.opaque=y) so they mount as overlay lowers.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, openSync, readSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { Transform, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import * as host from '../host/fs';
import { StoreError } from './store';

const WH = '.wh.';
const OPQ = '.wh..wh..opq';
const YES = Buffer.from('y');
const OPAQUE_XATTRS = ['trusted.overlay.opaque', 'user.overlay.opaque', 'user.fuseoverlayfs.opaque'];

/** Overlay bookkeeping that never belongs in a layer (the escaped trusted.overlay.overlay.* is user data). */
const isPrivateXattr = (name: string): boolean =>
  (name.startsWith('trusted.overlay.') && !name.startsWith('trusted.overlay.overlay.')) || name.startsWith('user.overlay.') || name.startsWith('user.fuseoverlayfs.');

const isKernelWhiteout = (st: host.Stat): boolean => (st.mode & host.S_IFMT) === host.S_IFCHR && st.rdev === 0;

function isOpaque(path: string): boolean {
  return OPAQUE_XATTRS.some((x) => host.getxattr(path, x)?.equals(YES) === true);
}

function stripPrivateXattrs(path: string): void {
  for (const x of host.listxattr(path)) if (isPrivateXattr(x)) host.removexattr(path, x);
}

const restoreTimes = (path: string, st: host.Stat): void => host.utimens(path, st.atimeSec, st.atimeNsec, st.mtimeSec, st.mtimeNsec);

/** An empty marker file carrying the owner and mtime of what it stands for (mode 0, like a kernel whiteout). */
function makeMarker(path: string, like: host.Stat): void {
  closeSync(openSync(path, 'wx', 0));
  host.chmod(path, 0);
  host.lchown(path, like.uid, like.gid);
  restoreTimes(path, like);
}

/**
 * Rewrites a private tree (a staging copy) into the OCI encoding, in place: kernel and
 * fuse-overlayfs whiteouts become `.wh.NAME`, opaque marks become `.wh..wh..opq`, overlay-private
 * xattrs are dropped. Directory times are kept.
 */
export function toOci(root: string): void {
  const walk = (dir: string): void => {
    const dst = host.mustLstat(dir);
    let changed = false;
    stripPrivateXattrs(dir);
    for (const name of host.readdir(dir).map((e) => e.name)) {
      const p = join(dir, name);
      const st = host.mustLstat(p);
      if (isKernelWhiteout(st)) {
        host.unlink(p);
        makeMarker(join(dir, WH + name), st);
        changed = true;
      } else if (host.isDir(st)) {
        const opaque = isOpaque(p);
        walk(p);
        if (opaque) {
          makeMarker(join(p, OPQ), st);
          restoreTimes(p, st);
        }
      } else {
        stripPrivateXattrs(p);
        // markers already in OCI form get the canonical mode of the ones made here
        if (name.startsWith(WH) && host.isReg(st) && (st.mode & 0o7777) !== 0) host.chmod(p, 0);
      }
    }
    if (changed) restoreTimes(dir, dst);
  };
  walk(root);
}

/**
 * Rewrites a private tree into the kernel encoding, in place: `.wh.NAME` becomes a 0/0 character
 * device (or, beside a directory NAME of the same layer, makes that directory opaque: OCI says
 * a same-layer entry is not hidden by its whiteout), `.wh..wh..opq` becomes
 * trusted.overlay.opaque=y, other opaque marks are rewritten, overlay-private xattrs dropped.
 */
export function toKernel(root: string): void {
  const walk = (dir: string): void => {
    const dst = host.mustLstat(dir);
    let changed = false;
    const opaque = isOpaque(dir);
    stripPrivateXattrs(dir);
    if (opaque) host.setxattr(dir, 'trusted.overlay.opaque', YES);
    const names = host.readdir(dir).map((e) => e.name);
    const present = new Set(names);
    for (const name of names) {
      const p = join(dir, name);
      if (name === OPQ) {
        host.unlink(p);
        host.setxattr(dir, 'trusted.overlay.opaque', YES);
        changed = true;
        continue;
      }
      if (name.startsWith(WH)) {
        const hidden = name.slice(WH.length);
        const st = host.mustLstat(p);
        host.unlink(p);
        changed = true;
        if (present.has(hidden)) {
          const other = host.lstat(join(dir, hidden));
          if (other && host.isDir(other)) host.setxattr(join(dir, hidden), 'trusted.overlay.opaque', YES);
          continue;
        }
        host.mknod(join(dir, hidden), host.S_IFCHR, 0);
        host.lchown(join(dir, hidden), st.uid, st.gid);
        restoreTimes(join(dir, hidden), st);
        continue;
      }
      const st = host.lstat(p);
      if (st === undefined) continue;
      if (host.isDir(st)) {
        walk(p);
        restoreTimes(p, st);
      } else if (!isKernelWhiteout(st)) {
        stripPrivateXattrs(p);
      }
    }
    if (changed) restoreTimes(dir, dst);
  };
  walk(root);
}

/** The canonical tar of a tree in OCI encoding: same tree, same bytes (GNU tar, sorted, no atime/ctime, numeric owners). */
export function tarArgs(dir: string): string[] {
  return [
    '--create', '--file=-', '--sort=name', '--format=posix', '--numeric-owner', '--xattrs', '--xattrs-include=*',
    '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime', '-C', dir, '.',
  ];
}

/**
 * Copies a stream into tar's stdin and reads it to its end even after tar stops reading (tar exits
 * at the end-of-archive blocks; the padding after them still belongs to the hashed stream).
 */
async function feed(input: Readable, stdin: Writable): Promise<void> {
  let open = true;
  stdin.on('error', () => (open = false));
  stdin.on('close', () => (open = false));
  for await (const chunk of input) {
    if (!open) continue;
    if (!stdin.write(chunk)) {
      await new Promise<void>((res) => {
        const done = (): void => {
          stdin.off('drain', done);
          stdin.off('close', done);
          res();
        };
        stdin.on('drain', done);
        stdin.on('close', done);
      });
    }
  }
  if (open) stdin.end();
}

/** Runs GNU tar, giving its stdout to `consume`; rejects with tar's message on failure. */
async function runTar(args: string[], io: { input?: Readable; consume?: (out: Readable) => Promise<void> }): Promise<void> {
  const child = spawn('tar', args, { stdio: [io.input ? 'pipe' : 'ignore', io.consume ? 'pipe' : 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number>((res, rej) => {
    child.on('error', rej);
    child.on('close', (code) => res(code ?? 1));
  });
  const work: Promise<void>[] = [];
  if (io.input) work.push(feed(io.input, child.stdin!));
  if (io.consume) work.push(io.consume(child.stdout!));
  try {
    await Promise.all(work);
  } catch (err) {
    child.kill('SIGKILL');
    await exited.catch(() => undefined);
    throw err;
  }
  const code = await exited;
  if (code !== 0) {
    const msg = stderr.trim().split('\n').filter((l) => !/Exiting with failure status/.test(l)).pop() ?? `exit ${code}`;
    throw new StoreError(`tar failed: ${msg.replace(/^tar: /, '')}`);
  }
}

/** The sha256 (hex) of the canonical tar of a tree in OCI encoding. */
export async function digestOfTree(dir: string, onBytes?: (n: number) => void): Promise<string> {
  const hash = createHash('sha256');
  await runTar(tarArgs(dir), {
    consume: async (out) => {
      for await (const chunk of out) {
        hash.update(chunk as Buffer);
        onBytes?.((chunk as Buffer).length);
      }
    },
  });
  return hash.digest('hex');
}

/** Writes the canonical tar of a tree in OCI encoding to a stream. */
export async function writeTree(dir: string, to: Writable): Promise<void> {
  await runTar(tarArgs(dir), { consume: (out) => pipeline(out, to) });
}

/** Why a member name may not be extracted, or undefined. */
export function unsafeName(name: string): string | undefined {
  if (name.startsWith('/')) return `absolute path ${name}`;
  if (name.split('/').includes('..')) return `path with .. ${name}`;
  return undefined;
}

/**
 * Streams a tar through untouched while reading its headers (ustar, pax 'x'/'g', GNU 'L'/'K'
 * long names), failing on a member whose name, or whose hard-link target, is absolute or has `..`.
 */
export class TarChecker extends Transform {
  private pending = Buffer.alloc(0);
  private skip = 0;
  private collect: { type: string; left: number; pad: number; parts: Buffer[] } | undefined;
  private pax: Record<string, string> = {};
  private longName: string | undefined;
  private longLink: string | undefined;
  private ended = false;
  members = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null, data?: Buffer) => void): void {
    try {
      this.scan(chunk);
      cb(null, chunk);
    } catch (err) {
      cb(err as Error);
    }
  }

  private scan(chunk: Buffer): void {
    let buf = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    while (buf.length > 0 && !this.ended) {
      if (this.collect) {
        const c = this.collect;
        if (c.left > 0) {
          const n = Math.min(c.left, buf.length);
          c.parts.push(buf.subarray(0, n));
          c.left -= n;
          buf = buf.subarray(n);
          continue;
        }
        if (c.pad > 0) {
          const n = Math.min(c.pad, buf.length);
          c.pad -= n;
          buf = buf.subarray(n);
          continue;
        }
        this.finishExtended(c.type, Buffer.concat(c.parts));
        this.collect = undefined;
        continue;
      }
      if (this.skip > 0) {
        const n = Math.min(this.skip, buf.length);
        this.skip -= n;
        buf = buf.subarray(n);
        continue;
      }
      if (buf.length < 512) break;
      this.header(buf.subarray(0, 512));
      buf = buf.subarray(512);
    }
    if (this.collect && this.collect.left === 0 && this.collect.pad === 0) {
      this.finishExtended(this.collect.type, Buffer.concat(this.collect.parts));
      this.collect = undefined;
    }
    this.pending = Buffer.from(buf);
  }

  private header(h: Buffer): void {
    if (h.every((b) => b === 0)) return; // end-of-archive blocks
    const str = (a: number, b: number): string => {
      const s = h.subarray(a, b);
      const z = s.indexOf(0);
      return s.subarray(0, z < 0 ? s.length : z).toString('utf8');
    };
    let size: number;
    if ((h[124]! & 0x80) !== 0) {
      size = 0;
      for (let i = 125; i < 136; i++) size = size * 256 + h[i]!;
    } else {
      size = parseInt(str(124, 136).trim() || '0', 8);
    }
    const type = String.fromCharCode(h[156]!);
    const padded = Math.ceil(size / 512) * 512;
    if (type === 'x' || type === 'g' || type === 'L' || type === 'K') {
      this.collect = { type, left: size, pad: padded - size, parts: [] };
      return;
    }
    const magic = str(257, 263);
    const prefix = magic.startsWith('ustar') ? str(345, 500) : '';
    let name = this.pax.path ?? this.longName ?? (prefix ? `${prefix}/${str(0, 100)}` : str(0, 100));
    const link = this.pax.linkpath ?? this.longLink ?? str(157, 257);
    if (this.pax.size !== undefined) size = Number(this.pax.size);
    this.pax = {};
    this.longName = this.longLink = undefined;
    this.members++;
    if (name.startsWith('./')) name = name.slice(2);
    const bad = unsafeName(name) ?? (type === '1' ? unsafeName(link) : undefined);
    if (bad !== undefined) throw new StoreError(`refused: the tarball has an unsafe member (${bad})`);
    // directories, links, devices carry no data whatever their size field says
    this.skip = type === '0' || type === '\0' || type === '7' || type === 'S' ? Math.ceil(size / 512) * 512 : 0;
  }

  private finishExtended(type: string, data: Buffer): void {
    if (type === 'L') this.longName = data.toString('utf8').replace(/\0+$/, '');
    else if (type === 'K') this.longLink = data.toString('utf8').replace(/\0+$/, '');
    else if (type === 'x') {
      let i = 0;
      while (i < data.length) {
        const sp = data.indexOf(0x20, i);
        if (sp < 0) break;
        const len = Number(data.subarray(i, sp).toString());
        if (!Number.isFinite(len) || len <= 0) break;
        const rec = data.subarray(sp + 1, i + len - 1).toString('utf8');
        const eq = rec.indexOf('=');
        if (eq > 0) this.pax[rec.slice(0, eq)] = rec.slice(eq + 1);
        i += len;
      }
    }
  }
}

/** The compression of a file, from its first bytes ('tar' for none). */
export function sniff(path: string): 'gzip' | 'tar' | 'xz' | 'bzip2' | 'zstd' {
  const fd = openSync(path, 'r');
  const b = Buffer.alloc(6);
  try {
    readSync(fd, b, 0, 6, 0);
  } finally {
    closeSync(fd);
  }
  if (b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
  if (b.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (b.subarray(0, 3).toString() === 'BZh') return 'bzip2';
  if (b.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return 'tar';
}

/**
 * Extracts a plain or gzip tarball into dest (an empty staging directory), checking member
 * names first-hand; resolves with the sha256 of the uncompressed tar stream (Docker's diffID).
 */
export async function extractTarball(file: string, dest: string, onBytes?: (n: number) => void): Promise<string> {
  const kind = sniff(file);
  if (kind !== 'gzip' && kind !== 'tar') throw new StoreError(`${file} is compressed with ${kind}: decompress it first (plain and gzip tarballs are read)`);
  const hash = createHash('sha256');
  const checker = new TarChecker();
  const counter = new Transform({
    transform(chunk: Buffer, _e, cb) {
      hash.update(chunk);
      onBytes?.(chunk.length);
      cb(null, chunk);
    },
  });
  const source = createReadStream(file);
  const stages: (Readable | Transform)[] = kind === 'gzip' ? [source, createGunzip(), counter, checker] : [source, counter, checker];
  const input = stages.reduce((a, b) => (a as Readable).pipe(b as Transform)) as Readable;
  // pipe() does not forward errors: collect them from every stage
  const failed = new Promise<never>((_, rej) => stages.forEach((s) => s.on('error', rej)));
  failed.catch(() => undefined);
  const args = ['--extract', '--file=-', '-C', dest, '--numeric-owner', '--same-owner', '--same-permissions', '--xattrs', '--xattrs-include=*', '--no-unquote'];
  try {
    await Promise.race([runTar(args, { input }), failed]);
  } catch (err) {
    stages.forEach((s) => s.destroy());
    if (err instanceof StoreError) throw err;
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'Z_DATA_ERROR' || e.code === 'Z_BUF_ERROR') throw new StoreError(`${file} is not a valid gzip file (${e.message})`);
    throw new StoreError(`cannot read ${file}: ${e.message}`);
  }
  if (checker.members === 0) throw new StoreError(`${file} is not a tar archive (no members)`);
  return hash.digest('hex');
}

/** Writes a file from a stream (export). */
export async function writeFileFrom(path: string, from: (w: Writable) => Promise<void>): Promise<void> {
  const w = createWriteStream(path, { mode: 0o644 });
  await from(w);
}
