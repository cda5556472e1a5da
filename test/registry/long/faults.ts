// What goes wrong between a registry and the store: a corrupt blob, a blob cut short, a registry
// killed in the middle of a layer, a layer whose media type is not a tarball, a manifest that is
// not an image. Each gives one clear error and leaves no layer, image or staging behind; a rerun
// completes.
import t, { type Test } from 'tap';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { listImages } from '../../../src/store/images';
import { listLayers } from '../../../src/store/layers';
import { MT } from '../../../src/store/oci';
import { Store } from '../../../src/store/store';
import { pull, push, RegistryClient, RegistryError } from '../../../src/registry';
import { sha256 } from '../../../src/registry/client';
import { tempStore } from '../../fixtures/store';
import { makeImage, registrySkip, startProxy, startRegistry } from '../fixtures/registry';

const opts = { tlsVerify: false };

/** A registry holding a 2-layer image (the second layer `big` bytes of noise), a proxy before it, an empty store. */
async function setup(t: Test, big = 1 << 20) {
  const reg = await startRegistry(t);
  const { base, store } = tempStore(t, 'layerfs-reg-faults-');
  const img = await makeImage(store, base, 'src:1', [{ 'a.txt': 'a\n' }, { 'big.bin': randomBytes(big) }]);
  const pushed = await push(store, 'src:1', `${reg.host}/faults/app:1`, opts);
  const proxy = await startProxy(t, reg.host);
  const empty = new Store(join(base, 'empty'));
  return { reg, proxy, img, pushed, empty, ref: `${proxy.host}/faults/app:1` };
}

function nothingStored(t: Test, store: Store): void {
  t.same(listLayers(store), [], 'no layer stored');
  t.same(listImages(store), [], 'no image stored');
  t.same(existsSync(store.tmpDir) ? readdirSync(store.tmpDir) : [], [], 'no staging left');
  t.same(existsSync(store.locksDir) ? readdirSync(store.locksDir) : [], [], 'no lock left');
}

t.test('a corrupt blob: refused by its digest, nothing stored, a clean rerun completes', { skip: registrySkip }, async (t) => {
  const { proxy, pushed, empty, ref, img } = await setup(t);
  const big = pushed.layers[1]!.digest;
  proxy.hooks.blobChunk = (digest, chunk, offset) => {
    if (digest !== big || offset > 1000) return chunk;
    const c = Buffer.from(chunk);
    c[10] = c[10]! ^ 0xff; // same length, one byte flipped
    return c;
  };
  const err = await pull(empty, ref, opts).catch((e: unknown) => e);
  t.type(err, RegistryError);
  t.match((err as Error).message, new RegExp(`layer ${big} is damaged: its content hashes to sha256:`));
  t.same(listImages(empty), [], 'no image');
  t.notOk(listLayers(empty).some((l) => l.Id === img.Layers[1]), 'the corrupt layer is not stored');
  t.same(readdirSync(empty.tmpDir), [], 'no staging left');
  proxy.hooks.blobChunk = undefined;
  const r = await pull(empty, ref, opts);
  t.equal(r.image.Id, img.Id, 'the rerun completes');
});

t.test('a blob cut short (the connection dropped): one error, nothing stored, rerun completes', { skip: registrySkip }, async (t) => {
  const { proxy, pushed, empty, ref, img } = await setup(t);
  const big = pushed.layers[1]!.digest;
  proxy.hooks.blobChunk = (digest, chunk, offset) => (digest === big && offset > 200_000 ? 'cut' : chunk);
  const err = await pull(empty, ref, { ...opts, jobs: 1 }).catch((e: unknown) => e);
  t.type(err, RegistryError);
  t.match((err as Error).message, /the connection was dropped after \d+ of \d+ bytes.*nothing was stored, run the pull again/);
  t.notOk(listLayers(empty).some((l) => l.Id === img.Layers[1]), 'the cut layer is not stored');
  t.same(listImages(empty), []);
  t.same(readdirSync(empty.tmpDir), [], 'no staging left');
  proxy.hooks.blobChunk = undefined;
  t.equal((await pull(empty, ref, opts)).image.Id, img.Id, 'the rerun completes');
});

