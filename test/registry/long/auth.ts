// Authentication and TLS against real registries: htpasswd (Basic), a token service (Bearer, played
// by the test proxy in front of the registry), login storing credentials 0600 only when the
// registry accepts them, credentials never in logs, and TLS with an untrusted, a given and an
// ignored certificate authority.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { Store } from '../../../src/store/store';
import { login, logout, pull, push, RegistryError } from '../../../src/registry';
import { tempStore } from '../../fixtures/store';
import { makeImage, registrySkip, startProxy, startRegistry } from '../fixtures/registry';

const skipHtpasswd = registrySkip || (existsSync('/usr/bin/htpasswd') ? false : 'needs htpasswd (apache2-utils; make test-registry installs it)');
const user = 'alice';
const password = 'correct horse battery staple';

t.test('htpasswd: refused without credentials, login checks them, stores 0600, push and pull with them, never logs them', { skip: skipHtpasswd }, async (t) => {
  const reg = await startRegistry(t, { htpasswd: { user, password } });
  const { base, store } = tempStore(t, 'layerfs-reg-auth-');
  await makeImage(store, base, 'app:1', [{ 'f.txt': 'auth\n' }]);
  const authFile = join(base, 'config', 'layerfs', 'auth.json');
  const ref = `${reg.host}/private/app:1`;
  const o = { tlsVerify: false, authFiles: [authFile] };

  const anon = await push(store, 'app:1', ref, o).catch((e: unknown) => e);
  t.type(anon, RegistryError);
  t.match((anon as Error).message, `${reg.host} requires authentication: log in first (layerfs login ${reg.host})`);

  const wrong = await login(reg.host, { username: user, password: 'wrong' }, { tlsVerify: false, authFile }).catch((e: unknown) => e);
  t.match((wrong as Error).message, `${reg.host} refused the credentials of alice`);
  t.notOk(existsSync(authFile), 'wrong credentials store nothing');

  t.equal(await login(reg.host, { username: user, password }, { tlsVerify: false, authFile }), authFile);
  t.equal(statSync(authFile).mode & 0o777, 0o600, 'the auth file is 0600');
  t.equal(statSync(join(authFile, '..')).mode & 0o777, 0o700, 'in a 0700 directory');
  const saved = JSON.parse(readFileSync(authFile, 'utf8')) as { auths: Record<string, { auth: string }> };
  t.equal(Buffer.from(saved.auths[reg.host]!.auth, 'base64').toString(), `${user}:${password}`, "podman's auth.json format");

  let log = '';
  const logger = pino({ level: 'debug' }, new Writable({ write: (c, _e, cb) => ((log += c.toString()), cb()) }));
  const pushed = await push(store, 'app:1', ref, { ...o, logger });
  t.equal(pushed.layers[0]!.outcome, 'pushed');
  const pulled = await pull(new Store(join(base, 'other')), ref, { ...o, logger });
  t.equal(pulled.manifest.digest, pushed.manifest.digest);
  t.match(log, /"op":"http"/, 'requests were logged');
  t.notMatch(log, password, 'the password is not in the log');
  t.notMatch(log, saved.auths[reg.host]!.auth, 'nor its base64');

  t.equal(logout(reg.host, { authFile }), true);
  t.notOk((JSON.parse(readFileSync(authFile, 'utf8')) as { auths: Record<string, unknown> }).auths[reg.host], 'logout removes the entry');
  t.equal(logout(reg.host, { authFile }), false);
});

t.test('a token service (Bearer): tokens asked with the credentials for the repository scope', { skip: registrySkip }, async (t) => {
  const reg = await startRegistry(t);
  const issued = new Set<string>();
  const scopes: string[] = [];
  const proxy = await startProxy(t, reg.host);
  proxy.hooks.intercept = (req, res) => {
    const url = new URL(req.url!, `http://${proxy.host}`);
    if (url.pathname === '/token') {
      const basic = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
      if (req.headers.authorization !== basic) {
        res.writeHead(401).end();
        return true;
      }
      scopes.push(...url.searchParams.getAll('scope'));
      const token = `tok${issued.size}`;
      issued.add(token);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, expires_in: 60 }));
      return true;
    }
    const bearer = req.headers.authorization?.replace(/^Bearer /, '');
    if (bearer !== undefined && issued.has(bearer)) return false;
    req.resume();
    res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${proxy.host}/token",service="test-registry"`, 'content-type': 'application/json' });
    res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
    return true;
  };
  const { base, store } = tempStore(t, 'layerfs-reg-token-');
  // three layers: the push's first requests go out together, all refused, and share one token
  const img = await makeImage(store, base, 'app:1', [{ 'f.txt': 'token\n' }, { 'g.txt': 'two\n' }, { 'h.txt': 'three\n' }]);
  const ref = `${proxy.host}/team/app:1`;
  const creds = { tlsVerify: false, credentials: { username: user, password } };

  const anon = await push(store, 'app:1', ref, { tlsVerify: false, authFiles: [] }).catch((e: unknown) => e);
  t.match((anon as Error).message, /requires authentication/);
  const wrong = await push(store, 'app:1', ref, { tlsVerify: false, credentials: { username: user, password: 'nope' } }).catch((e: unknown) => e);
  t.match((wrong as Error).message, /refused the credentials of alice/);

  const tokens = issued.size;
  const pushed = await push(store, 'app:1', ref, { ...creds, jobs: 3 });
  t.same(pushed.layers.map((l) => l.outcome), ['pushed', 'pushed', 'pushed']);
  t.equal(issued.size, tokens + 1, 'one token for the concurrent requests of the push');
  t.ok(scopes.includes('repository:team/app:pull,push'), 'the push asked for pull,push on its repository');
  const pulled = await pull(new Store(join(base, 'other')), ref, creds);
  t.equal(pulled.image.Id, img.Id);
  t.ok(scopes.includes('repository:team/app:pull'), 'the pull asked for pull');
  t.ok(proxy.requests.every((r) => r.url.startsWith('/token') || r.url.startsWith('/v2/')), 'only the API and the token service were asked');
});

t.test('TLS: an unknown CA is refused, accepted with its CA file or with tlsVerify false', { skip: registrySkip }, async (t) => {
  const { base, store } = tempStore(t, 'layerfs-reg-tls-');
  const key = join(base, 'key.pem');
  const cert = join(base, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  const reg = await startRegistry(t, { tls: { cert, key } });
  await makeImage(store, base, 'app:1', [{ 'f.txt': 'tls\n' }]);
  const ref = `${reg.host}/secure/app:1`;

  const refused = await push(store, 'app:1', ref).catch((e: unknown) => e);
  t.type(refused, RegistryError);
  t.match((refused as Error).message, /its TLS certificate is not trusted \(\w+\); add its CA with caFile, or use tlsVerify false/);

  const viaCa = await push(store, 'app:1', ref, { caFile: cert });
  t.equal(viaCa.layers[0]!.outcome, 'pushed', 'trusted with its CA file, verification on');
  const insecure = await pull(new Store(join(base, 'other')), ref, { tlsVerify: false });
  t.equal(insecure.manifest.digest, viaCa.manifest.digest, 'tlsVerify false accepts any certificate');

  const plain = await startRegistry(t);
  writeFileSync(join(base, 'empty.json'), '{}');
  const noTls = await pull(new Store(join(base, 'third')), `${plain.host}/x/y:1`, { authFiles: [join(base, 'empty.json')] }).catch((e: unknown) => e);
  t.match((noTls as Error).message, /does not speak TLS .*use tlsVerify false/, 'a plain-http registry needs tlsVerify false');
});
