// Layers: digests like Docker's diffID, stored once, kernel whiteouts on disk and OCI ones in
// tar streams, unsafe tarballs refused, nothing half-imported ever listed.
import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { createWriteStream, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dir, tempDir, WHITEOUT, writeTree, type Spec } from '../fixtures/layers';
import { needsRoot } from '../fixtures/overlay';
import * as host from '../../src/host/fs';
import { Store } from '../../src/store/store';
import { tempStore } from '../fixtures/store';
import { exportLayer, importLayer, layerDiff, listLayers } from '../../src/store/layers';
import { TarChecker } from '../../src/store/archive';

const skip = needsRoot;

const setup = (t: Test) => tempStore(t, 'layerfs-layers-');

const SPEC: Spec = {
  etc: { hosts: 'h\n', gone: WHITEOUT },
  opq: dir({ kept: 'k' }, { opaque: true }),
  deleted: WHITEOUT,
  'file.txt': 'content\n',
};

function tree(base: string, name: string, spec: Spec, format: 'kernel' | 'oci'): string {
  const p = join(base, name);
  mkdirSync(p);
  writeTree(p, spec, format);
  execFileSync('touch', ['-h', '-d', '2020-01-02 03:04:05', ...execFileSync('find', [p]).toString().trim().split('\n')]);
  return p;
}

async function exportTo(store: Store, id: string, file: string): Promise<void> {
  const ws = createWriteStream(file);
  await exportLayer(store, listLayers(store).find((l) => l.Id === id)!, ws);
}

const isWh = (p: string): boolean => {
  const st = host.lstat(p);
  return st !== undefined && (st.mode & host.S_IFMT) === host.S_IFCHR && st.rdev === 0;
};

t.test('a directory: stored once, kernel format on disk, OCI in its tar, same digest round trip', { skip }, async (t) => {
  const { base, store } = setup(t);
  const k = tree(base, 'k', SPEC, 'kernel');
  const o = tree(base, 'o', SPEC, 'oci');
  const a = await importLayer(store, k);
  t.match(a.layer.Id, /^sha256:[0-9a-f]{64}$/);
  t.equal(a.existed, false);
  const b = await importLayer(store, k);
  t.equal(b.layer.Id, a.layer.Id, 'same content, same digest');
  t.equal(b.existed, true, 'stored once');
  const c = await importLayer(store, o);
  t.equal(c.layer.Id, a.layer.Id, 'the same tree with OCI whiteouts is the same layer');
  t.equal(listLayers(store).length, 1);
  const d = layerDiff(store, a.layer.Id);
  t.ok(isWh(join(d, 'deleted')) && isWh(join(d, 'etc', 'gone')), 'whiteouts are 0/0 devices');
  t.equal(host.getxattr(join(d, 'opq'), 'trusted.overlay.opaque')?.toString(), 'y', 'opaque by xattr');
  t.same(readdirSync(join(d, 'opq')), ['kept'], 'no OCI marker on disk');
  const tar = join(base, 'l.tar');
  await exportTo(store, a.layer.Id, tar);
  const names = execFileSync('tar', ['-tf', tar]).toString().trim().split('\n').sort();
  t.same(names, ['./', './.wh.deleted', './etc/', './etc/.wh.gone', './etc/hosts', './file.txt', './opq/', './opq/.wh..wh..opq', './opq/kept'].sort());
  const sha = execFileSync('sha256sum', [tar]).toString().split(' ')[0];
  t.equal(`sha256:${sha}`, a.layer.Id, "the digest is the sha256 of the layer's tar stream");
  const again = await importLayer(store, tar);
  t.equal(again.layer.Id, a.layer.Id, 'importing the export gives the same digest');
  execFileSync('gzip', ['-k', tar]);
  t.equal((await importLayer(store, tar + '.gz')).layer.Id, a.layer.Id, 'gzip: digest of the uncompressed stream');
  t.equal(listLayers(store).length, 1);
  t.same(readdirSync(store.tmpDir), [], 'no staging left');
});

t.test('a foreign tarball: its stream hash, OCI whiteouts converted', { skip }, async (t) => {
  const { base, store } = setup(t);
  const src = tree(base, 'src', { a: { '.wh.b': '', c: 'c' }, '.wh.top': '', d: dir({ '.wh..wh..opq': '', e: 'e' }) }, 'kernel');
  const tar = join(base, 'f.tar');
  execFileSync('tar', ['-C', src, '-cf', tar, 'a', '.wh.top', 'd']);
  const r = await importLayer(store, tar);
  t.equal(r.layer.Id, `sha256:${execFileSync('sha256sum', [tar]).toString().split(' ')[0]}`);
  const d = layerDiff(store, r.layer.Id);
  t.ok(isWh(join(d, 'a', 'b')) && isWh(join(d, 'top')));
  t.equal(host.getxattr(join(d, 'd'), 'trusted.overlay.opaque')?.toString(), 'y');
  t.same(readdirSync(join(d, 'd')), ['e']);
});

