// podman with layerfs as its overlay mount_program (issue #7): a Debian bookworm image made with
// debootstrap (no registry is reachable) runs, installs a package with apt-get, and is built on by
// a Containerfile that deletes and recreates a directory spanning several layers; the built image
// must have the same content as the same build on podman's native (kernel) overlay. Then an image
// exported by layerfs's own store is copied into podman with skopeo and runs there.
//
// Long and networked (debootstrap and apt-get reach the Debian mirror), so it runs only from
// `make test-podman` (LAYERFS_PODMAN=1), which installs podman, skopeo, debootstrap and runc.
// Two private stores under a temporary directory; no file under /etc/containers is read or changed.
import t, { type Test } from 'tap';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cannotMount, fstypeAt, layerfs, LAYERFS, run } from '../fixtures/mounts';
import { BASE_IMAGE, daemonsGone, debianRootfs, missingTools, mountsUnder, podmanStore, treeListing, type PodmanStore } from '../fixtures/podman';

const skip = process.env.LAYERFS_PODMAN !== '1' ? 'long and networked: make test-podman runs it' : cannotMount() || missingTools();
const VERSION = (require('../../package.json') as { version: string }).version;
const BUILT = 'localhost/layerfs-test/built:latest';
const CARRIED = 'localhost/layerfs-test/carried:latest';

const CONTAINERFILE = `FROM ${BASE_IMAGE}
COPY hello.txt /opt/layerfs/hello.txt
RUN mkdir -p /usr/share/doc/layerfs && echo one > /usr/share/doc/layerfs/a && rm /etc/debian_version && rm -r /usr/share/doc/apt
RUN echo two > /usr/share/doc/layerfs/b && mkdir /usr/share/doc/layerfs/sub && echo deep > /usr/share/doc/layerfs/sub/c && chmod 700 /usr/share/doc/layerfs/sub
RUN rm -rf /usr/share/doc && mkdir /usr/share/doc
RUN echo three > /usr/share/doc/new && ln -s new /usr/share/doc/link && mkdir /usr/share/doc/apt && echo back > /etc/debian_version && echo more >> /opt/layerfs/hello.txt
`;

t.test('podman with layerfs as mount_program', { skip, timeout: 3_600_000 }, async (t) => {
  const base = mkdtempSync('/var/tmp/layerfs-podman-');
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  const rootfs = await debianRootfs(t);
  // teardowns run last-registered first: each store is emptied before base is removed
  const lfs = await podmanStore(t, join(base, 'layerfs'), LAYERFS);
  const native = await podmanStore(t, join(base, 'native'));

  // podman runs `layerfs --version` for this
  const info = JSON.parse(await lfs.podman('info', '--format', 'json')) as { store: { graphOptions: Record<string, { Executable: string; Package: string; Version: string }> } };
  t.same(info.store.graphOptions['overlay.mount_program'], { Executable: LAYERFS, Package: 'Unknown', Version: VERSION }, 'podman uses layerfs as its mount_program');
  for (const s of [lfs, native]) await s.podman('import', '--change', 'CMD ["/bin/bash"]', rootfs, BASE_IMAGE);

  await t.test('podman run cat /etc/os-release', async (t) => {
    const out = await lfs.podman('run', '--rm', BASE_IMAGE, 'cat', '/etc/os-release');
    t.match(out, /^PRETTY_NAME="Debian GNU\/Linux 12 \(bookworm\)"$/m, 'Debian 12');
    t.match(out, /^VERSION_CODENAME=bookworm$/m, 'bookworm');
  });

  await t.test("a running container's root is a layerfs mount, and ends with it", async (t) => {
    const id = (await lfs.podman('run', '-d', BASE_IMAGE, 'sleep', '300')).trim();
    const merged = (await lfs.podman('inspect', '--format', '{{.GraphDriver.Data.MergedDir}}', id)).trim();
    t.equal(fstypeAt(merged), 'fuse.layerfs', `${merged} is served by layerfs`);
    t.equal((await lfs.podman('exec', id, 'sh', '-c', 'echo inside > /tmp/f && cat /tmp/f')).trim(), 'inside', 'podman exec writes and reads through it');
    await lfs.podman('rm', '--force', '--time', '0', id);
    t.equal(fstypeAt(merged), undefined, 'podman unmounted it (fusermount3 -u)');
    t.same(await daemonsGone(lfs.dir), [], 'and the daemon exited');
  });

  await t.test('--uidmap is refused with a clear message, leaving nothing mounted', async (t) => {
    const r = await lfs.run('podman', ['run', '--rm', '--uidmap', '0:100000:65536', '--gidmap', '0:100000:65536', BASE_IMAGE, 'true'], { allowFail: true });
    t.not(r.code, 0, 'podman run fails');
    t.match(r.stderr, /layerfs: option uidmapping is not supported: layerfs does not map file owners/, 'layerfs says why');
    t.same(mountsUnder(lfs.dir).filter((m) => m.fstype === 'fuse.layerfs'), [], 'nothing mounted');
  });

  await t.test('apt-get install inside a container', { timeout: 900_000 }, async (t) => {
    const out = await lfs.podman('run', '--rm', BASE_IMAGE, 'sh', '-ec',
      'apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends jq >/dev/null; jq --version; dpkg -s jq | grep Status');
    t.match(out, /^jq-1\.6\n/, 'the installed jq runs');
    t.match(out, /Status: install ok installed/, 'dpkg recorded it');
  });

  await t.test('podman build: layerfs and the kernel overlay build the same image', { timeout: 1_800_000 }, async (t) => {
    const ctx = join(base, 'ctx');
    mkdirSync(ctx);
    writeFileSync(join(ctx, 'Containerfile'), CONTAINERFILE);
    writeFileSync(join(ctx, 'hello.txt'), 'hello\n');
    const listings: string[][] = [];
    for (const s of [lfs, native]) {
      await s.podman('build', '--network', 'host', '-t', BUILT, ctx);
      listings.push(await imageListing(s, BUILT));
    }
    const [viaLayerfs, viaKernel] = listings as [string[], string[]];
    t.ok(viaLayerfs.length > 5000, `a whole Debian tree (${viaLayerfs.length} entries)`);
    t.same(viaLayerfs.filter((l) => l.startsWith('./usr/share/doc/')).map((l) => l.split('\t')[0]), ['./usr/share/doc/apt', './usr/share/doc/link', './usr/share/doc/new'],
      'the recreated /usr/share/doc holds only what the last step put there');
    t.same(viaLayerfs, viaKernel, 'the same content as the build on the kernel overlay');
    const out = await lfs.podman('run', '--rm', BUILT, 'sh', '-c', 'cat /etc/debian_version /opt/layerfs/hello.txt; ls -A /usr/share/doc');
    t.equal(out, 'back\nhello\nmore\napt\nlink\nnew\n', 'a container of the built image sees the last steps');

    // The layers as they leave the store: layerfs writes kernel whiteouts (0/0 devices, opaque
    // xattrs) into an upper, which podman must turn into .wh. entries when it commits a step.
    const archive = join(base, 'built.tar');
    await lfs.podman('save', '--format', 'oci-archive', '-o', archive, BUILT);
    const steps = await stepLayers(archive, join(base, 'built'));
    t.equal(steps.length, 5, 'COPY and four RUN steps, a layer each');
    t.same(steps.flatMap((l) => l.split('\n').filter((e) => e.startsWith('c'))), [], 'no device node in a step layer');
    t.match(steps.join('\n'), /usr\/share\/doc\/\.wh\./, 'the deletions as .wh. entries');
    await native.run('skopeo', ['copy', '--quiet', `oci-archive:${archive}`, `containers-storage:${CARRIED}`]);
    t.same(await imageListing(native, CARRIED), viaKernel, 'carried to the kernel-overlay store, the layerfs build reads the same');
  });

  await t.test("an image exported by layerfs's store runs in podman", { timeout: 900_000 }, async (t) => {
    const out = await exportFromLayerfs(t, base, rootfs);
    await lfs.run('skopeo', ['copy', '--quiet', `oci-archive:${out}:deb:2`, 'containers-storage:localhost/from-layerfs:2']);
    const seen = await lfs.podman('run', '--rm', 'localhost/from-layerfs:2', 'sh', '-c', 'cat /committed; test -e /etc/debian_version && echo present || echo deleted; ls /usr/share/doc');
    t.equal(seen, 'from layerfs\ndeleted\nonly\n', 'the committed file, the deletion and the opaque directory');
  });

  t.same(mountsUnder(lfs.dir).filter((m) => m.fstype === 'fuse.layerfs'), [], 'no layerfs mount is left in the store');
  t.same(await daemonsGone(lfs.dir), [], 'no layerfs daemon is left');
});

