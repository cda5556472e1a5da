// Image references as docker and podman read them, and the local names of pulled images.
import t from 'tap';
import { formatReference, parseReference } from '../../src/registry';
import { registryOf } from '../../src/registry/login';
import { normalizeTag } from '../../src/store/images';

t.test('references: registry, repository, tag, digest', async (t) => {
  const d = `sha256:${'a'.repeat(64)}`;
  t.same(parseReference('alpine'), { registry: 'docker.io', repository: 'library/alpine', tag: 'latest' });
  t.same(parseReference('team/app:1'), { registry: 'docker.io', repository: 'team/app', tag: '1' });
  t.same(parseReference('127.0.0.1:5000/a/b:v1.2'), { registry: '127.0.0.1:5000', repository: 'a/b', tag: 'v1.2' });
  t.same(parseReference('localhost/x'), { registry: 'localhost', repository: 'x', tag: 'latest' });
  t.same(parseReference(`quay.io/org/img@${d}`), { registry: 'quay.io', repository: 'org/img', digest: d });
  t.same(parseReference(`reg.example:443/img:2@${d}`), { registry: 'reg.example:443', repository: 'img', tag: '2', digest: d });
  t.same(parseReference('my_app/some-thing__x:t'), { registry: 'docker.io', repository: 'my_app/some-thing__x', tag: 't' });
  for (const bad of ['Upper/x', 'a//b', 'x:', 'x:-bad', `x@sha256:${'g'.repeat(64)}`, 'x@md5:00', '-a', 'bad_host_/x']) {
    t.throws(() => parseReference(bad), /^invalid image reference /, bad);
  }
  t.equal(formatReference(parseReference('alpine')), 'alpine:latest');
  t.equal(formatReference(parseReference('127.0.0.1:5000/a/b:1')), '127.0.0.1:5000/a/b:1');
});

t.test('registry hosts for login', async (t) => {
  t.equal(registryOf('127.0.0.1:5000'), '127.0.0.1:5000');
  t.equal(registryOf('localhost'), 'localhost');
  t.equal(registryOf('docker.io'), 'docker.io');
  t.equal(registryOf('quay.io/org/app:1'), 'quay.io');
  t.throws(() => registryOf('myhost'), /not a registry host/);
});

t.test('local image names may start with a registry host and port', async (t) => {
  t.equal(normalizeTag('127.0.0.1:5000/app'), '127.0.0.1:5000/app:latest');
  t.equal(normalizeTag('localhost:5000/x/y:2'), 'localhost:5000/x/y:2');
  t.equal(normalizeTag('reg.example.com/a:b'), 'reg.example.com/a:b');
  t.equal(normalizeTag('web:1'), 'web:1');
  for (const bad of ['UPPER/x', 'foo:bar/baz', 'a:1:2', 'host:port/x']) t.throws(() => normalizeTag(bad), /invalid image name/, bad);
});
