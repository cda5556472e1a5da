// Kernel parity (issue 13), against mount -t overlay: failed directory renames keep devices, no
// forged whiteouts, xattr buffer sizes, paths deep in the mount, and redirect_dir. Apart from
// write-differential.ts so each file stays within the runner's time limit.
import t from 'tap';
import { cannotMount, mountPair, sh } from '../fixtures/mounts';
import { py, scenario, WRITE_LOWERS as lowers } from '../fixtures/differential';
import { snapshot } from '../fixtures/snapshot';
import { dir, WHITEOUT, type Spec } from '../fixtures/layers';

const skip = cannotMount();

const scenarios: [string, string][] = [
  // Issue 13: a failed rename unlinked the target's character devices as if they were whiteouts.
  ['a directory rename onto a directory holding devices fails and keeps them', 'mkdir d0 d1 d2; mknod d1/tty c 5 0; touch d1/f; mknod d2/tty c 5 0; mv -T d0 d1; echo rc=$?; mv -T d0 d2; echo rc=$?; mknod empty/tty c 5 1; mv -T d0 empty; echo rc=$?; ls -A d1 d2 empty'],
  ['a directory rename onto a merged directory emptied by whiteouts replaces it', 'rm tree/a/b/c; mkdir e1; echo y > e1/y; mv -T e1 tree/a/b; echo rc=$?; ls -A tree/a/b; rm -rf d/sub; mkdir e2; mv -T e2 d/sub 2>&1; echo rc=$?'],
  ['mknod of a 0/0 character device is refused (no forged whiteout)', 'mknod w c 0 0; echo rc=$?; mknod d/a c 0 0; echo rc=$?; mknod d/w c 0 0; echo rc=$?; ls -A . d'],
];

for (const [name, script] of scenarios) {
  t.test(name, { skip }, async (t) => {
    await scenario(t, lowers, script);
  });
}

// Issue 13: a getxattr or listxattr buffer smaller than the answer must fail with ERANGE (the
// size-0 probe answers the exact size), so Python's os.getxattr, which tries 128 bytes first and
// retries only on ERANGE, reads longer values. ext4 here stores up to one block: larger values
// fail with ENOSPC on both, and over 64 KiB with E2BIG.
const XATTR_BUFFERS = py(`
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
def raw(f, *a):
    size = a[-1]
    buf = ctypes.create_string_buffer(max(size, 1)) if size else None
    r = f(*[x.encode() for x in a[:-1]], buf, ctypes.c_size_t(size))
    return r if r >= 0 else errno.errorcode[ctypes.get_errno()]
for n in [1, 127, 128, 129, 1000, 3000, 65536, 65537]:
    name = 'user.v%d' % n
    op('set %d' % n, os.setxattr, 'f', name, b'v' * n)
    if name not in os.listxattr('f'): continue
    print(n, len(os.getxattr('f', name)), raw(libc.getxattr, 'f', name, 0), raw(libc.getxattr, 'f', name, n - 1), raw(libc.getxattr, 'f', name, n))
size = raw(libc.listxattr, 'f', 0)
print('list', size, raw(libc.listxattr, 'f', 3), raw(libc.listxattr, 'f', size), sorted(os.listxattr('f')))
`);

t.test('xattr buffers too small for the value answer ERANGE', { skip }, async (t) => {
  const pair = await mountPair(t, lowers);
  const kernel = await sh(pair.kernel.mnt, XATTR_BUFFERS);
  const lfs = await sh(pair.layerfs.mnt, XATTR_BUFFERS);
  t.match(kernel.stdout, /^129 129 129 ERANGE 129$/m, 'the kernel answers ERANGE to a buffer one byte short');
  // The fix is at the FUSE engine, outside the overlay: this runs and reports until it lands.
  t.same(lfs, kernel, 'layerfs answers every buffer size as the kernel does', {
    todo: "fuse-native's index.js (_op_getxattr, _op_listxattr) replies past the kernel's buffer (EIO) and pads listxattr's size probe by 128; the libfuse 3 engine (branch engine) answers ERANGE and exact sizes",
  });
});

// Issue 13: from a working directory deep in the mount, names whose path in the mount is 4,070 to
// 4,095 bytes (and deeper than PATH_MAX) work: the layer's own path never counts against it.
const SEG = '0'.repeat(200);
const deepLower: Spec = { deep: [...Array<string>(18)].reduce<Spec>((inner) => ({ [SEG]: inner }), { [SEG]: { f: 'f\n' } }) };
const DEEP_PATHS = py(`
import shutil
top = os.open('.', os.O_RDONLY)
seg = '0' * 200
os.chdir('deep')
for i in range(19): os.chdir(seg)
op('chmod a deep lower file (copies up 20 directories)', os.chmod, 'f', 0o600)
def level(lengths):
    os.mkdir(seg); os.chdir(seg)
    for L in lengths:
        s = '%0*d' % (L, 1)
        op('create %d' % L, lambda: os.close(os.open('f' + s, os.O_CREAT | os.O_WRONLY, 0o644)))
        op('chmod %d' % L, os.chmod, 'f' + s, 0o600)
        op('mkdir %d' % L, os.mkdir, 'd' + s)
        op('rename %d' % L, os.rename, 'f' + s, 'g' + s)
        op('setxattr %d' % L, os.setxattr, 'g' + s, 'user.x', b'1')
        op('getxattr %d' % L, os.getxattr, 'g' + s, 'user.x')
        op('symlink %d' % L, os.symlink, 't', 's' + s)
        print('stat %d' % L, oct(os.lstat('g' + s).st_mode), sorted(os.listdir('.')) == sorted(['g' + s, 'd' + s, 's' + s] + seen))
        op('unlink %d' % L, os.unlink, 'g' + s)
        seen.extend(['d' + s, 's' + s])
seen = []
level([48, 60, 73])
for i in range(9): os.mkdir(seg); os.chdir(seg)
seen = []
level([40])
os.fchdir(top)
op('rm -rf of the deep tree', shutil.rmtree, 'deep')
print(os.listdir('.'))
`);

