// Whiteout and opaque encodings (src/overlay/whiteout.ts), on real files in a temp dir.
import t, { type Test } from 'tap';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { needsRoot, xattr } from '../fixtures/overlay';
import { tempDir } from '../fixtures/layers';
import * as host from '../../src/host/fs';
import {
  hasOpaqueXattr, hiddenByMarker, isMarkerName, isOpaqueDir, isWhiteout, makeKernelWhiteout, markOpaque,
  OCI_OPAQUE, OCI_PREFIX, probeFormat, markerPath, hasMarker,
} from '../../src/overlay/whiteout';

const skip = needsRoot;

function scratch(t: Test): string {
  const tmp = tempDir('layerfs-wh-');
  t.teardown(tmp.remove);
  return tmp.path;
}

t.test('OCI marker names: .wh.NAME hides NAME, the opaque sentinel hides no single name', async (t) => {
  t.equal(hiddenByMarker('.wh.foo'), 'foo');
  t.equal(hiddenByMarker('.wh..hidden'), '.hidden');
  t.equal(hiddenByMarker(OCI_OPAQUE), undefined);
  t.equal(hiddenByMarker('foo'), undefined);
  t.equal(hiddenByMarker('x.wh.foo'), undefined, 'the prefix must start the name');
  t.equal(isMarkerName('.wh.foo'), true);
  t.equal(isMarkerName(OCI_OPAQUE), true);
  t.equal(isMarkerName('.whfoo'), false);
  t.equal(OCI_PREFIX, '.wh.');
});

t.test('the OCI marker of NAME is .wh.NAME; a name too long for one has none', { skip }, async (t) => {
  t.equal(markerPath('/u/d', 'x'), '/u/d/.wh.x');
  const d = scratch(t);
  writeFileSync(join(d, '.wh.x'), '');
  t.equal(hasMarker(d, 'x'), true);
  t.equal(hasMarker(d, 'y'), false);
  t.equal(hasMarker(d, 'n'.repeat(255)), false, 'a 255-byte name cannot have a marker (and asking does not fail)');
});

t.test('a kernel whiteout is a 0/0 character device with mode 0, and only that is a whiteout', { skip }, async (t) => {
  const d = scratch(t);
  makeKernelWhiteout(join(d, 'w'));
  const st = host.mustLstat(join(d, 'w'));
  t.equal(st.mode & host.S_IFMT, host.S_IFCHR);
  t.equal(st.rdev, 0);
  t.equal(st.mode & 0o7777, 0);
  t.equal(isWhiteout(st), true);
  host.mknod(join(d, 'null'), host.S_IFCHR | 0o666, host.makeDev(1, 3));
  t.equal(isWhiteout(host.mustLstat(join(d, 'null'))), false, 'a 1:3 device is not a whiteout');
  writeFileSync(join(d, 'f'), '');
  t.equal(isWhiteout(host.mustLstat(join(d, 'f'))), false, 'an empty file is not a whiteout');
  host.mknod(join(d, 'b'), 0o060000 | 0o600, 0);
  t.equal(isWhiteout(host.mustLstat(join(d, 'b'))), false, 'a 0/0 block device is not a whiteout');
});

t.test('a directory is opaque by any of the three opaque xattrs set to y, or by the sentinel file', { skip }, async (t) => {
  const d = scratch(t);
  for (const x of ['trusted.overlay.opaque', 'user.overlay.opaque', 'user.fuseoverlayfs.opaque']) {
    const p = join(d, x);
    mkdirSync(p);
    t.equal(isOpaqueDir(p, 'oci'), false, `${x}: not opaque before`);
    host.setxattr(p, x, Buffer.from('y'));
    t.equal(isOpaqueDir(p, 'oci'), true, `${x}=y is opaque`);
    t.equal(hasOpaqueXattr(p), true, 'in a lower layer, any format counts');
    t.equal(isOpaqueDir(p, 'kernel'), x === 'trusted.overlay.opaque', 'in a kernel-format upper, only the kernel mark counts');
  }
  const n = join(d, 'no');
  mkdirSync(n);
  host.setxattr(n, 'trusted.overlay.opaque', Buffer.from('n'));
  t.equal(isOpaqueDir(n, 'kernel'), false, 'a value other than y is not opaque');
  const s = join(d, 'sentinel');
  mkdirSync(s);
  writeFileSync(join(s, OCI_OPAQUE), '');
  t.equal(isOpaqueDir(s, 'kernel'), true, 'the .wh..wh..opq sentinel makes it opaque');
  t.equal(hasOpaqueXattr(s), false, 'but not by xattr');
});

t.test('markOpaque writes trusted.overlay.opaque in the kernel format and user.fuseoverlayfs.opaque in the OCI one', { skip }, async (t) => {
  const d = scratch(t);
  mkdirSync(join(d, 'k'));
  mkdirSync(join(d, 'o'));
  markOpaque(join(d, 'k'), 'kernel');
  markOpaque(join(d, 'o'), 'oci');
  t.equal(xattr(join(d, 'k'), 'trusted.overlay.opaque'), 'y');
  t.equal(xattr(join(d, 'k'), 'user.fuseoverlayfs.opaque'), undefined);
  t.equal(xattr(join(d, 'o'), 'user.fuseoverlayfs.opaque'), 'y');
  t.equal(xattr(join(d, 'o'), 'trusted.overlay.opaque'), undefined);
  t.ok(isOpaqueDir(join(d, 'k'), 'kernel') && isOpaqueDir(join(d, 'o'), 'oci'));
});

t.test('probeFormat finds the kernel format as root and leaves nothing behind', { skip }, async (t) => {
  const d = scratch(t);
  t.equal(probeFormat(d), 'kernel');
  t.same(readdirSync(d), [], 'the probe device is removed');
  t.same(host.listxattr(d).filter((x) => x.startsWith('trusted.overlay.')), [], 'the probe xattr is removed');
});

t.test('probeFormat falls back to OCI where a device cannot be made', { skip }, async (t) => {
  t.equal(probeFormat('/proc/self'), 'oci', 'mknod in /proc fails');
  t.equal(probeFormat(join(scratch(t), 'missing')), 'oci', 'so does a missing directory');
});
