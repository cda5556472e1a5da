// A layer blob fetched into a file of the store's staging, verified while it streams: its size
// against the descriptor (more bytes stop the transfer at once), its sha256 against the digest, and
// the sha256 of its uncompressed stream against the config's diffID. Any failure leaves only the
// staging file, which the caller discards: nothing is stored before all three match.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, type Gunzip } from 'node:zlib';
import { RegistryError } from './errors';
import type { RegistryClient } from './client';
import type { Descriptor } from '../store/oci';

/** Hashes and counts what passes, feeding the uncompressed side to a second hash. */
class Verifier extends Transform {
  readonly blob = createHash('sha256');
  readonly diff = createHash('sha256');
  count = 0;
  private gunzip: Gunzip | undefined;
  private gunzipError: Error | undefined;
  readonly gunzipDone: Promise<void>;

  constructor(private readonly limit: number, gzip: boolean, private readonly what: string, private readonly onBytes?: (n: number) => void) {
    super();
    if (!gzip) {
      this.gunzipDone = Promise.resolve();
      return;
    }
    const gz = createGunzip();
    this.gunzip = gz;
    gz.on('data', (c: Buffer) => this.diff.update(c));
    this.gunzipDone = new Promise<void>((res, rej) => {
      gz.on('end', res);
      gz.on('error', (err) => {
        this.gunzipError = err;
        rej(new RegistryError(`${what} is not valid gzip although its media type says so (${err.message})`));
      });
    });
    this.gunzipDone.catch(() => undefined);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null, data?: Buffer) => void): void {
    this.count += chunk.length;
    if (this.count > this.limit) return cb(new RegistryError(`${this.what} is longer than its descriptor's ${this.limit} bytes`));
    this.blob.update(chunk);
    this.onBytes?.(chunk.length);
    const gz = this.gunzip;
    if (gz === undefined) {
      this.diff.update(chunk);
      return cb(null, chunk);
    }
    if (this.gunzipError !== undefined) return cb(null, chunk); // reported once the transfer ends
    if (gz.write(chunk)) return cb(null, chunk);
    const go = (): void => {
      gz.off('drain', go);
      gz.off('error', go);
      cb(null, chunk);
    };
    gz.on('drain', go);
    gz.on('error', go);
  }

  override _flush(cb: (err?: Error | null) => void): void {
    this.gunzip?.end();
    cb();
  }
}

export interface DownloadOptions {
  /** the config's diffID for this layer */
  diffId: string;
  gzip: boolean;
  onBytes?: (n: number) => void;
}

/** Downloads and verifies a layer blob into `file` (created, never overwritten). */
export async function downloadBlob(client: RegistryClient, d: Descriptor, file: string, opts: DownloadOptions): Promise<void> {
  const what = `${client.name}: layer ${d.digest}`;
  const res = await client.getBlob(d.digest);
  const length = res.headers['content-length'];
  if (length !== undefined && Number(length) !== d.size) {
    res.body.destroy();
    throw new RegistryError(`${what}: the registry sends ${length} bytes, the manifest says ${d.size}`);
  }
  const v = new Verifier(d.size, opts.gzip, what, opts.onBytes);
  try {
    await pipeline(res.body, v, createWriteStream(file, { flags: 'wx', mode: 0o600 }));
  } catch (err) {
    if (err instanceof RegistryError) throw err;
    throw new RegistryError(`${what}: the connection was dropped after ${v.count} of ${d.size} bytes (${(err as Error).message}); nothing was stored, run the pull again`);
  }
  if (v.count < d.size) throw new RegistryError(`${what} is truncated: ${v.count} of ${d.size} bytes; nothing was stored`);
  const blob = `sha256:${v.blob.digest('hex')}`;
  if (blob !== d.digest) throw new RegistryError(`${what} is damaged: its content hashes to ${blob}; nothing was stored`);
  await v.gunzipDone;
  const diff = `sha256:${v.diff.digest('hex')}`;
  if (diff !== opts.diffId) throw new RegistryError(`refused: ${what} does not match the image config: its ${opts.gzip ? 'uncompressed ' : ''}stream hashes to ${diff}, rootfs.diff_ids says ${opts.diffId}`);
}