t.test('names 4,070-4,095 bytes deep in the mount, and deeper, work as on the kernel', { skip }, async (t) => {
  await scenario(t, [deepLower], DEEP_PATHS);
});

// Issue 13: redirect_dir=on renames directories with lower content in place, recording where
// they came from in trusted.overlay.redirect as the kernel does; the view must stay the same
// when the other implementation mounts the upper, and when the upper becomes a lower layer.
const LONG = 'l'.repeat(100);
const redirectLowers: Spec[] = [...lowers.slice(0, 1), { ...lowers[1]!, [LONG]: { [LONG]: { [LONG]: { x: 'x\n' } } } }];
const REDIRECTS: [string, string][] = [
  ['mv of merged and lower directories renames them in place', 'mv d d2; ls -AR d2; mv tree/a a2; ls -AR a2 tree; mkdir n; mv a2 n/a3; ls -AR n; mv n/a3/b b9; ls -A b9'],
  ['renamed directories keep merging: changes inside, back to the old name, rmdir', 'mv d d2; echo n > d2/new; rm d2/a; mv d2/sub d2/sub2; ls -A d2 d2/sub2; mv d2 d; ls -A d; mkdir d/e2; mv empty d/e2/empty; rmdir d/e2/empty; ls -A d/e2 .'],
  ['a directory renamed twice, and under a renamed parent', 'mv tree t1; mv t1/a t1/a1; mv t1 t2; mkdir o; mv t2/a1 o/a; ls -AR o t2; mv o o2; mv o2/a/b bb; ls -A bb'],
  ['rename over an empty merged directory and over a whiteout', 'rm -rf opq/*; mv d opq; ls -A opq; rm -rf tree; mv empty tree; ls -A tree'],
  ['a redirect longer than redirect_max falls back to copying', `mv ${LONG} x1; ls -R x1 | wc -l; mkdir m; mv x1/${LONG} m/y; echo rc=$?; ls -A m/y`],
  ['errno of directory renames with redirects', py(`
op('rename merged dir', os.rename, 'd', 'd9')
op('rename back', os.rename, 'd9', 'd')
op('rename onto non-empty merged dir', os.rename, 'tree', 'd')
op('rename onto empty lower dir', os.rename, 'tree', 'empty')
op('rename into itself', os.rename, 'empty', 'empty/x')
op('rmdir non-empty renamed dir', os.rmdir, 'empty')
print(sorted(os.listdir('empty')), sorted(os.listdir('.')))
`)],
];

for (const [name, script] of REDIRECTS) {
  t.test(`redirect_dir=on: ${name}`, { skip }, async (t) => {
    await scenario(t, redirectLowers, script, { redirectDir: 'on', rotate: true });
  });
}

// Lower layers holding redirects (an upper a kernel wrote with redirect_dir=on, now a lower
// layer): followed by default, refused by nofollow, as the kernel does.
const redirectedLower: Spec[] = [
  { moved: dir({ own: 'own\n', gone: WHITEOUT }, { xattrs: { 'trusted.overlay.redirect': '/src/inner' } }), rel: dir({ r: 'r\n' }, { xattrs: { 'trusted.overlay.redirect': 'orig' } }), src: { inner: WHITEOUT }, orig: WHITEOUT },
  { src: { inner: { a: 'a\n', gone: 'g\n', sub: { s: 's\n' } } }, orig: { o: 'o\n' } },
];
for (const mode of ['follow', 'nofollow', 'off']) {
  t.test(`lower layers with redirects, redirect_dir=${mode}`, { skip }, async (t) => {
    // Compared through the tools only: with nofollow, a stat of the refused directories fails.
    const pair = await mountPair(t, redirectedLower, { redirectDir: mode });
    const script = 'ls -AR . 2>&1; cat moved/a rel/o 2>&1; mkdir moved/new rel/new 2>&1; ls -A moved rel 2>&1; rm -rf moved 2>&1; ls -A';
    const kernel = await sh(pair.kernel.mnt, script);
    t.same(await sh(pair.layerfs.mnt, script), kernel, 'the tools print the same');
    t.same(await snapshot(pair.layerfs.stack.upper, { upper: true }), await snapshot(pair.kernel.stack.upper, { upper: true }), 'the upper directories match');
  });
}
