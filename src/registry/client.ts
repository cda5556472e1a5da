// The OCI distribution API for one repository of one registry: manifests by tag or digest, blobs
// by digest (read as streams), uploads (one PUT, or PATCHed chunks then a PUT), a blob mounted
// from another repository of the same registry. Every request goes through authenticate-and-retry.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { Auth } from './auth';
import { findCredentials, type Credentials } from './authfile';
import { RegistryError } from './errors';
import { apiHost, repositoryKey, type Reference } from './reference';
import { readBody, Transport, type Body, type Request, type Response, type TransportOptions } from './transport';
import { MT, type Descriptor } from '../store/oci';

export interface ClientOptions extends TransportOptions {
  /** credentials to use; default: those stored for the registry (layerfs login, podman, docker) */
  credentials?: Credentials;
  /** the auth files to look credentials up in (default: authFiles()) */
  authFiles?: string[];
}

export const MANIFEST_TYPES = [MT.manifest, MT.index, MT.dockerManifest, MT.dockerList] as const;
const MANIFEST_LIMIT = 4 << 20;
const CONFIG_LIMIT = 16 << 20;

export interface FetchedManifest {
  mediaType: string;
  digest: string;
  bytes: Buffer;
  json: Record<string, unknown>;
}

export const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export class RegistryClient {
  readonly registry: string;
  readonly repository: string;
  private readonly transport: Transport;
  private readonly auth: Auth;

  constructor(ref: Pick<Reference, 'registry' | 'repository'>, actions: ('pull' | 'push')[], opts: ClientOptions = {}) {
    this.registry = ref.registry;
    this.repository = ref.repository;
    this.transport = new Transport(ref.registry, apiHost(ref.registry), opts);
    const creds = opts.credentials ?? findCredentials(ref.registry, opts.authFiles);
    this.auth = new Auth(this.transport, creds);
    if (actions.length > 0) this.auth.scopes.add(`repository:${ref.repository}:${actions.join(',')}`);
  }

  get name(): string {
    return repositoryKey(this);
  }

  close(): void {
    this.transport.close();
  }

  /** Sends a request, answering one authentication challenge; statuses outside `ok` are one-line errors. */
  async request(req: Omit<Request, 'url'> & { path: string | URL }, ok: number[], what: string): Promise<Response> {
    const url = typeof req.path === 'string' ? await this.transport.url(req.path) : req.path;
    for (let round = 0; ; round++) {
      const auth = this.auth.header();
      const res = await this.transport.send({ ...req, url, headers: { ...req.headers, ...auth } });
      if ((res.status === 401 || res.status === 403) && round < 3 && (await this.auth.answer(res, auth.authorization))) continue;
      if (ok.includes(res.status)) {
        this.auth.ok();
        return res;
      }
      if (res.status === 401 || res.status === 403) throw this.auth.refused(res.status);
      throw await this.failure(res, what);
    }
  }

  /** The registry's error body ({"errors":[{"code","message"}]}) as one line. */
  private async failure(res: Response, what: string): Promise<RegistryError> {
    let detail = '';
    try {
      const body = await readBody(res, 64 << 10, what);
      const errs = (JSON.parse(body.toString('utf8')) as { errors?: { code?: string; message?: string }[] }).errors ?? [];
      detail = errs.map((e) => [e.code, e.message].filter(Boolean).join(': ')).join('; ');
    } catch {
      /* not the registry's JSON */
    }
    return new RegistryError(`${this.name}: ${what} failed: HTTP ${res.status}${detail ? ` (${detail})` : ''}`, res.status);
  }

  /** Checks the registry answers and the credentials are accepted (login). */
  async ping(): Promise<void> {
    (await this.request({ method: 'GET', path: '/v2/' }, [200], 'the API check')).body.resume();
  }

  private path(kind: 'manifests' | 'blobs', ref: string): string {
    return `/v2/${this.repository}/${kind}/${ref}`;
  }

  /** A manifest or index by tag or digest, checked against the digest asked for (or the one the registry states). */
  async getManifest(ref: string): Promise<FetchedManifest> {
    const res = await this.request({ method: 'GET', path: this.path('manifests', ref), headers: { accept: MANIFEST_TYPES.join(', ') } }, [200], `reading the manifest ${ref}`);
    const bytes = await readBody(res, MANIFEST_LIMIT, `the manifest ${ref}`);
    const digest = sha256(bytes);
    const stated = res.headers['docker-content-digest'];
    const expected = ref.startsWith('sha256:') ? ref : typeof stated === 'string' && stated.startsWith('sha256:') ? stated : undefined;
    if (expected !== undefined && expected !== digest) throw new RegistryError(`${this.name}: the manifest ${ref} is damaged: its content hashes to ${digest}, not ${expected}`);
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
    } catch {
      throw new RegistryError(`${this.name}: the manifest ${ref} is not valid JSON`);
    }
    const mediaType = (typeof json.mediaType === 'string' ? json.mediaType : undefined) ?? String(res.headers['content-type'] ?? '').split(';')[0]!.trim();
    if (!(MANIFEST_TYPES as readonly string[]).includes(mediaType)) {
      throw new RegistryError(`${this.name}: ${ref} has media type ${mediaType || '(none)'}, not an image manifest or index (schema 1 and artifacts are not read)`);
    }
    return { mediaType, digest, bytes, json };
  }

  /** A small JSON blob (an image config), checked against its descriptor; its bytes and what they parse to. */
  async getJsonBlob<T>(d: Descriptor, what: string): Promise<{ json: T; bytes: Buffer }> {
    const res = await this.request({ method: 'GET', path: this.path('blobs', d.digest) }, [200], `reading ${what} ${d.digest}`);
    const bytes = await readBody(res, CONFIG_LIMIT, `${what} ${d.digest}`);
    if (sha256(bytes) !== d.digest) throw new RegistryError(`${this.name}: ${what} ${d.digest} is damaged: its content hashes to ${sha256(bytes)}`);
    if (bytes.length !== d.size) throw new RegistryError(`${this.name}: ${what} ${d.digest} has ${bytes.length} bytes, its descriptor says ${d.size}`);
    try {
      return { json: JSON.parse(bytes.toString('utf8')) as T, bytes };
    } catch {
      throw new RegistryError(`${this.name}: ${what} ${d.digest} is not valid JSON`);
    }
  }

  /** A blob's bytes as a stream (the caller verifies them). */
  async getBlob(digest: string): Promise<Response> {
    return this.request({ method: 'GET', path: this.path('blobs', digest) }, [200], `reading the blob ${digest}`);
  }

  async hasBlob(digest: string): Promise<boolean> {
    const res = await this.request({ method: 'HEAD', path: this.path('blobs', digest) }, [200, 404], `looking for the blob ${digest}`);
    res.body.resume();
    return res.status === 200;
  }

  /**
   * Asks the registry to link a blob another repository of it holds; true when it did. Otherwise
   * the upload it opened instead is returned for the caller to use.
   */
  async mountBlob(digest: string, from: string): Promise<true | URL> {
    this.auth.scopes.add(`repository:${from}:pull`);
    const path = `/v2/${this.repository}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`;
    const res = await this.request({ method: 'POST', path, body: Buffer.alloc(0) }, [201, 202], `mounting ${digest} from ${from}`);
    res.body.resume();
    return res.status === 201 ? true : this.location(res);
  }

  private location(res: Response): URL {
    const loc = res.headers.location;
    if (loc === undefined) throw new RegistryError(`${this.name}: the registry opened an upload without a Location`);
    return new URL(loc, res.url);
  }

  /**
   * Uploads a blob from a file or bytes: one PUT when it is at most chunkSize bytes, else PATCHes of
   * chunkSize bytes and a closing PUT. The registry must state the digest it stored.
   */
  async uploadBlob(d: Descriptor, source: string | Buffer, opts: { chunkSize: number; onBytes?: (n: number) => void; upload?: URL }): Promise<void> {
    let at = opts.upload ?? this.location(await this.request({ method: 'POST', path: `/v2/${this.repository}/blobs/uploads/`, body: Buffer.alloc(0) }, [202], 'starting an upload'));
    const part = (start: number, length: number): Body => ({
      length,
      open: () => {
        const s = typeof source === 'string' && length > 0 ? createReadStream(source, { start, end: start + length - 1 }) : Readable.from([Buffer.isBuffer(source) ? source.subarray(start, start + length) : Buffer.alloc(0)]);
        if (opts.onBytes) s.on('data', (c: Buffer) => opts.onBytes!(c.length));
        return s;
      },
    });
    const octets = { 'content-type': 'application/octet-stream' };
    try {
      let closing: Body = part(0, d.size);
      if (d.size > opts.chunkSize) {
        for (let start = 0; start < d.size; start += opts.chunkSize) {
          const n = Math.min(opts.chunkSize, d.size - start);
          const res = await this.request({ method: 'PATCH', path: at, headers: { ...octets, 'content-range': `${start}-${start + n - 1}` }, body: part(start, n) }, [202], `uploading ${d.digest}`);
          res.body.resume();
          at = this.location(res);
        }
        closing = Buffer.alloc(0);
      }
      const put = new URL(at);
      put.searchParams.set('digest', d.digest);
      const res = await this.request({ method: 'PUT', path: put, headers: octets, body: closing }, [201], `uploading ${d.digest}`);
      res.body.resume();
      const stated = res.headers['docker-content-digest'];
      if (typeof stated === 'string' && stated !== d.digest) throw new RegistryError(`${this.name}: the registry stored ${d.digest} as ${stated}`);
    } catch (err) {
      await this.request({ method: 'DELETE', path: at }, [204, 404, 405], 'cancelling an upload').then((r) => r.body.resume(), () => undefined);
      throw err;
    }
  }

  /** Stores a manifest under a tag (or its digest); returns the digest the registry stated. */
  async putManifest(ref: string, mediaType: string, bytes: Buffer): Promise<string> {
    const res = await this.request({ method: 'PUT', path: this.path('manifests', ref), headers: { 'content-type': mediaType }, body: bytes }, [201], `storing the manifest ${ref}`);
    res.body.resume();
    const digest = sha256(bytes);
    const stated = res.headers['docker-content-digest'];
    if (typeof stated === 'string' && stated !== digest) throw new RegistryError(`${this.name}: the registry stored the manifest as ${stated}, not ${digest}`);
    return digest;
  }
}
