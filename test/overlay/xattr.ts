// Extended attributes through the overlay (src/overlay/xattr.ts and the Overlay entry points):
// the overlay's own attributes are never shown or writable, a caller's trusted.overlay.* is escaped.
import t from 'tap';
import { codeOf, needsRoot, overlayOf, xattr } from '../fixtures/overlay';
import { dir, file } from '../fixtures/layers';
import { isOverlayXattr, isPrivateXattr, storedName } from '../../src/overlay/xattr';
import { UPPER } from '../../src/overlay/layers';

const skip = needsRoot;

t.test('trusted.overlay.NAME is stored escaped as trusted.overlay.overlay.NAME and shown unescaped', async (t) => {
  t.equal(storedName('trusted.overlay.foo'), 'trusted.overlay.overlay.foo');
  t.equal(storedName('trusted.overlay.overlay.foo'), 'trusted.overlay.overlay.overlay.foo', 'escaping nests');
  t.equal(storedName('user.x'), 'user.x');
  t.equal(storedName('trusted.other'), 'trusted.other');
});

t.test('the overlay\'s own attributes are private, a caller\'s are not', async (t) => {
  for (const p of ['trusted.overlay.opaque', 'trusted.overlay.origin']) {
    t.equal(isPrivateXattr(p, 'kernel'), true, `${p} (kernel format)`);
    t.equal(isPrivateXattr(p, 'oci'), true, `${p} (OCI format)`);
  }
  for (const p of ['user.overlay.opaque', 'user.fuseoverlayfs.opaque']) {
    t.equal(isPrivateXattr(p, 'oci'), true, `${p} marks the unprivileged format`);
    t.equal(isPrivateXattr(p, 'kernel'), false, `${p} is an ordinary attribute in the kernel format`);
    t.equal(isOverlayXattr(p), true, `${p} is never copied up from a lower layer`);
  }
  for (const p of ['trusted.overlay.overlay.opaque', 'user.mine', 'security.capability', 'trusted.foo', 'user.overlayish']) {
    t.equal(isPrivateXattr(p, 'oci'), false, p);
    t.equal(isOverlayXattr(p), false, p);
  }
});

t.test('getxattr and listxattr hide the overlay\'s attributes of an opaque directory', { skip }, async (t) => {
  const f = overlayOf(t, [{ d: dir({ a: 'a' }, { opaque: true, xattrs: { 'user.v': '1' } }) }, { d: { b: 'b' } }]);
  t.same(f.ov.listxattr('/d'), ['user.v']);
  t.throws(() => f.ov.getxattr('/d', 'trusted.overlay.opaque'), { code: 'ENODATA' }, 'the caller name maps to the escaped one, which is absent');
  t.equal(f.ov.getxattr('/d', 'user.v').toString(), '1');
  t.throws(() => f.ov.getxattr('/d', 'user.fuseoverlayfs.opaque'), { code: 'ENODATA' });
  t.throws(() => f.ov.getxattr('/d', 'user.none'), { code: 'ENODATA' });
});

t.test('setxattr copies up and escapes a caller\'s trusted.overlay.* so it changes nothing', { skip }, async (t) => {
  const f = overlayOf(t, [{ d: { a: 'a' } }, { d: { b: 'b' } }]);
  await f.ov.setxattr('/d', 'trusted.overlay.opaque', Buffer.from('y'), 0);
  t.equal(f.ov.ctx.namei.mustLookup('/d').layer, UPPER, 'd was copied up');
  t.equal(xattr(f.up('/d'), 'trusted.overlay.overlay.opaque'), 'y', 'stored escaped');
  t.equal(xattr(f.up('/d'), 'trusted.overlay.opaque'), undefined, 'not as the real mark');
  t.equal(f.ov.getxattr('/d', 'trusted.overlay.opaque').toString(), 'y', 'the caller reads back what it set');
  t.same(f.ov.listxattr('/d'), ['trusted.overlay.opaque']);
  t.same(f.remount().readdir('/d').map((e) => e.name), ['a', 'b'], 'd is still merged after a remount');
  await f.ov.removexattr('/d', 'trusted.overlay.opaque');
  t.equal(xattr(f.up('/d'), 'trusted.overlay.overlay.opaque'), undefined);
});

t.test('a caller cannot make a directory opaque through the unprivileged opaque xattrs', { skip }, async (t) => {
  // "nothing a caller sets can change how the overlay behaves": user.overlay.opaque and
  // user.fuseoverlayfs.opaque are read as opaque marks, so a caller must not be able to write them.
  for (const name of ['user.fuseoverlayfs.opaque', 'user.overlay.opaque']) {
    const f = overlayOf(t, [{ d: { a: 'a' } }, { d: { b: 'b' } }]);
    await codeOf(() => f.ov.setxattr('/d', name, Buffer.from('y'), 0));
    t.same(f.remount().readdir('/d').map((e) => e.name), ['a', 'b'], `${name}=y set by a caller leaves d merged after a remount`);
  }
});

t.test('removexattr of a private attribute is ENODATA and keeps it', { skip }, async (t) => {
  const f = overlayOf(t, [{ x: '1' }], { upper: { d: dir({}, { opaque: true }) } });
  await t.rejects(async () => f.ov.removexattr('/d', 'user.fuseoverlayfs.opaque'), { code: 'ENODATA' });
  await t.rejects(async () => f.ov.removexattr('/d', 'trusted.overlay.opaque'), { code: 'ENODATA' }, 'maps to the escaped name, which is absent');
  t.equal(xattr(f.up('/d'), 'trusted.overlay.opaque'), 'y');
});

t.test('setxattr flags are passed on: XATTR_CREATE on an existing attribute is EEXIST', { skip }, async (t) => {
  const f = overlayOf(t, [{ f: file('x', { xattrs: { 'user.a': '1' } }) }]);
  await t.rejects(async () => f.ov.setxattr('/f', 'user.a', Buffer.from('2'), 1), { code: 'EEXIST' });
  await t.rejects(async () => f.ov.setxattr('/f', 'user.b', Buffer.from('2'), 2), { code: 'ENODATA' }, 'XATTR_REPLACE of a missing one');
  await f.ov.setxattr('/f', 'user.a', Buffer.from('3'), 2);
  t.equal(f.ov.getxattr('/f', 'user.a').toString(), '3');
  t.same(f.ov.listxattr('/f').sort(), ['user.a']);
});

t.test('reading attributes never copies up', { skip }, async (t) => {
  const f = overlayOf(t, [{ f: file('x', { xattrs: { 'user.a': '1' } }) }]);
  f.ov.listxattr('/f');
  f.ov.getxattr('/f', 'user.a');
  t.equal(f.ov.ctx.namei.mustLookup('/f').layer, 1);
  t.same(f.events, []);
});
