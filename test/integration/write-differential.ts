// The write side against the kernel: shell patterns users type, run on mount -t overlay and on
// layerfs over the same lowers; outputs, merged trees and upper directories must match, and each
// upper must mount in the other implementation (test/fixtures/differential.ts).
import t from 'tap';
import { cannotMount } from '../fixtures/mounts';
import { py, scenario, WRITE_LOWERS as lowers } from '../fixtures/differential';

const skip = cannotMount();


// Each name of a hard-linked file is its own kernel inode under libfuse 2's path API: attributes
// seen through the other name are exact with attr_timeout=0, else within it (docs/design.md).
const STRICT = { layerfsOptions: ['-o', 'attr_timeout=0'] };

const scenarios: [string, string, { mtimes?: boolean; layerfsOptions?: string[] }?][] = [
  ['append to a lower file (echo >>)', 'echo x >> f; cat f; echo y >> d/a'],
  ['overwrite with truncation (>)', 'echo new > d/a; : > d/b; cat d/a d/b'],
  ['sed -i on a lower file', "sed -i 's/line/LINE/' d/a; cat d/a"],
  ['rm of lower files leaves whiteouts', 'rm d/a f link; ls -A d .'],
  ['rm -rf of a lower tree', 'rm -rf tree d; ls -A'],
  ['mkdir after rm -rf is opaque', 'rm -rf tree; mkdir tree; ls -A tree; echo n > tree/n; ls -A tree'],
  ['mv of lower files', 'mv d/a d/a2; mv f d/f; mv tree/e e2; ls -A d tree .'],
  ['mv of a merged directory falls back to copy', 'mv d d2; ls -AR d2; mv tree/a a2; ls -AR a2'],
  ['mv of an upper directory into a merged one', 'mkdir nd; echo 1 > nd/x; mv nd d/nd; ls -A d/nd; mkdir n2; mv n2 new2'],
  ['rename over existing names', 'echo 1 > n1; mv n1 f; mv d/b d/a; mv tree/e hl1; cat f d/a hl1'],
  ['rename a file over a whiteout', 'rm d/a; mv d/b d/a; cat d/a; ls -A d'],
  ['cp -a of lower trees', 'cp -a tree tree2; cp -a d d3; ls -AR tree2 d3'],
  ['tar round trip inside the mount', 'tar cf t.tar tree d && mkdir x && tar xf t.tar -C x && rm t.tar && ls -AR x'],
  ['hard links to lower and new files', 'ln f fl; echo more >> fl; cat f; echo n > n; ln n n2; ln d/a d/al; stat -c "%n %h" f fl n n2 d/al', STRICT],
  ['chmod -R and chmod', 'chmod -R g+w tree; chmod 600 ro; chmod 4755 d/a; stat -c "%n %a" tree tree/a ro d/a'],
  ['chown -R and chown', 'chown -R 1000:1000 d; chown 2:3 f; chown -h 5:5 link; stat -c "%n %u %g" d d/a f link'],
  ['symlinks', 'ln -s f newlink; rm link; ln -s d link2; ln -s /etc abs; readlink newlink link2 abs; cat newlink'],
  ['touch -d with nanoseconds, -a and -m', "touch -d '2001-02-03 04:05:06.123456789' f d/a; touch -m -d '2010-01-01 00:00:00.5' d/b; touch -a -d '2011-01-01' tree/e; stat -c '%n %y %x' f d/a d/b tree/e", { mtimes: true }],
  ['xattrs: set, remove, list', 'setfattr -n user.new -v v f; setfattr -x user.a xa; setfattr -n user.d -v dir d; getfattr -d f xa d'],
  ['trusted.overlay.* set by a caller is escaped', 'setfattr -n trusted.overlay.foo -v bar f; getfattr -n trusted.overlay.foo f; getfattr -d -m - f'],
  ['mknod: fifo and character device', 'mkfifo p; mknod c1 c 1 3; mknod d/b2 b 7 0; stat -c "%n %F %t %T" p c1 d/b2'],
  ['create over a whiteout', 'rm f; echo again > f; cat f; rm -rf tree; echo file > tree; cat tree'],
  ['directory over a file whiteout and back', 'rm f; mkdir f; echo in > f/inner; rm -rf d; echo file > d; ls -A f; cat d'],
  ['rmdir rules', 'rmdir d; echo rc=$?; rmdir empty; echo rc=$?; rm -rf d/sub; rmdir d/sub 2>&1; echo rc=$?; ls -A'],
  ['truncate and write past the end', 'truncate -s 3 d/a; truncate -s 0 f; truncate -s 10M d/b; dd if=/dev/zero of=tree/e bs=1 count=1 seek=5M conv=notrunc 2>/dev/null; stat -c "%n %s" d/a f d/b tree/e'],
  ['the opaque lower directory stays opaque after copy-up', 'echo n > opq/new; ls -A opq; rm opq/top; ls -A opq'],
  ['rm -rf of everything, then recreate', 'rm -rf * ; ls -A; mkdir d; echo x > d/x; ls -A d'],
  ['errno of failing calls', py(`
op('rename dir onto file', os.rename, 'd', 'f')
op('rename file onto dir', os.rename, 'f', 'd')
op('rename merged dir', os.rename, 'd', 'd9')
op('rename lower dir', os.rename, 'tree', 'tree9')
op('rename onto non-empty dir', os.rename, 'empty', 'd')
op('rmdir non-empty merged', os.rmdir, 'd')
op('rmdir file', os.rmdir, 'f')
op('unlink dir', os.unlink, 'd')
op('unlink missing', os.unlink, 'nope')
op('mkdir existing', os.mkdir, 'd')
op('mkdir in missing', os.mkdir, 'nope/x')
op('link to dir', os.link, 'd', 'dl')
op('link onto existing', os.link, 'f', 'd/a')
op('symlink onto existing', os.symlink, 'x', 'f')
op('create excl existing', lambda: os.close(os.open('f', os.O_CREAT | os.O_EXCL | os.O_WRONLY)))
op('open dir for write', lambda: os.close(os.open('d', os.O_WRONLY)))
op('lookup through a file', os.stat, 'f/x')
op('rename into own subdir', os.rename, 'tree', 'tree/a/x')
op('readlink of file', os.readlink, 'f')
`)],
  ['open modes, fsync and fdatasync', py(`
fd = os.open('f', os.O_WRONLY | os.O_APPEND); os.write(fd, b'appended\\n'); os.fsync(fd); os.fdatasync(fd); os.close(fd)
fd = os.open('d/a', os.O_RDWR); os.pwrite(fd, b'XY', 2); os.ftruncate(fd, 5); os.close(fd)
fd = os.open('hl1', os.O_RDONLY); print(os.read(fd, 100)); os.close(fd)
fd = os.open('new', os.O_CREAT | os.O_RDWR, 0o640); os.write(fd, b'n'); os.close(fd)
print(open('f').read(), open('d/a').read())
`)],
  ['hard link count after copy-up of one link', 'echo x >> hl1; cat hl1 hl2; stat -c "%n %h" hl1 hl2'],
  ['hard links agree once the attribute cache expires (default timeouts)', 'ln f fl; echo more >> fl; sleep 1.2; cat f; stat -c "%n %h %s" f fl'],
  ['a file open for reading survives a copy-up by another process', 'exec 3<d/a; echo more >> d/a; cat <&3; exec 3<&-; cat d/a'],
];

for (const [name, script, opts] of scenarios) {
  t.test(name, { skip }, async (t) => {
    await scenario(t, lowers, script, opts);
  });
}

t.test('without the privilege to make devices, whiteouts fall back to .wh. files', { skip }, async (t) => {
  const { layerfs } = await scenario(t, lowers, 'rm -rf d f; mkdir d; echo x > d/x; ls -A . d', { writeFormat: 'oci' });
  t.same(layerfs.upper['.wh.f'], { type: 'file', mode: '0', uid: 0, gid: 0, size: 0, nlink: 1, sha: 'e3b0c44298fc1c14' });
  t.equal(layerfs.upper['d']?.opaque, true, 'a directory made over a whiteout is marked opaque');
});
