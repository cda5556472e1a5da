// Pushing: monolithic and chunked uploads, a blob mounted from another repository of the registry
// instead of sent again, and image indexes (OCI and Docker's manifest list) pulled for a platform.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { MT, ociArch } from '../../../src/store/oci';
import { Store } from '../../../src/store/store';
import { pull, push, RegistryClient } from '../../../src/registry';
import { tempStore } from '../../fixtures/store';
import { makeImage, registrySkip, startProxy, startRegistry } from '../fixtures/registry';

const opts = { tlsVerify: false, authFiles: [] };

t.test('chunked and monolithic uploads; a mount from another repository', { skip: registrySkip }, async (t) => {
  const reg = await startRegistry(t);
  const proxy = await startProxy(t, reg.host);
  const { base, store } = tempStore(t, 'layerfs-reg-upload-');
  const img = await makeImage(store, base, 'app:1', [{ 'noise.bin': randomBytes(300_000) }, { 'small.txt': 'small\n' }]);

  const chunked = await push(store, 'app:1', `${proxy.host}/up/chunked:1`, { ...opts, chunkSize: 64 << 10 });
  const patches = proxy.requests.filter((r) => r.method === 'PATCH');
  t.equal(patches.length, Math.ceil(chunked.layers[0]!.size / (64 << 10)), 'the big layer went in 64 KiB chunks');
  t.same(chunked.layers.map((l) => l.outcome), ['pushed', 'pushed']);
  const back = await pull(new Store(join(base, 'a')), `${proxy.host}/up/chunked:1`, opts);
  t.equal(back.image.Id, img.Id, 'the chunked upload pulls back as the image');

  // the blobs are known to be in up/chunked now: another repository mounts them
  const n = proxy.requests.length;
  const mounted = await push(store, 'app:1', `${proxy.host}/up/other:1`, opts);
  t.same(mounted.layers.map((l) => l.outcome), ['mounted', 'mounted']);
  const mounts = proxy.requests.slice(n).filter((r) => r.method === 'POST' && /mount=sha256/.test(r.url));
  t.equal(mounts.length, 2);
  t.ok(mounts.every((r) => /from=up%2Fchunked/.test(r.url)), 'mounted from where they were pushed');
  t.equal(proxy.requests.slice(n).filter((r) => r.method === 'PUT' && /\/blobs\/uploads\//.test(r.url)).length, 1, 'only the config uploaded: the layers were mounted');
  t.equal((await pull(new Store(join(base, 'b')), `${proxy.host}/up/other:1`, opts)).image.Id, img.Id);

  const plain = await push(store, 'app:1', `${proxy.host}/up/plain:1`, { ...opts, mount: false });
  t.same(plain.layers.map((l) => l.outcome), ['pushed', 'pushed'], 'mount: false uploads');
  const puts = proxy.requests.filter((r) => r.method === 'PUT' && /\/up\/plain\/blobs\/uploads\//.test(r.url));
  t.equal(puts.length, 3, 'one PUT per blob (2 layers, the config) under the default chunk size');
});

t.test('an image index: the platform asked for, else this machine', { skip: registrySkip }, async (t) => {
  const reg = await startRegistry(t);
  const { base, store } = tempStore(t, 'layerfs-reg-index-');
  const here = await makeImage(store, base, 'here:1', [{ 'arch.txt': 'this machine\n' }]);
  const other = await makeImage(store, base, 'other:1', [{ 'arch.txt': 'riscv\n' }]);
  const ph = await push(store, 'here:1', `${reg.host}/multi/app:here`, opts);
  const po = await push(store, 'other:1', `${reg.host}/multi/app:other`, opts);
  const client = new RegistryClient({ registry: reg.host, repository: 'multi/app' }, ['pull', 'push'], opts);
  t.teardown(() => client.close());
  const entry = (p: typeof ph, arch: string, mediaType: string) => ({ mediaType, digest: p.manifest.digest, size: p.manifest.size, platform: { os: 'linux', architecture: arch } });
  const oci = { schemaVersion: 2, mediaType: MT.index, manifests: [entry(po, 'riscv64', MT.manifest), entry(ph, ociArch(), MT.manifest)] };
  const indexDigest = await client.putManifest('1', MT.index, Buffer.from(JSON.stringify(oci)));
  const docker = { schemaVersion: 2, mediaType: MT.dockerList, manifests: [entry(ph, ociArch(), MT.manifest), entry(po, 'riscv64', MT.manifest)] };
  await client.putManifest('docker', MT.dockerList, Buffer.from(JSON.stringify(docker)));

  const dflt = await pull(new Store(join(base, 'a')), `${reg.host}/multi/app:1`, opts);
  t.equal(dflt.image.Id, here.Id, "the default is this machine's image");
  t.equal(dflt.manifest.digest, ph.manifest.digest);
  const riscv = await pull(new Store(join(base, 'b')), `${reg.host}/multi/app:1`, { ...opts, platform: 'linux/riscv64' });
  t.equal(riscv.image.Id, other.Id, 'the platform asked for');
  const list = await pull(new Store(join(base, 'c')), `${reg.host}/multi/app:docker`, { ...opts, platform: 'linux/riscv64' });
  t.equal(list.image.Id, other.Id, "Docker's manifest list too");
  const byDigest = await pull(new Store(join(base, 'd')), `${reg.host}/multi/app@${indexDigest}`, { ...opts, tag: 'pinned:1' });
  t.equal(byDigest.tag, 'pinned:1');
  t.equal(byDigest.image.Id, here.Id, 'an index by digest');
  const noTag = await pull(new Store(join(base, 'e')), `${reg.host}/multi/app@${indexDigest}`, opts).catch((e: unknown) => e);
  t.match((noTag as Error).message, /names no tag: give the local image a name/);
  const bad = await pull(new Store(join(base, 'f')), `${reg.host}/multi/app:1`, { ...opts, platform: 'linux' }).catch((e: unknown) => e);
  t.match((bad as Error).message, /invalid platform linux/);
});
