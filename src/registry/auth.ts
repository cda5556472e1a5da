// Answering a registry's 401: its WWW-Authenticate challenge says Basic (send the credentials) or
// Bearer (get a token for the scopes from its realm, with the credentials if there are any, and
// send that). A token is asked again when it is refused or the scopes grow (a mount from another
// repository); the same refusal twice ends with one line saying why.
import { RegistryError } from './errors';
import type { Credentials } from './authfile';
import { readBody, type Response, type Transport } from './transport';

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** The challenges of a WWW-Authenticate header: `Bearer realm="...",service="...",scope="..."`. */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  const out: Challenge[] = [];
  for (const h of Array.isArray(header) ? header : header !== undefined ? [header] : []) {
    const re = /\s*([A-Za-z][A-Za-z0-9_-]*)(?:\s+|$)((?:[A-Za-z0-9_-]+\s*=\s*(?:"(?:[^"\\]|\\.)*"|[^,\s]*)\s*,?\s*)*)/y;
    let m: RegExpExecArray | null;
    while (re.lastIndex < h.length && (m = re.exec(h)) !== null && m[0] !== '') {
      const params: Record<string, string> = {};
      for (const p of m[2]!.matchAll(/([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]!;
      out.push({ scheme: m[1]!.toLowerCase(), params });
    }
  }
  return out;
}

export class Auth {
  private current: string | undefined;
  private pending: Promise<boolean> | undefined;
  private tried = new Set<string>();
  readonly scopes = new Set<string>();

  constructor(private readonly transport: Transport, private readonly credentials: Credentials | undefined) {}

  /** The Authorization header to send, if any yet. */
  header(): Record<string, string> {
    return this.current !== undefined ? { authorization: this.current } : {};
  }

  /**
   * Works out new authorization after a 401 to a request sent with `sent`; false when there is
   * nothing new to try. Concurrent requests refused together share one answer (one token asked).
   */
  async answer(res: Response, sent: string | undefined): Promise<boolean> {
    res.body.resume();
    if (this.current !== sent) return true; // another request already answered a challenge
    if (this.pending === undefined) this.pending = this.renew(res).finally(() => (this.pending = undefined));
    return (await this.pending) || this.current !== sent;
  }

  private async renew(res: Response): Promise<boolean> {
    const challenges = parseChallenges(res.headers['www-authenticate']);
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    if (bearer !== undefined) {
      if (bearer.params.scope) for (const s of bearer.params.scope.split(' ')) this.scopes.add(s);
      const key = `bearer ${[...this.scopes].sort().join(' ')}`;
      if (this.tried.has(key)) return false;
      this.tried.add(key);
      this.current = `Bearer ${await this.token(bearer.params)}`;
      return true;
    }
    if (challenges.some((c) => c.scheme === 'basic') && this.credentials !== undefined) {
      if (this.tried.has('basic')) return false;
      this.tried.add('basic');
      this.current = `Basic ${basic(this.credentials)}`;
      return true;
    }
    return false;
  }

  /** A request went through: a later 401 (an expired token) may be answered again. */
  ok(): void {
    this.tried.clear();
  }

  /** The error for a request still refused after authenticating. */
  refused(status: number): RegistryError {
    const reg = this.transport.registry;
    if (status === 401 && this.credentials === undefined) return new RegistryError(`${reg} requires authentication: log in first (layerfs login ${reg})`, 401);
    if (status === 401) return new RegistryError(`${reg} refused the credentials of ${this.credentials!.username}`, 401);
    return new RegistryError(`${reg} denied access${this.credentials ? ` to ${this.credentials.username}` : ''} (HTTP ${status})`, status);
  }

  private async token(params: Record<string, string>): Promise<string> {
    const reg = this.transport.registry;
    let realm: URL;
    try {
      realm = new URL(params.realm ?? '');
    } catch {
      throw new RegistryError(`${reg} asks for a token from an invalid realm ${params.realm ?? '(none)'}`);
    }
    if (realm.protocol !== 'https:' && realm.protocol !== 'http:') throw new RegistryError(`${reg} asks for a token from a ${realm.protocol} realm`);
    if (params.service) realm.searchParams.set('service', params.service);
    for (const s of [...this.scopes].sort()) realm.searchParams.append('scope', s);
    const headers: Record<string, string> = this.credentials !== undefined ? { authorization: `Basic ${basic(this.credentials)}` } : {};
    const res = await this.transport.send({ method: 'GET', url: realm, headers });
    const body = await readBody(res, 1 << 20, `the token from ${realm.host}`);
    if (res.status === 401 || res.status === 403) throw this.refused(401);
    if (res.status !== 200) throw new RegistryError(`${reg}: its token service ${realm.host} answered HTTP ${res.status}`, res.status);
    let json: { token?: unknown; access_token?: unknown };
    try {
      json = JSON.parse(body.toString('utf8')) as typeof json;
    } catch {
      throw new RegistryError(`${reg}: its token service ${realm.host} answered something that is not JSON`);
    }
    const token = json.token ?? json.access_token;
    if (typeof token !== 'string' || token === '') throw new RegistryError(`${reg}: its token service ${realm.host} gave no token`);
    return token;
  }
}

const basic = (c: Credentials): string => Buffer.from(`${c.username}:${c.password}`).toString('base64');
