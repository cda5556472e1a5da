// Copy-up (src/overlay/copy-up.ts), without FUSE: what lands in upper, with which metadata, and
// that nothing half-built is ever visible.
import t from 'tap';
import { chmodSync, chownSync, lutimesSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { needsRoot, overlayOf, xattr, listTree } from '../fixtures/overlay';
import { dir, FIFO, file, hardlink, sym } from '../fixtures/layers';
import { UPPER } from '../../src/overlay/layers';
import * as host from '../../src/host/fs';

const skip = needsRoot;

const T1 = new Date('2001-02-03T04:05:06.789Z');

t.test('copy-up of a lower file copies its data, mode, owner, times and user xattrs', { skip }, async (t) => {
  const f = overlayOf(t, [{ d: { f: file('data\n', { mode: 0o4751, xattrs: { 'user.k': 'v' } }) } }]);
  const low = join(f.built.lowers[0]!, 'd/f');
  chownSync(low, 123, 456);
  chmodSync(low, 0o4751); // chown cleared setuid
  lutimesSync(low, T1, T1);
  const again = f.remount();
  const e = await again.copyUp.copyUp('/d/f');
  t.equal(e.layer, UPPER);
  t.equal(e.hostPath, f.up('/d/f'));
  t.equal(readFileSync(f.up('/d/f'), 'utf8'), 'data\n');
  t.equal(e.stat.mode & 0o7777, 0o4751, 'setuid survives (chmod comes after chown)');
  t.equal(e.stat.uid, 123);
  t.equal(e.stat.gid, 456);
  t.equal(e.stat.mtimeSec * 1000 + Math.round(e.stat.mtimeNsec / 1e6), T1.getTime(), 'mtime is kept to the millisecond');
  t.equal(xattr(f.up('/d/f'), 'user.k'), 'v');
  t.equal(readFileSync(low, 'utf8'), 'data\n', 'the lower file is untouched');
});

// A file capability (v2: magic with the effective flag, then permitted/inheritable words for caps
// 0-31 and 32-63): CAP_NET_RAW, as `setcap cap_net_raw+ep` writes it.
const NET_RAW_CAP = Buffer.from([0x01, 0, 0, 0x02, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

t.test('file capabilities survive copy-up of a file owned by another user, small or big', { skip }, async (t) => {
  const big = 'x'.repeat(3 << 20); // above the inline-copy limit: copied on the thread pool
  const f = overlayOf(t, [{ small: file('ping\n', { mode: 0o755 }), big: file(big, { mode: 0o755 }) }]);
  for (const name of ['small', 'big']) {
    const low = join(f.built.lowers[0]!, name);
    chownSync(low, 123, 456);
    host.setxattr(low, 'security.capability', NET_RAW_CAP);
  }
  const ov = f.remount();
  for (const name of ['small', 'big']) {
    const e = await ov.copyUp.copyUp('/' + name);
    t.equal(e.stat.uid, 123, `${name}: owner`);
    t.same(host.getxattr(f.up('/' + name), 'security.capability'), NET_RAW_CAP, `${name}: the capability was set after chown, which drops it`);
    t.equal(e.stat.mode & 0o7777, 0o755, `${name}: mode`);
  }
  t.equal(readFileSync(f.up('/big'), 'utf8'), big, 'the big file\'s data');
});

t.test('the parents are copied up first, with their own metadata, and keep their times', { skip }, async (t) => {
  const f = overlayOf(t, [{ a: dir({ b: dir({ c: 'c' }, { mode: 0o750 }) }, { mode: 0o711 }) }]);
  const b = join(f.built.lowers[0]!, 'a/b');
  chownSync(b, 7, 8);
  lutimesSync(b, T1, T1);
  const ov = f.remount();
  await ov.copyUp.copyUp('/a/b/c');
  t.same(listTree(f.built.upper), ['a:dir', 'a/b:dir', 'a/b/c:file'], 'only the path to c is copied');
  t.equal(statSync(f.up('/a')).mode & 0o7777, 0o711);
  t.equal(statSync(f.up('/a/b')).mode & 0o7777, 0o750);
  t.equal(statSync(f.up('/a/b')).uid, 7);
  t.equal(statSync(f.up('/a/b')).mtime.getTime(), T1.getTime(), 'installing c in b did not change b\'s mtime');
});

t.test('copy-up without data gives an empty file with the same metadata', { skip }, async (t) => {
  const f = overlayOf(t, [{ f: file('a lot of data\n', { mode: 0o640 }) }]);
  const e = await f.ov.copyUp.copyUp('/f', false);
  t.equal(e.stat.size, 0);
  t.equal(e.stat.mode & 0o7777, 0o640);
});

t.test('copy-up of an upper object does nothing', { skip }, async (t) => {
  const f = overlayOf(t, [{ f: 'low' }], { upper: { f: 'up' } });
  const e = await f.ov.copyUp.copyUp('/f');
  t.equal(e.layer, UPPER);
  t.equal(readFileSync(f.up('/f'), 'utf8'), 'up');
  t.same(f.events, [], 'no copy-up event');
});

t.test('concurrent copyUp calls share one copy-up', { skip }, async (t) => {
  const f = overlayOf(t, [{ big: file(Buffer.alloc(4 << 20, 7)) }]);
  const a = f.ov.copyUp.copyUp('/big');
  const b = f.ov.copyUp.copyUp('/big');
  t.equal(a, b, 'the second caller gets the first caller\'s promise');
  const [ea, eb] = await Promise.all([a, b]);
  t.equal(ea.stat.ino, eb.stat.ino);
  t.equal(f.events.filter((e) => e.op === 'copy-up').length, 1, 'one copy-up event');
  t.equal(ea.stat.size, 4 << 20);
  const c = f.ov.copyUp.copyUp('/big');
  t.not(c, a, 'once done, a later call answers from upper');
  t.equal((await c).stat.ino, ea.stat.ino);
});

t.test('settle waits for a running copy-up of the path', { skip }, async (t) => {
  const f = overlayOf(t, [{ big: file(Buffer.alloc(2 << 20, 1)) }]);
  let done = false;
  void f.ov.copyUp.copyUp('/big').then(() => (done = true));
  await f.ov.copyUp.settle('/big');
  t.equal(done, true);
  await f.ov.copyUp.settle('/other');
  t.pass('settle of a path with no copy-up returns');
});

t.test('a copy-up event names the path, the source layer and the bytes copied', { skip }, async (t) => {
  const f = overlayOf(t, [{ x: '1' }, { f: '12345' }]);
  await f.ov.copyUp.copyUp('/f');
  const ev = f.events.find((e) => e.op === 'copy-up' && e.path === '/f');
  t.equal(ev?.layer, 'lower:2');
  t.equal(ev?.bytes, 5);
});

t.test('symlinks, fifos and devices are copied up as themselves', { skip }, async (t) => {
  const f = overlayOf(t, [{ l: sym('../target'), p: FIFO }]);
  host.mknod(join(f.built.lowers[0]!, 'c'), host.S_IFCHR | 0o640, host.makeDev(1, 5));
  const ov = f.remount();
  await ov.copyUp.copyUp('/l');
  await ov.copyUp.copyUp('/p');
  await ov.copyUp.copyUp('/c');
  t.equal(host.readlink(f.up('/l')), '../target');
  t.ok((host.mustLstat(f.up('/p')).mode & host.S_IFMT) === host.S_IFIFO);
  const c = host.mustLstat(f.up('/c'));
  t.equal(c.mode & host.S_IFMT, host.S_IFCHR);
  t.equal(c.rdev, host.makeDev(1, 5));
  t.equal(c.mode & 0o7777, 0o640);
});

t.test('copy-up of a directory copies the directory alone, not its entries', { skip }, async (t) => {
  const f = overlayOf(t, [{ d: dir({ a: 'a', s: { b: 'b' } }, { mode: 0o705, xattrs: { 'user.d': '1' } }) }]);
  const e = await f.ov.copyUp.copyUp('/d');
  t.equal(e.layer, UPPER);
  t.same(listTree(f.built.upper), ['d:dir']);
  t.equal(e.stat.mode & 0o7777, 0o705);
  t.equal(xattr(f.up('/d'), 'user.d'), '1');
  t.same(f.ov.readdir('/d').map((e) => e.name), ['a', 's'], 'the merge still shows the lower entries');
  t.equal(f.ov.ctx.namei.dir('/d').merged, true);
});

t.test('the overlay\'s private xattrs are not copied up, escaped caller ones are', { skip }, async (t) => {
  const f = overlayOf(t, [{ d: dir({ x: 'x' }, { xattrs: { 'trusted.overlay.opaque': 'y', 'trusted.overlay.overlay.mine': 'm', 'user.overlay.redirect': 'r' } }) }, { d: { y: 'y' } }]);
  await f.ov.copyUp.copyUp('/d');
  t.equal(xattr(f.up('/d'), 'trusted.overlay.opaque'), undefined);
  t.equal(xattr(f.up('/d'), 'user.overlay.redirect'), undefined);
  t.equal(xattr(f.up('/d'), 'trusted.overlay.overlay.mine'), 'm');
  t.same(f.ov.readdir('/d').map((e) => e.name), ['x'], 'the lower copy is still opaque to the layer below');
});

t.test('copy-up leaves nothing in the work area', { skip }, async (t) => {
  const f = overlayOf(t, [{ a: { b: 'b', c: sym('b') }, f: 'f' }]);
  await f.ov.copyUp.copyUp('/a/b');
  await f.ov.copyUp.copyUp('/a/c');
  await f.ov.copyUp.copyUp('/f');
  t.same(readdirSync(join(f.built.work, 'work')), []);
});

t.test('copy-up of one name of a lower hard link leaves the other name on the lower inode', { skip }, async (t) => {
  const f = overlayOf(t, [{ h1: 'hard', h2: hardlink('h1') }]);
  await f.ov.copyUp.copyUp('/h1');
  t.equal(f.ov.ctx.namei.mustLookup('/h1').layer, UPPER);
  t.equal(f.ov.ctx.namei.mustLookup('/h2').layer, 1);
});

t.test('a sparse lower file stays sparse in upper', { skip }, async (t) => {
  const f = overlayOf(t, [{ s: file('head', { sparseSize: 64 << 20 }) }]);
  const e = await f.ov.copyUp.copyUp('/s');
  t.equal(e.stat.size, 64 << 20);
  t.ok(e.stat.blocks * 512 < 1 << 20, `allocates ${e.stat.blocks * 512} bytes, not 64 MiB`);
});

t.test('copy-up of a missing path fails with ENOENT and of a read-only stack needs upper', { skip }, async (t) => {
  const f = overlayOf(t, [{ a: 'a' }]);
  await t.rejects(async () => f.ov.copyUp.copyUp('/nope'), { code: 'ENOENT' });
  const ro = overlayOf(t, [{ a: 'a' }], { readonly: true });
  await t.rejects(async () => ro.ov.truncate('/a', 0), { code: 'EROFS' });
});

t.test('ensureUpperDir makes the directory chain in upper and answers its host path', { skip }, async (t) => {
  const f = overlayOf(t, [{ a: { b: { c: {} } } }]);
  t.equal(f.ov.copyUp.ensureUpperDir('/'), f.built.upper);
  t.equal(f.ov.copyUp.ensureUpperDir('/a/b/c'), f.up('/a/b/c'));
  t.same(listTree(f.built.upper), ['a:dir', 'a/b:dir', 'a/b/c:dir']);
  t.equal(f.ov.ctx.namei.dir('/a/b').upper, true, 'the lookup cache knows');
});