t.test('unsafe or unreadable tarballs are refused and nothing is listed', { skip }, async (t) => {
  const { base, store } = setup(t);
  const py = (members: string, file: string): void => {
    execFileSync('python3', ['-c', `
import tarfile, io
with tarfile.open(${JSON.stringify(file)}, 'w') as tf:
    for name in ${members}:
        data = b'x'
        ti = tarfile.TarInfo(name); ti.size = len(data)
        tf.addfile(ti, io.BytesIO(data))
`]);
  };
  py("['ok', '/etc/evil']", join(base, 'abs.tar'));
  py("['ok', 'a/../../evil']", join(base, 'dotdot.tar'));
  py("['ok', 'x/' * 60 + '../evil']", join(base, 'longdotdot.tar'));
  writeFileSync(join(base, 'junk.tar'), Buffer.alloc(2048, 7));
  execFileSync('sh', ['-c', `printf 'x' | xz > ${base}/c.xz`]);
  const cases: [string, RegExp][] = [
    ['abs.tar', /unsafe member \(absolute path \/etc\/evil\)/],
    ['dotdot.tar', /unsafe member \(path with \.\. a\/\.\.\/\.\.\/evil\)/],
    ['longdotdot.tar', /unsafe member \(path with \.\./],
    ['junk.tar', /tar failed|not a tar/],
    ['c.xz', /compressed with xz/],
    ['missing.tar', /does not exist/],
  ];
  for (const [f, re] of cases) await t.rejects(importLayer(store, join(base, f)), { message: re }, f);
  t.same(listLayers(store), [], 'no layer listed');
  t.same(readdirSync(store.tmpDir), [], 'no staging left');
  t.same(readdirSync(store.layersDir), []);
});

t.test('hostile tarballs: writes through a symlink member, devices, a huge truncated entry', { skip }, async (t) => {
  const { base, store } = setup(t);
  const outside = join(base, 'outside');
  mkdirSync(outside);
  execFileSync('python3', ['-c', `
import tarfile, io
def add(tf, name, kind=tarfile.REGTYPE, link='', data=b'pwned', dev=(0, 0)):
    ti = tarfile.TarInfo(name); ti.type = kind; ti.linkname = link
    ti.devmajor, ti.devminor = dev
    if kind == tarfile.REGTYPE: ti.size = len(data)
    tf.addfile(ti, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
with tarfile.open('${base}/abs-link.tar', 'w') as tf:
    add(tf, 'esc', tarfile.SYMTYPE, '${outside}'); add(tf, 'esc/pwned')
with tarfile.open('${base}/rel-link.tar', 'w') as tf:
    add(tf, 'd', tarfile.DIRTYPE); add(tf, 'd/up', tarfile.SYMTYPE, '../../outside'); add(tf, 'd/up/pwned')
with tarfile.open('${base}/dev.tar', 'w') as tf:
    add(tf, 'null', tarfile.CHRTYPE, dev=(1, 3)); add(tf, 'ok', data=b'x' * 100)
with tarfile.open('${base}/huge.tar', 'w') as tf:
    add(tf, 'big', data=b'x' * 100)
b = bytearray(open('${base}/huge.tar', 'rb').read())
b[124:136] = b'%011o\\0' % (1 << 30); b[148:156] = b' ' * 8   # claims 1 GiB, holds 100 bytes
b[148:156] = b'%06o\\0 ' % sum(b[:512])
open('${base}/huge.tar', 'wb').write(bytes(b[:1024]))
`]);
  await t.rejects(importLayer(store, join(base, 'abs-link.tar')), { message: /esc\/pwned: Cannot open: Not a directory/ });
  await t.rejects(importLayer(store, join(base, 'rel-link.tar')), { message: /d\/up\/pwned: Cannot open: Not a directory/ });
  await t.rejects(importLayer(store, join(base, 'huge.tar')), { message: /tar failed/ });
  t.same(readdirSync(outside), [], 'nothing was written through a symlink member');
  t.same(listLayers(store), [], 'no refused layer is listed');
  // A device node is ordinary in a root filesystem (/dev/null): it is kept, inside the layer.
  const { layer } = await importLayer(store, join(base, 'dev.tar'));
  const st = host.lstat(join(layerDiff(store, layer.Id), 'null'))!;
  t.equal(st.mode & host.S_IFMT, host.S_IFCHR);
  t.same(readdirSync(store.tmpDir), [], 'no staging left');
});

t.test('TarChecker reads pax and GNU long names', async (t) => {
  const tmp = tempDir('layerfs-tc-');
  t.teardown(tmp.remove);
  const long = 'd'.repeat(120);
  mkdirSync(join(tmp.path, long));
  writeFileSync(join(tmp.path, long, 'f'), 'x');
  for (const format of ['posix', 'gnu']) {
    const tarball = execFileSync('tar', [`--format=${format}`, '-C', tmp.path, '-cf', '-', long]);
    const c = new TarChecker();
    await new Promise<void>((res, rej) => {
      c.on('data', () => undefined).on('end', res).on('error', rej);
      c.end(tarball);
    });
    t.equal(c.members, 2, `${format}: two members`);
  }
});
