// HTTP(S) to one registry: the scheme (https; with tlsVerify false, any certificate and a fallback
// to plain http), the system's CA bundle, redirects of reads (blob stores), one-line errors.
// Node's built-in http/https: streaming both ways, and TLS options per request.
import { existsSync, readFileSync } from 'node:fs';
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { RegistryError } from './errors';

export interface TransportOptions {
  /** false: accept any certificate, and use plain http when the registry does not speak TLS (a local registry) */
  tlsVerify?: boolean;
  /** a PEM file of CA certificates trusted besides the system's */
  caFile?: string;
  /** how long a connection may stay silent before the transfer fails (ms, default 60 s) */
  timeoutMs?: number;
  logger?: Logger;
}

/** A request body: bytes, or a function opening a fresh stream (so that a request can be sent again after authenticating). */
export type Body = Buffer | { length: number; open: () => Readable };

export interface Request {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: URL;
  headers?: Record<string, string>;
  body?: Body;
}

export interface Response {
  status: number;
  headers: IncomingHttpHeaders;
  body: IncomingMessage;
  /** where the answer came from, after redirects */
  url: URL;
}

/** The system's CA bundle (Debian, Fedora, Alpine/BSD paths; SSL_CERT_FILE first, as OpenSSL reads it). */
function systemCas(): string | undefined {
  for (const f of [process.env.SSL_CERT_FILE, '/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt', '/etc/ssl/cert.pem']) {
    if (f !== undefined && existsSync(f)) return readFileSync(f, 'utf8');
  }
  return undefined;
}

const TLS_MISMATCH = new Set(['EPROTO', 'ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_PACKET_LENGTH_TOO_LONG']);
const MAX_REDIRECTS = 5;

export class Transport {
  readonly registry: string;
  /** HOST[:PORT] the API is reached at */
  readonly host: string;
  private readonly opts: TransportOptions;
  private readonly ca: string | undefined;
  private readonly agents = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) };
  private scheme: Promise<'https:' | 'http:'> | undefined;

  constructor(registry: string, host: string, opts: TransportOptions = {}) {
    this.registry = registry;
    this.host = host;
    this.opts = opts;
    let ca = systemCas();
    if (opts.caFile !== undefined) {
      try {
        ca = `${ca ?? ''}\n${readFileSync(opts.caFile, 'utf8')}`;
      } catch (err) {
        throw new RegistryError(`cannot read the CA file ${opts.caFile}: ${(err as Error).message}`);
      }
    }
    this.ca = ca;
  }

  /** The URL of an API path on this registry ("/v2/..."), once the scheme is known. */
  async url(path: string): Promise<URL> {
    if (this.scheme === undefined) {
      // concurrent first requests share one probe; a failed one is tried again next time
      const probe = this.probe();
      this.scheme = probe;
      probe.catch(() => {
        if (this.scheme === probe) this.scheme = undefined;
      });
    }
    return new URL(path, `${await this.scheme}//${this.host}`);
  }

  /** https first; plain http only with tlsVerify false and a server that does not answer TLS. */
  private async probe(): Promise<'https:' | 'http:'> {
    const ping = (scheme: 'https:' | 'http:'): Promise<Response> => this.once({ method: 'GET', url: new URL('/v2/', `${scheme}//${this.host}`) });
    try {
      (await ping('https:')).body.resume();
      return 'https:';
    } catch (err) {
      const code = (err as { cause?: NodeJS.ErrnoException }).cause?.code ?? '';
      if (this.opts.tlsVerify !== false || !TLS_MISMATCH.has(code)) throw err;
      (await ping('http:')).body.resume();
      return 'http:';
    }
  }

  /** Sends a request; GET and HEAD follow redirects (a redirect to another host drops the Authorization header). */
  async send(req: Request): Promise<Response> {
    let cur = req;
    for (let hop = 0; ; hop++) {
      const res = await this.once(cur);
      const location = res.headers.location;
      if (![301, 302, 303, 307, 308].includes(res.status) || location === undefined || (req.method !== 'GET' && req.method !== 'HEAD')) return res;
      res.body.resume();
      if (hop >= MAX_REDIRECTS) throw new RegistryError(`${this.registry}: too many redirects for ${req.url.pathname}`);
      const next = new URL(location, cur.url);
      const headers = { ...cur.headers };
      if (next.host !== cur.url.host) delete headers.authorization;
      cur = { method: req.method, url: next, headers };
    }
  }

  private once(req: Request): Promise<Response> {
    const { url } = req;
    const secure = url.protocol === 'https:';
    const headers: Record<string, string> = { 'user-agent': 'layerfs', ...req.headers };
    const body = req.body;
    if (body !== undefined) headers['content-length'] = String(body.length);
    const options: https.RequestOptions = {
      method: req.method,
      headers,
      agent: secure ? this.agents.https : this.agents.http,
      ...(secure ? { rejectUnauthorized: this.opts.tlsVerify !== false, ...(this.ca !== undefined ? { ca: this.ca } : {}) } : {}),
    };
    const timeout = this.opts.timeoutMs ?? 60_000;
    return new Promise<Response>((resolve, reject) => {
      const r = (secure ? https : http).request(url, options, (res) => {
        this.opts.logger?.debug({ op: 'http', method: req.method, url: `${url.origin}${url.pathname}`, status: res.statusCode }, 'registry request');
        res.setTimeout(timeout, () => res.destroy(new RegistryError(`${this.registry}: no data for ${timeout / 1000} s`)));
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res, url });
      });
      r.setTimeout(timeout, () => r.destroy(new RegistryError(`${this.registry}: no answer for ${timeout / 1000} s`)));
      r.on('error', (err) => reject(this.explain(err as NodeJS.ErrnoException, url)));
      if (body === undefined) r.end();
      else if (Buffer.isBuffer(body)) r.end(body);
      else {
        const src = body.open();
        src.on('error', (err) => r.destroy(err));
        src.pipe(r);
      }
    });
  }

  /** One line saying why a connection failed; the original error is kept as the cause. */
  private explain(err: NodeJS.ErrnoException, url: URL): RegistryError {
    if (err instanceof RegistryError) return err;
    const code = err.code ?? '';
    let why: string;
    if (code === 'ECONNREFUSED') why = 'connection refused';
    else if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') why = 'unknown host';
    else if (code === 'ECONNRESET' || code === 'EPIPE') why = 'the connection was dropped';
    else if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|HOSTNAME/.test(code)) why = `its TLS certificate is not trusted (${code}); add its CA with caFile, or use tlsVerify false for a local registry`;
    else if (TLS_MISMATCH.has(code)) why = `it does not speak TLS (${code}); use tlsVerify false for a plain-http local registry`;
    else why = err.message;
    const e = new RegistryError(`cannot reach ${this.registry} (${url.protocol}//${url.host}): ${why}`);
    (e as { cause?: unknown }).cause = err;
    return e;
  }

  close(): void {
    this.agents.http.destroy();
    this.agents.https.destroy();
  }
}

/** Reads a whole (small) answer; more than `limit` bytes is an error. */
export async function readBody(res: Response, limit: number, what: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  try {
    for await (const chunk of res.body) {
      n += (chunk as Buffer).length;
      if (n > limit) {
        res.body.destroy();
        throw new RegistryError(`${what} is larger than ${limit} bytes`);
      }
      parts.push(chunk as Buffer);
    }
  } catch (err) {
    if (err instanceof RegistryError) throw err;
    throw new RegistryError(`${what}: the connection was dropped (${(err as Error).message})`);
  }
  return Buffer.concat(parts);
}
