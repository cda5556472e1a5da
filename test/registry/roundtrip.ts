// The short round trip `make test` runs against a real registry (docker-registry on 127.0.0.1,
// plain http): an image layerfs built is pushed, pulled into an empty store with the same digests,
// pulled and pushed again without moving a layer. The long cases are in test/registry/long/.
import t from 'tap';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { listImages } from '../../src/store/images';
import { listLayers } from '../../src/store/layers';
import { Store } from '../../src/store/store';
import { lineReporter, pull, push, RegistryClient } from '../../src/registry';
import { tempStore } from '../fixtures/store';
import { makeImage, registrySkip, startProxy, startRegistry } from './fixtures/registry';

t.test('push an image layerfs built, pull it into an empty store: same layers, same digests', { skip: registrySkip }, async (t) => {
  const reg = await startRegistry(t);
  const proxy = await startProxy(t, reg.host);
  const { base, store } = tempStore(t, 'layerfs-reg-a-');
  const img = await makeImage(store, base, 'app:1', [{ 'etc/os-release': 'ID=test\n', 'bin/tool': Buffer.alloc(70_000, 7) }, { 'app/main.js': 'console.log(1)\n' }]);
  const ref = `${proxy.host}/layerfs/app:1`;

  const pushed = await push(store, 'app:1', ref, { tlsVerify: false });
  t.equal(pushed.layers.length, 2);
  t.same(pushed.layers.map((l) => l.outcome), ['pushed', 'pushed']);
  t.same(pushed.layers.map((l) => l.id), img.Layers, 'pushed bottom first');
  const raw = await new RegistryClient({ registry: proxy.host, repository: 'layerfs/app' }, ['pull'], { tlsVerify: false }).getManifest('1');
  t.equal(raw.digest, pushed.manifest.digest, 'the registry holds the manifest pushed');

  const b = new Store(join(base, 'empty-store'));
  const lines: string[] = [];
  const pulled = await pull(b, ref, { tlsVerify: false, reporter: lineReporter((l) => lines.push(l)) });
  t.equal(pulled.manifest.digest, pushed.manifest.digest);
  t.equal(pulled.image.Id, img.Id, 'the same image id (its layers) in the empty store');
  t.same(pulled.layers.map((l) => l.id), img.Layers);
  t.same(pulled.layers.map((l) => l.digest), pushed.layers.map((l) => l.digest));
  t.same(pulled.layers.map((l) => l.existed), [false, false]);
  t.same(listLayers(b).map((l) => l.Id).sort(), [...img.Layers].sort());
  t.same(listImages(b)[0]!.RepoTags, [`${proxy.host}/layerfs/app:1`]);
  t.match(lines.join('\n'), /downloading[\s\S]*stored[\s\S]*pulled/, 'line output without a terminal');
  t.same(readdirSync(b.tmpDir), [], 'no staging left');

  // again: nothing moves
  const before = proxy.requests.filter((r) => /\/blobs\/sha256:/.test(r.url) && r.method === 'GET').length;
  const again = await pull(b, ref, { tlsVerify: false });
  t.same(again.layers.map((l) => l.existed), [true, true]);
  t.equal(proxy.requests.filter((r) => /\/blobs\/sha256:/.test(r.url) && r.method === 'GET').length, before + 1, 'only the config blob is read again');
  const uploads = (): number => proxy.requests.filter((r) => /\/blobs\/uploads\//.test(r.url)).length;
  const sent = uploads();
  const repush = await push(b, `${proxy.host}/layerfs/app:1`, ref, { tlsVerify: false });
  t.same(repush.layers.map((l) => l.outcome), ['exists', 'exists']);
  t.equal(repush.config.outcome, 'exists');
  t.equal(repush.manifest.digest, pushed.manifest.digest, 'the pulled image pushes back to the same manifest');
  t.equal(uploads(), sent, 'no upload started');
});
