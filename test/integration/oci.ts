// OCI round trip with a real image tool: a multi-layer image made with umoci (a deletion in a
// later layer, an opaque directory in a later layer, an xattr, a hard link), imported with
// `layerfs image import`, run as a container mounted through FUSE, a change committed, exported
// as an oci-archive and as a layout, and unpacked again by umoci. Skipped without umoci
// (make test-oci installs it). A temporary store; every mount unmounted at teardown.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { cannotMount, layerfs, run, sh } from '../fixtures/mounts';
import { tempDir } from '../fixtures/layers';

const hasUmoci = (): boolean => {
  try {
    execFileSync('umoci', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};
const skip = cannotMount() || (hasUmoci() ? false : 'needs umoci (apt-get install umoci; make test-oci installs it)');

const mountedAt = (mnt: string): boolean =>
  readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[4] === mnt);

const umoci = async (...args: string[]): Promise<string> => (await run('umoci', args)).stdout;
const shell = async (cwd: string, script: string): Promise<void> => {
  await run('sh', ['-ec', script], { cwd });
};
/** Files of a tree, sorted, with their content, for comparing views. */
const listing = async (root: string): Promise<string[]> =>
  (await run('sh', ['-c', 'find . -mindepth 1 | sort'], { cwd: root })).stdout.split('\n').filter(Boolean);

t.test('umoci image -> import -> container -> commit -> export -> umoci unpack', { skip, timeout: 300_000 }, async (t) => {
  const tmp = tempDir('layerfs-oci-it-');
  t.teardown(tmp.remove);
  const b = tmp.path;
  const store = join(b, 'store');
  const mnt = join(b, 'mnt');
  mkdirSync(mnt);
  // registered before the mount is made: unmounted on failure too
  t.teardown(async () => {
    if (mountedAt(mnt)) (await layerfs('umount', mnt)).code === 0 || (await layerfs('umount', '--lazy', mnt));
  });
  const ok = async (...args: string[]): Promise<{ stdout: string; stderr: string }> => {
    const r = await layerfs(...args, '--store', store);
    if (r.code !== 0) throw new Error(`layerfs ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return r;
  };

  // the image: base (files, xattr, hard link), v1 (deletions as .wh. files), v2 (an opaque directory)
  const img = join(b, 'img');
  await umoci('init', '--layout', img);
  await umoci('new', '--image', `${img}:empty`);
  await umoci('unpack', '--image', `${img}:empty`, join(b, 'b0'));
  await shell(join(b, 'b0', 'rootfs'), `
    mkdir -p etc opq keep gone-dir opq2
    echo hosts > etc/hosts; echo bye > etc/gone; echo a > opq/a; echo b > opq/b; echo old > opq2/old
    echo data > keep/f; ln keep/f keep/hl; setfattr -n user.note -v hello keep/f; echo g > gone-dir/x`);
  await umoci('repack', '--image', `${img}:base`, join(b, 'b0'));
  await umoci('unpack', '--image', `${img}:base`, join(b, 'b1'));
  await shell(join(b, 'b1', 'rootfs'), 'rm etc/gone; rm -r gone-dir; echo hosts2 > etc/hosts');
  await umoci('repack', '--image', `${img}:v1`, join(b, 'b1'));
  // umoci repack writes one .wh. per deleted file; an opaque directory comes as a raw layer
  const l2 = join(b, 'l2');
  await shell(b, `mkdir -p l2/opq2 && echo new > l2/opq2/new && touch l2/opq2/.wh..wh..opq && tar --numeric-owner -C l2 -cf l2.tar opq2`);
  await umoci('raw', 'add-layer', '--image', `${img}:v1`, '--tag', 'v2', `${l2}.tar`);
  const stat = await umoci('stat', '--image', `${img}:v2`, '--json');
  const umociBlobs = (JSON.parse(stat) as { history: { layer?: { digest: string } }[] }).history.filter((h) => h.layer).map((h) => h.layer!.digest);
  t.equal(umociBlobs.length, 3, 'three layers (blob digests)');
  const layerTypes = execFileSync('sh', ['-c', `for f in ${img}/blobs/sha256/*; do head -c2 $f | od -An -tx1; done`]).toString();
  t.match(layerTypes, /1f 8b/, 'umoci wrote gzip layers');

  // import: tag from the ref name under the layout's name; diffIDs from the config
  const imp = await ok('image', 'import', img, '--ref', 'v2');
  t.match(imp.stderr, /Loaded image: img:v2 \(3 layers\)/);
  const [insp] = JSON.parse((await ok('image', 'inspect', 'img:v2')).stdout);
  const index = JSON.parse(readFileSync(join(img, 'index.json'), 'utf8'));
  const mdesc = index.manifests.find((m: { annotations?: Record<string, string> }) => m.annotations?.['org.opencontainers.image.ref.name'] === 'v2');
  const manifest = JSON.parse(readFileSync(join(img, 'blobs', 'sha256', mdesc.digest.slice(7)), 'utf8'));
  const config = JSON.parse(readFileSync(join(img, 'blobs', 'sha256', manifest.config.digest.slice(7)), 'utf8'));
  t.same(insp.RootFS.Layers, config.rootfs.diff_ids, "the image's layers are the config's diff_ids");
  t.not(manifest.layers[0].digest, config.rootfs.diff_ids[0], 'a gzip blob: its digest differs from its diffID');
  // the same image as an oci-archive stores nothing new
  execFileSync('tar', ['-C', img, '-cf', join(b, 'img.tar'), '.']);
  t.match((await ok('image', 'import', join(b, 'img.tar'), '--ref', 'v2', '--tag', 'again')).stderr, /3 already stored/);

  // a container: the merged view
  await ok('create', '--name', 'c1', 'img:v2');
  await ok('mount', 'c1', mnt);
  t.same(await listing(mnt), ['./etc', './etc/hosts', './keep', './keep/f', './keep/hl', './opq', './opq/a', './opq/b', './opq2', './opq2/new']);
  t.equal(readFileSync(join(mnt, 'etc', 'hosts'), 'utf8'), 'hosts2\n');
  t.equal(statSync(join(mnt, 'keep', 'f')).ino, statSync(join(mnt, 'keep', 'hl')).ino, 'hard link');
  t.equal((await sh(mnt, 'getfattr --only-values -n user.note keep/f')).stdout, 'hello', 'xattr');
  // changes: a new file, a deletion, a modified file, a directory removed and made again (opaque)
  const w = await sh(mnt, 'echo added > added && rm keep/hl && echo more >> etc/hosts && rm -r opq && mkdir opq && echo z > opq/z && setfattr -n user.k -v v added && ln added keep/added2');
  t.equal(w.code, 0, w.stderr);
  const commit = await ok('commit', 'c1', 'img:v3');
  t.match(commit.stdout, /^sha256:[0-9a-f]{64}\n$/);
  await ok('container', 'umount', 'c1');
  t.notOk(mountedAt(mnt));

  // export both ways, then umoci unpacks them
  const archive = join(b, 'out.tar');
  const ex = await ok('image', 'export', 'img:v3', '-o', archive);
  t.match(ex.stderr, new RegExp(`Exported img:v3 as oci-archive:${archive}:img:v3`));
  t.match(ex.stdout, /^sha256:[0-9a-f]{64}\n$/);
  t.notMatch(ex.stderr, /note:/, 'imported layers are written as their original blobs');
  const layoutOut = join(b, 'outdir');
  await ok('image', 'export', 'img:v3', '-o', layoutOut, '--gzip');
  const unpacked = join(b, 'unpacked');
  mkdirSync(unpacked);
  execFileSync('tar', ['-C', unpacked, '-xf', archive]);
  for (const [layout, bundle] of [[unpacked, join(b, 'bundle1')], [layoutOut, join(b, 'bundle2')]] as const) {
    await umoci('unpack', '--image', `${layout}:img:v3`, bundle);
    const root = join(bundle, 'rootfs');
    t.same(await listing(root), ['./added', './etc', './etc/hosts', './keep', './keep/added2', './keep/f', './opq', './opq/z', './opq2', './opq2/new'], `${layout}: content, deletions included`);
    t.equal(readFileSync(join(root, 'etc', 'hosts'), 'utf8'), 'hosts2\nmore\n');
    t.equal(statSync(join(root, 'added')).ino, statSync(join(root, 'keep', 'added2')).ino, 'committed hard link');
    t.equal(execFileSync('getfattr', ['--only-values', '-n', 'user.note', join(root, 'keep', 'f')]).toString(), 'hello');
    t.equal(execFileSync('getfattr', ['--only-values', '-n', 'user.k', join(root, 'added')]).toString(), 'v');
  }
  const st = JSON.parse(await umoci('stat', '--image', `${layoutOut}:img:v3`, '--json')) as { history: { layer?: { digest: string } }[] };
  t.equal(st.history.filter((h) => h.layer).length, 4, 'umoci sees 4 layers with history');
  t.same(st.history.slice(0, 3).map((h) => h.layer!.digest), umociBlobs, "the imported layers keep umoci's blobs");

  // the export imported again: the same image
  const back = await ok('image', 'import', archive, '--tag', 'back');
  t.match(back.stderr, /4 layers, 4 already stored/);
  const [i3] = JSON.parse((await ok('image', 'inspect', 'img:v3')).stdout);
  t.equal(back.stdout.trim(), i3.Id);
  t.same(readdirSync(join(store, 'tmp')), [], 'nothing left in the store tmp');
});