t.test('the registry killed mid-transfer: nothing half-stored; restarted, the rerun completes', { skip: registrySkip }, async (t) => {
  // more than the sockets between registry, proxy and client can hold: the registry is still sending when it dies
  const { reg, proxy, pushed, empty, ref, img } = await setup(t, 24 << 20);
  const big = pushed.layers[1]!;
  let killed = false;
  proxy.hooks.pauseAfter = {
    bytes: big.size >> 1,
    paused: async () => {
      if (killed) return;
      killed = true;
      await reg.kill(); // the proxy's upstream socket dies with it
    },
  };
  const err = await pull(empty, ref, { ...opts, jobs: 1 }).catch((e: unknown) => e);
  t.ok(killed, 'the registry was killed during the big layer');
  t.type(err, RegistryError);
  t.match((err as Error).message, /connection was dropped|cannot reach/);
  t.notOk(listLayers(empty).some((l) => l.Id === img.Layers[1]), 'the layer being fetched is not stored');
  t.same(listImages(empty), []);
  t.same(readdirSync(empty.tmpDir), [], 'no staging left');
  const down = await pull(empty, ref, opts).catch((e: unknown) => e);
  t.match((down as Error).message, /cannot reach|connection was dropped|HTTP 50/, 'while it is down: one clear error');
  proxy.hooks.pauseAfter = undefined;
  await reg.restart();
  const r = await pull(empty, ref, opts);
  t.equal(r.image.Id, img.Id, 'the rerun completes');
  t.same(r.layers.map((l) => l.digest), pushed.layers.map((l) => l.digest));
});

t.test('wrong media types: a zstd layer, a layer that is not a tarball, an artifact manifest', { skip: registrySkip }, async (t) => {
  const { reg, pushed, empty } = await setup(t);
  const client = new RegistryClient({ registry: reg.host, repository: 'faults/app' }, ['pull', 'push'], opts);
  t.teardown(() => client.close());
  const raw = await client.getManifest(pushed.manifest.digest);
  const put = async (tag: string, layerType: string, manifestType: string = MT.manifest): Promise<void> => {
    const m = JSON.parse(raw.bytes.toString('utf8')) as { mediaType: string; layers: { mediaType: string }[] };
    m.mediaType = manifestType;
    m.layers[1]!.mediaType = layerType;
    await client.putManifest(tag, manifestType, Buffer.from(JSON.stringify(m)));
  };
  await put('zstd', 'application/vnd.oci.image.layer.v1.tar+zstd');
  await put('octets', 'application/octet-stream');
  const cases: [string, RegExp][] = [
    ['zstd', /zstd-compressed .* not supported/],
    ['octets', /media type application\/octet-stream, which is not a layer tarball/],
  ];
  for (const [tag, why] of cases) {
    const err = await pull(empty, `${reg.host}/faults/app:${tag}`, opts).catch((e: unknown) => e);
    t.type(err, RegistryError, tag);
    t.match((err as Error).message, why, tag);
  }
  // an index whose entries are not for this platform
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.index, manifests: [{ mediaType: MT.manifest, digest: raw.digest, size: raw.bytes.length, platform: { os: 'windows', architecture: 'amd64' } }] }));
  await client.putManifest('win', MT.index, index);
  const err = await pull(empty, `${reg.host}/faults/app:win`, opts).catch((e: unknown) => e);
  t.match((err as Error).message, /has no image for linux\/\w+ \(it has: windows\/amd64\)/);
  t.equal(sha256(index).length, 71);
  nothingStored(t, empty);
});

t.test('a manifest whose bytes do not match the digest the registry states', { skip: registrySkip }, async (t) => {
  const { proxy, empty, ref } = await setup(t);
  proxy.hooks.intercept = async (req, res) => {
    if (!/\/manifests\//.test(req.url!)) return false;
    const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.manifest, config: { mediaType: MT.config, digest: `sha256:${'0'.repeat(64)}`, size: 2 }, layers: [] }));
    res.writeHead(200, { 'content-type': MT.manifest, 'docker-content-digest': `sha256:${'1'.repeat(64)}`, 'content-length': body.length });
    res.end(body);
    return true;
  };
  const err = await pull(empty, ref, opts).catch((e: unknown) => e);
  t.match((err as Error).message, /the manifest 1 is damaged: its content hashes to sha256:[0-9a-f]{64}, not sha256:1111/);
  nothingStored(t, empty);
});
