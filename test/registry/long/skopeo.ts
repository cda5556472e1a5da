// Interoperability with skopeo: skopeo copies what layerfs pushed (the manifest digest unchanged,
// the layers those of the image), and layerfs pulls what skopeo pushed, as an OCI manifest and as a
// Docker schema 2 manifest (skopeo recompresses the layers: other blob digests, the same diffIDs).
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { listImages } from '../../../src/store/images';
import { exportOci, importOci, MT, type OciIndex } from '../../../src/store/oci';
import { Store } from '../../../src/store/store';
import { pull, push } from '../../../src/registry';
import { tempStore } from '../../fixtures/store';
import { makeImage, registrySkip, startRegistry } from '../fixtures/registry';

const skip = registrySkip || (existsSync('/usr/bin/skopeo') ? false : 'needs skopeo (make test-registry installs it)');
const skopeo = (...args: string[]): string => execFileSync('skopeo', ['--insecure-policy', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

t.test('skopeo copies what layerfs pushed', { skip }, async (t) => {
  const reg = await startRegistry(t);
  const { base, store } = tempStore(t, 'layerfs-reg-skopeo-');
  const img = await makeImage(store, base, 'app:1', [{ 'etc/hostname': 'box\n', 'usr/bin/x': Buffer.alloc(50_000, 1) }, { 'srv/index.html': '<p>hi</p>\n' }]);
  const pushed = await push(store, 'app:1', `${reg.host}/lf/app:1`, { tlsVerify: false });

  const raw = skopeo('inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/lf/app:1`);
  t.equal(`sha256:${createHash('sha256').update(raw).digest('hex')}`, pushed.manifest.digest, 'skopeo reads the manifest pushed');
  const info = JSON.parse(skopeo('inspect', '--tls-verify=false', `docker://${reg.host}/lf/app:1`)) as { Layers: string[]; Os: string };
  t.same(info.Layers, pushed.layers.map((l) => l.digest));
  t.equal(info.Os, 'linux');

  const dir = join(base, 'copied');
  skopeo('copy', '--src-tls-verify=false', `docker://${reg.host}/lf/app:1`, `oci:${dir}:app:1`);
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as OciIndex;
  t.equal(index.manifests[0]!.digest, pushed.manifest.digest, 'copied without a change');
  const other = new Store(join(base, 'other'));
  other.check(true);
  const imported = await importOci(other, dir, { tag: 'copy:1' });
  t.equal(imported.image.Id, img.Id, 'the copy imports as the same image');
});

t.test('layerfs pulls what skopeo pushed, OCI and Docker schema 2', { skip }, async (t) => {
  const reg = await startRegistry(t);
  const { base, store } = tempStore(t, 'layerfs-reg-skopeo2-');
  const img = await makeImage(store, base, 'src:1', [{ 'a/b/c.txt': 'deep\n' }, { 'd.bin': Buffer.alloc(30_000, 9) }, { 'e.txt': 'top\n' }]);
  const layout = join(base, 'layout');
  await exportOci(store, img, layout, { format: 'oci-dir', ref: 'src' });
  skopeo('copy', '--dest-tls-verify=false', `oci:${layout}:src`, `docker://${reg.host}/sk/oci:1`);
  skopeo('copy', '--dest-tls-verify=false', '--format', 'v2s2', `oci:${layout}:src`, `docker://${reg.host}/sk/docker:1`);

  const oci = await pull(new Store(join(base, 'a')), `${reg.host}/sk/oci:1`, { tlsVerify: false });
  t.equal(oci.manifest.mediaType, MT.manifest);
  t.equal(oci.image.Id, img.Id, 'the OCI image pulls as the image exported');

  const b = new Store(join(base, 'b'));
  const docker = await pull(b, `${reg.host}/sk/docker:1`, { tlsVerify: false });
  t.equal(docker.manifest.mediaType, MT.dockerManifest, 'a Docker schema 2 manifest');
  t.equal(docker.image.Id, img.Id, 'the Docker image pulls as the same layers');
  t.same(docker.layers.map((l) => l.id), img.Layers);
  t.same(listImages(b)[0]!.RepoTags, [`${reg.host}/sk/docker:1`]);

  // pushed back by layerfs under another name, skopeo still reads it as Docker's
  const back = await push(b, `${reg.host}/sk/docker:1`, `${reg.host}/sk/back:1`, { tlsVerify: false });
  t.same(back.layers.map((l) => l.digest), docker.layers.map((l) => l.digest), 'the same blobs sent back');
  const info = JSON.parse(skopeo('inspect', '--tls-verify=false', `docker://${reg.host}/sk/back:1`)) as { Layers: string[] };
  t.same(info.Layers, docker.layers.map((l) => l.digest));
});
