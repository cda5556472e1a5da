// Challenges, auth files and the progress reporters: the parts of the registry client that need
// no registry.
import t from 'tap';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseChallenges } from '../../src/registry/auth';
import { findCredentials, removeCredentials, storeCredentials } from '../../src/registry/authfile';
import { lineReporter, terminalReporter } from '../../src/registry/progress';
import { tempDir } from '../fixtures/layers';

t.test('WWW-Authenticate challenges', async (t) => {
  t.same(parseChallenges('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"'), [
    { scheme: 'bearer', params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull,push' } },
  ]);
  t.same(parseChallenges('Basic realm="layerfs test"'), [{ scheme: 'basic', params: { realm: 'layerfs test' } }]);
  t.same(parseChallenges(['Basic realm=x', 'Bearer realm="r\\"q"']), [{ scheme: 'basic', params: { realm: 'x' } }, { scheme: 'bearer', params: { realm: 'r"q' } }]);
  t.same(parseChallenges(undefined), []);
});

t.test('auth files: written 0600 keeping other entries, read in order, docker and podman formats', async (t) => {
  const tmp = tempDir('layerfs-authfile-');
  t.teardown(tmp.remove);
  const own = join(tmp.path, 'cfg', 'layerfs', 'auth.json');
  const podman = join(tmp.path, 'containers-auth.json');
  const docker = join(tmp.path, 'docker-config.json');
  writeFileSync(podman, JSON.stringify({ auths: { 'quay.io': { auth: Buffer.from('p:pw').toString('base64') } } }));
  writeFileSync(docker, JSON.stringify({ auths: { 'https://index.docker.io/v1/': { auth: Buffer.from('d:pw:with:colons').toString('base64') } }, credsStore: 'x' }));
  storeCredentials('127.0.0.1:5000', { username: 'u', password: 's3cret' }, own);
  storeCredentials('quay.io', { username: 'mine', password: 'x' }, own);
  t.equal(statSync(own).mode & 0o777, 0o600);
  t.equal(statSync(join(own, '..')).mode & 0o777, 0o700);
  const files = [own, podman, docker];
  t.same(findCredentials('127.0.0.1:5000', files), { username: 'u', password: 's3cret' });
  t.same(findCredentials('quay.io', files), { username: 'mine', password: 'x' }, "layerfs's file first");
  t.same(findCredentials('docker.io', files), { username: 'd', password: 'pw:with:colons' }, "docker's Hub key");
  t.equal(findCredentials('ghcr.io', files), undefined);
  t.equal(removeCredentials('quay.io', own), true);
  t.same(findCredentials('quay.io', files), { username: 'p', password: 'pw' }, "then podman's");
  t.same(Object.keys((JSON.parse(readFileSync(own, 'utf8')) as { auths: object }).auths), ['127.0.0.1:5000'], 'other entries kept');
  mkdirSync(join(tmp.path, 'bad'));
  writeFileSync(join(tmp.path, 'bad', 'auth.json'), '{nope');
  t.throws(() => findCredentials('x.io', [join(tmp.path, 'bad', 'auth.json')]), /not valid JSON/);
});

t.test('reporters: lines when not a terminal, a redrawn table with totals on one', async (t) => {
  const lines: string[] = [];
  const r = lineReporter((l) => lines.push(l));
  const a = `sha256:${'a'.repeat(64)}`;
  const b = `sha256:${'b'.repeat(64)}`;
  r.begin('pulling x', [{ digest: a, size: 2048 }, { digest: b, size: 10 }]);
  r.state(a, 'downloading');
  r.bytes(a, 1024);
  r.state(a, 'stored');
  r.state(b, 'exists');
  r.end('pulled x');
  t.same(lines, ['pulling x: 2 blobs, 2.0 KiB', 'aaaaaaaaaaaa downloading (2.0 KiB)', 'aaaaaaaaaaaa stored (2.0 KiB)', 'bbbbbbbbbbbb exists (10 B)', 'pulled x']);

  let out = '';
  const tty = terminalReporter({ write: (s: string) => (out += s) });
  tty.begin('pulling x', [{ digest: a, size: 2048 }, { digest: b, size: 10 }]);
  tty.state(a, 'downloading');
  tty.bytes(a, 1024);
  tty.state(b, 'exists');
  tty.end('pulled x');
  const last = out.slice(out.lastIndexOf('\x1b[3A'));
  t.match(last, /aaaaaaaaaaaa {2}downloading +1\.0 KiB \/ 2\.0 KiB/, 'per-blob bytes');
  t.match(last, /bbbbbbbbbbbb {2}exists +10 B \/ 10 B/);
  t.match(last, /total +1\.0 KiB \/ 2\.0 KiB\n/, 'the total');
  t.ok(out.endsWith('pulled x\n'));
});