/** An image's tree as podman mounts it (through layerfs in the layerfs store). */
async function imageListing(s: PodmanStore, image: string): Promise<string[]> {
  const root = (await s.podman('image', 'mount', image)).trim();
  try {
    return await treeListing(root);
  } finally {
    await s.podman('image', 'unmount', image);
  }
}

/** `tar -tv` of each layer above the base of the single image in an oci-archive. */
async function stepLayers(archive: string, dir: string): Promise<string[]> {
  mkdirSync(dir);
  await run('tar', ['-C', dir, '-xf', archive]);
  const blob = (digest: string): string => join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length));
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  const manifest = JSON.parse(readFileSync(blob(index.manifests[0]!.digest), 'utf8')) as { layers: { digest: string }[] };
  const out: string[] = [];
  for (const l of manifest.layers.slice(1)) out.push((await run('tar', ['-tvf', blob(l.digest)], { maxBuffer: 64 << 20 })).stdout);
  return out;
}

/** layerfs's own store: the Debian layer, a container changed and committed, exported as an oci-archive. */
async function exportFromLayerfs(t: Test, base: string, rootfs: string): Promise<string> {
  const store = join(base, 'lstore');
  const mnt = join(base, 'lmnt');
  mkdirSync(mnt);
  t.teardown(async () => {
    if (fstypeAt(mnt) !== undefined) (await layerfs('umount', mnt)).code === 0 || (await layerfs('umount', '--lazy', mnt));
  });
  const ok = async (...args: string[]): Promise<string> => {
    const r = await layerfs(...args, '--store', store);
    if (r.code !== 0) throw new Error(`layerfs ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  };
  const layer = (await ok('layer', 'import', rootfs)).trim();
  await ok('image', 'create', 'deb:1', layer);
  await ok('create', '--name', 'c1', 'deb:1');
  await ok('mount', 'c1', mnt);
  writeFileSync(join(mnt, 'committed'), 'from layerfs\n');
  rmSync(join(mnt, 'etc', 'debian_version'));
  rmSync(join(mnt, 'usr', 'share', 'doc'), { recursive: true });
  mkdirSync(join(mnt, 'usr', 'share', 'doc', 'only'), { recursive: true });
  await ok('commit', 'c1', 'deb:2');
  await ok('container', 'umount', 'c1');
  const out = join(base, 'deb2.tar');
  await ok('image', 'export', 'deb:2', '-o', out);
  return out;
}
