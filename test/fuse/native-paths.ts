// What the patched fuse-native answers without calling JS (docs/design.md, "Request path"): data
// ops served from the handle's descriptor, and remembered "no such attribute" answers. Each case
// runs on the kernel overlay and on layerfs (test/fixtures/differential.ts) and must match.
import t from 'tap';
import { cannotMount } from '../fixtures/mounts';
import { scenario } from '../fixtures/differential';
import { file, type Spec } from '../fixtures/layers';

const skip = cannotMount();

const lowers: Spec[] = [
  {
    f: 'lower f\n',
    xa: file('x\n', { xattrs: { 'user.a': '1' } }),
    big: file(Buffer.alloc(1 << 20, 'b')),
  },
];

const py = (body: string): string => `python3 - <<'EOF'
import os
${body}
EOF`;

t.test('a remembered ENODATA ends with any change through the mount, under every name', { skip }, async (t) => {
  const { layerfs } = await scenario(t, lowers, [
    'echo n > n; ln n n2',
    'getfattr -n user.k n2 2>&1', 'setfattr -n user.k -v 1 n', 'getfattr -n user.k n2 2>&1',
    'setfattr -x user.k n2', 'getfattr -n user.k n 2>&1',
    'getfattr -n user.a f 2>&1', 'mv xa f', 'getfattr -n user.a f 2>&1',
  ].join('; '));
  t.match(layerfs.result.stdout, /# file: n2\nuser\.k="1"/, 'the attribute set through the other link is seen');
  t.match(layerfs.result.stdout, /# file: f\nuser\.a="1"/, 'the attribute of a file renamed over the name is seen');
});

t.test('a write through the mount drops a file capability', { skip }, async (t) => {
  const cap = '0x0100000200200000000000000000000000000000'; // v2, effective, permitted cap_net_raw
  const { layerfs } = await scenario(t, lowers, [
    `setfattr -n security.capability -v ${cap} f`, 'getfattr -e hex -n security.capability f 2>&1',
    'echo more >> f', 'getfattr -e hex -n security.capability f 2>&1', 'cat f',
  ].join('; '));
  t.match(layerfs.result.stdout, /security\.capability=0x01/, 'the capability was set');
  t.match(layerfs.result.stdout, /f: security\.capability: No such attribute/, 'and is gone after the write');
});

t.test('reads, writes, fstat and fsync of open files', { skip }, async (t) => {
  const { layerfs } = await scenario(t, lowers, py(`
a = os.open('big', os.O_RDONLY)
w = os.open('big', os.O_RDWR)
os.pwrite(w, b'W' * 5000, 4000)
print('after copy-up the first handle reads', os.pread(a, 8, 3996))
print('short read at the end', len(os.pread(a, 4096, (1 << 20) - 100)), len(os.pread(a, 10, 2 << 20)))
os.pwrite(w, b'tail', (1 << 20) + 10)
print('fstat', os.fstat(a).st_size, os.fstat(w).st_size)
os.fsync(w); os.fdatasync(w)
os.close(a); os.close(w)
p = os.open('f', os.O_WRONLY | os.O_APPEND)
os.write(p, b'one\\n'); os.pwrite(p, b'two\\n', 0)
os.close(p)
n = os.open('new', os.O_CREAT | os.O_RDWR, 0o600)
os.write(n, b'x' * 200000); print('new', os.fstat(n).st_size, len(os.pread(n, 300000, 0)))
os.close(n)
try:
    os.write(os.open('f', os.O_RDONLY), b'x')
except OSError as e:
    print('write to a read-only handle', e.strerror)
print(open('f').read())
`));
  t.match(layerfs.result.stdout, /first handle reads b'bbbbWWWW'/, 'a read-only handle follows the copy-up');
  t.match(layerfs.result.stdout, /^fstat 1048590 1048590$/m, 'fstat sees the extended size on both handles');
  t.match(layerfs.result.stdout, /^short read at the end 100 0$/m, 'reads end at the end of the file');
});

t.test('volatile: fsync and fdatasync succeed and the data stays', { skip }, async (t) => {
  const { layerfs } = await scenario(t, lowers, py(`
fd = os.open('f', os.O_RDWR); os.write(fd, b'v'); os.fsync(fd); os.fdatasync(fd); os.close(fd)
print(open('f').read())
`), { layerfsOptions: ['-o', 'volatile'], cross: false });
  t.match(layerfs.result.stdout, /^vower f$/m, 'the write is there');
});

t.test('fallocate: preallocate, keep size, punch a hole and zero a range, as on the kernel', { skip }, async (t) => {
  const show = (f: string): string => `stat -c '%n %s %b' ${f}; md5sum ${f}`;
  const { kernel, layerfs } = await scenario(t, lowers, [
    'fallocate -l 3M new', show('new'),
    'fallocate -n -o 0 -l 4M big', show('big'),
    'fallocate -p -o 4096 -l 8192 big', show('big'), 'od -An -c -j 4094 -N 4 big',
    'fallocate -z -o 0 -l 2 f', show('f'),
    `python3 -c "import os; os.posix_fallocate(os.open('f', os.O_RDWR), 0, 100000)"`, show('f'),
  ].join('; '));
  t.equal(layerfs.result.code, 0, 'every call succeeded');
  t.match(layerfs.result.stdout, /^new 3145728 6144$/m, 'a new file is preallocated to 3 MiB, blocks included');
  t.match(layerfs.result.stdout, /^big 1048576 (\d+)$/m, 'KEEP_SIZE leaves the size');
  t.match(layerfs.result.stdout, /^ +b +b +\\0 +\\0$/m, 'the punched hole reads as zeros');
  t.match(layerfs.result.stdout, /^f 100000 /m, 'posix_fallocate extends the copied-up file');
  t.equal(layerfs.result.stdout, kernel.result.stdout, 'the kernel overlay printed the same');
});

// Listings and attributes kept by fuse-native (docs/design.md, "Request path") must follow every
// change through the mount. The sleeps outlast attr_timeout=1, so the kernel asks the daemon again.
t.test('kept listings and attributes follow every change, as on the kernel', { skip }, async (t) => {
  const look = 'sleep 1.1; ls -a . d; stat -c "%n %s %h %a %U" f d d/* n 2>&1';
  const { layerfs } = await scenario(t, [{ f: 'lower f\n', d: { x: 'x\n', y: 'y\n' } }], [
    look, 'echo more >> f', look, 'touch d/new; mv d/x d/z; rm d/y', look,
    'ln f n', look, 'echo via-n >> n', look, 'cat f',
    'chmod 600 f; chown nobody n', look, 'truncate -s 3 d/z', look,
    `python3 -c "import os; fd = os.open('f', os.O_RDWR); os.ftruncate(fd, 2); os.close(fd)"`, look,
    'rm -r d; mkdir d', look,
  ].join('; '));
  t.match(layerfs.result.stdout, /^f 8 1 644 root/m, 'the lower file at first');
  t.match(layerfs.result.stdout, /^n 19 2 644 root/m, 'a write through the other link shows in both names');
  t.match(layerfs.result.stdout, /^d\/z 3 /m, 'a truncate shows');
  t.match(layerfs.result.stdout, /^f 2 2 600 nobody/m, 'ftruncate, chmod and chown show');
});

t.test('owner, mode and times set through a new file\'s name follow renames and unlinks, as on the kernel', { skip }, async (t) => {
  // tar, cp -p and touch: create, write, then chown, chmod and utimens by name or by descriptor.
  // fuse-native makes those on the open handle's descriptor until the name can mean another file.
  const { layerfs } = await scenario(t, lowers, py(`
import errno
T = 1_000_000_123_456_789
def show(*names):
    for n in names:
        st = os.stat(n)
        print(n, oct(st.st_mode), st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns, st.st_atime_ns)
def xattr(n):
    try:
        return os.getxattr(n, 'user.k')
    except OSError as e:
        return errno.errorcode[e.errno]
fd = os.open('h', os.O_CREAT | os.O_WRONLY, 0o644)
os.write(fd, b'first h\\n')
print('h before any xattr', xattr('h'))
os.fchown(fd, 12, 34); os.fchmod(fd, 0o4750); os.utime(fd, ns=(T, T))
show('h')
os.chown('h', 56, -1)
show('h')
os.rename('h', 'g')
os.mkdir('h'); os.chmod('h', 0o701); os.utime('h', ns=(T, T))
show('g', 'h')
os.rmdir('h')
n = os.open('h', os.O_CREAT | os.O_WRONLY, 0o600)
os.truncate('h', 5); os.chmod('h', 0o640); os.chown('h', 7, 8); os.utime('h', ns=(T + 1, T + 2))
show('g', 'h')
os.unlink('h')
os.mkfifo('h', 0o600); os.chmod('h', 0o606)
print('unlinked h keeps', oct(os.fstat(n).st_mode), 'fifo', oct(os.stat('h').st_mode))
os.unlink('h')
m = os.open('h', os.O_CREAT | os.O_WRONLY, 0o600)
os.chmod('h', 0o604); os.utime('h', None)
show('g')
os.setxattr('g', 'user.k', b'v')
print('g after setxattr', xattr('g'))
os.fchmod(fd, 0o700)
os.ftruncate(fd, 3)
os.utime(fd, ns=(T, T))
show('g')
print('h', oct(os.stat('h').st_mode), xattr('h'))
os.setxattr('h', 'user.k', b'w')
print('h after setxattr', xattr('h'))
for x in (fd, n, m):
    os.close(x)
`));
  t.match(layerfs.result.stdout, /^h before any xattr ENODATA$/m, 'a new file has no xattr');
  t.match(layerfs.result.stdout, /^h 0o104750 12 34 8 1000000123456789 /m, 'fchown, fchmod and futimens show');
  t.match(layerfs.result.stdout, /^h 0o100750 56 34 /m, 'chown by name cleared setuid');
  t.match(layerfs.result.stdout, /^g 0o100750 56 34 8 1000000123456789 /m, 'the renamed file kept its attributes');
  t.match(layerfs.result.stdout, /^h 0o100640 7 8 5 1000000123456791 1000000123456790$/m, 'the new h got the changes made by name');
  t.match(layerfs.result.stdout, /^h 0o40701 0 0 \d+ 1000000123456789 /m, 'chmod and utimens after the rename went to the directory made there');
  t.match(layerfs.result.stdout, /^unlinked h keeps 0o100640 fifo 0o10606$/m, 'chmod after unlink went to the fifo made there');
  t.match(layerfs.result.stdout, /^g after setxattr b'v'$/m, 'the attribute set by name is seen');
  t.match(layerfs.result.stdout, /^g 0o100700 56 34 3 /m, 'fchmod and ftruncate on the renamed file\'s descriptor');
  t.match(layerfs.result.stdout, /^h after setxattr b'w'$/m, 'a setxattr ends "no xattr"');
});

t.test('a change refetches its own path and parents, and only those unless it has other names, as on the kernel', { skip }, async (t) => {
  // fuse-native drops the kept attributes a change can touch (docs/design.md, "Request path");
  // each look waits out the kernel's attr_timeout, so the kernel asks the mount again.
  const { layerfs } = await scenario(t, [{ f: 'lower f\n', ld: { le: { lg: 'lg\n' } } }], py(`
import time
T = 1_000_000_000
names = ['.', 'ld', 'ld/le', 'ld/le/lg', 'f', 'd', 'd/g']
os.mkdir('d'); open('d/g', 'w').write('g')
for n in names:
    os.utime(n, (T, T))
os.listdir('.'); os.listdir('ld'); os.listdir('ld/le'); os.listdir('d')
def look(what):
    time.sleep(1.1)
    out = []
    for n in names:
        try:
            st = os.stat(n)
            out.append(f'{n}:{"T" if st.st_mtime == T else "new"},{st.st_nlink},{st.st_size},{oct(st.st_mode)}')
        except OSError as e:
            out.append(f'{n}:{e.strerror}')
    print(what, ' '.join(out))
look('start')
open('ld/le/new', 'w').close(); look('create under lower dirs')
os.chmod('d/g', 0o600); look('chmod')
with open('f', 'a') as x: x.write('more')
look('append to a lower file')
os.link('d/g', 'd/g2'); look('link')
with open('d/g2', 'a') as x: x.write('via g2')
look('append through the other link')
os.chmod('d/g2', 0o640); os.utime('d/g2', (T, T)); look('chmod through the other link')
os.unlink('d/g2'); look('unlink the other link')
os.truncate('d/g', 1); look('truncate')
os.mkdir('ld/le/sub'); look('mkdir')
os.rmdir('ld/le/sub'); look('rmdir')
os.unlink('ld/le/lg'); look('unlink a lower file')
os.symlink('f', 'd/s'); look('symlink')
os.link('f', 'd/fl'); look('link f')
open('d/t', 'w').write('t'); os.rename('d/t', 'd/fl'); look('rename over the other link')
print('listings', sorted(os.listdir('d')), sorted(os.listdir('ld')))
os.rename('d/fl', 'ld/moved'); print('after a move', sorted(os.listdir('d')), sorted(os.listdir('ld')))
`));
  t.match(layerfs.result.stdout, /^create under lower dirs .* ld:T,\S+ ld\/le:new,/m, 'the new file\'s directory is refetched, its parent keeps its time');
  t.match(layerfs.result.stdout, /^append through the other link .* d\/g:new,2,7,0o100600 *$/m, 'a write through one link shows under the other');
  t.match(layerfs.result.stdout, /^chmod through the other link .* d\/g:T,2,7,0o100640 *$/m, 'chmod and utimens through one link show under the other');
  t.match(layerfs.result.stdout, /^unlink the other link .* d\/g:T,1,/m, 'the link count drops');
  t.match(layerfs.result.stdout, /^rename over the other link .* f:new,1,12,/m, 'a rename over a second name drops the link count');
  t.match(layerfs.result.stdout, /^after a move \['g', 's'\] \['le', 'moved'\]$/m, 'a move between directories shows in both listings');
});

t.test('readdir gives each entry its d_type, as the kernel overlay does', { skip }, async (t) => {
  const dtypes = py(`
import ctypes
class Dirent(ctypes.Structure):
    _fields_ = [('ino', ctypes.c_uint64), ('off', ctypes.c_int64), ('reclen', ctypes.c_ushort), ('type', ctypes.c_ubyte), ('name', ctypes.c_char * 256)]
libc = ctypes.CDLL(None)
libc.opendir.restype = ctypes.c_void_p
libc.opendir.argtypes = [ctypes.c_char_p]
libc.readdir.restype = ctypes.POINTER(Dirent)
libc.readdir.argtypes = [ctypes.c_void_p]
libc.closedir.argtypes = [ctypes.c_void_p]
for path in [b'.', b'd']:
    d = libc.opendir(path)
    out = []
    while True:
        e = libc.readdir(d)
        if not e: break
        out.append((e.contents.name.decode(), e.contents.type))
    libc.closedir(d)
    print(path.decode(), sorted(out))
`);
  const { layerfs } = await scenario(t, [{ f: 'f\n', d: { x: 'x\n', sub: { y: 'y\n' } } }], [
    'ln -s f s; mkfifo p; mkdir d/new; rm d/x; mkdir d/x; rm -r d/sub; echo now a file > d/sub', dtypes,
  ].join('; '));
  t.match(layerfs.result.stdout, /^d \[\('\.', 4\), \('\.\.', 4\), \('new', 4\), \('sub', 8\), \('x', 4\)\]$/m, 'directories 4, files 8, replaced entries their new type');
  t.match(layerfs.result.stdout, /\('p', 1\), \('s', 10\)/, 'a FIFO 1, a symlink 10');
});

t.test('a listing that says "no xattrs" is forgotten at the first xattr change', { skip }, async (t) => {
  const { layerfs } = await scenario(t, [{ d: { plain: 'p\n', xa: file('x\n', { xattrs: { 'user.a': '1' } }) } }], [
    'ls -l d > /dev/null', 'getfattr -n user.a d/xa d/plain 2>&1', 'echo w >> d/plain',
    'setfattr -n user.k -v 2 d/plain', 'getfattr -n user.k d/plain 2>&1',
    'ls d > /dev/null', 'ln d/xa d/h; setfattr -x user.a d/h', 'ls -l d > /dev/null', 'getfattr -n user.a d/xa 2>&1',
    'sleep 1.1', // the link count of d/xa, seen through its own name, lags up to attr_timeout (docs/design.md)
  ].join('; '));
  t.match(layerfs.result.stdout, /# file: d\/xa\nuser\.a="1"/, 'an entry with xattrs is not marked bare');
  t.match(layerfs.result.stdout, /d\/plain: user\.a: No such attribute/, 'a bare one answers ENODATA');
  t.match(layerfs.result.stdout, /# file: d\/plain\nuser\.k="2"/, 'an attribute set after the listing is seen');
  t.match(layerfs.result.stdout, /d\/xa: user\.a: No such attribute/, 'an attribute removed through another link is gone');
});
