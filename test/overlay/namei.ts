// Lookup through the layers (src/overlay/namei.ts), without FUSE.
import t from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import { CALLER, codeOf, needsRoot, overlayOf } from '../fixtures/overlay';
import { dir, file, sym, WHITEOUT } from '../fixtures/layers';
import { UPPER } from '../../src/overlay/layers';
import { baseName, childPath, parentOf } from '../../src/overlay/namei';
import * as host from '../../src/host/fs';
import { Overlay } from '../../src/overlay/overlay';

const skip = needsRoot;

t.test('path helpers split and join overlay paths', async (t) => {
  t.equal(parentOf('/a/b/c'), '/a/b');
  t.equal(parentOf('/a'), '/');
  t.equal(parentOf('/'), '/');
  t.equal(baseName('/a/b'), 'b');
  t.equal(childPath('/', 'x'), '/x');
  t.equal(childPath('/a', 'x'), '/a/x');
});

t.test('the top-most layer holding a name answers its lookup', { skip }, async (t) => {
  const { ov } = overlayOf(t, [{ f: 'l1\n' }, { f: 'l2\n', g: 'g2\n' }], { upper: { h: 'up\n' } });
  const n = ov.ctx.namei;
  t.equal(n.lookup('/f')?.layer, 1, 'f comes from lower 1, not lower 2');
  t.equal(n.lookup('/g')?.layer, 2);
  t.equal(n.lookup('/h')?.layer, UPPER);
  t.equal(n.lookup('/nope'), undefined, 'a missing name is undefined');
  t.equal(await codeOf(() => n.mustLookup('/nope')), 'ENOENT');
});

t.test('an upper file hides the lower file and records that a lower copy exists below', { skip }, async (t) => {
  const { ov } = overlayOf(t, [{ f: 'low\n' }], { upper: { f: 'up\n', only: 'o\n' } });
  const f = ov.ctx.namei.mustLookup('/f');
  t.equal(f.layer, UPPER);
  t.equal(f.stat.size, 3);
  t.equal(f.lowerBelow, true, 'removing f needs a whiteout');
  t.equal(ov.ctx.namei.mustLookup('/only').lowerBelow, false, 'an upper-only name has nothing below');
});

t.test('a whiteout in upper hides the lower file', { skip }, async (t) => {
  const { ov } = overlayOf(t, [{ f: 'low\n', d: { x: 'x' } }], { upper: { f: WHITEOUT, d: WHITEOUT } });
  t.equal(ov.ctx.namei.lookup('/f'), undefined);
  t.equal(ov.ctx.namei.lookup('/d'), undefined, 'a whited-out directory is gone');
  t.equal(await codeOf(() => ov.ctx.namei.lookup('/d/x')), 'ENOENT', 'and so is everything under it');
});

t.test('an OCI .wh. marker in upper hides the lower file', { skip }, async (t) => {
  const { ov } = overlayOf(t, [{ f: 'low\n', g: 'g\n' }], { upper: { f: WHITEOUT }, layerFormat: 'oci', format: 'oci' });
  t.equal(ov.ctx.namei.lookup('/f'), undefined);
  t.equal(ov.ctx.namei.lookup('/g')?.layer, 1, 'other names are untouched');
  t.equal(ov.ctx.namei.lookup('/.wh.f')?.layer, UPPER, 'the marker itself is an upper object (readdir hides it)');
});

t.test('a whiteout in a middle lower layer hides the layers below it, not above', { skip }, async (t) => {
  const { ov } = overlayOf(t, [{ a: 'top\n' }, { a: WHITEOUT, b: WHITEOUT }, { a: 'bottom\n', b: 'b\n' }]);
  t.equal(ov.ctx.namei.lookup('/a')?.layer, 1, 'a from above the whiteout is visible');
  t.equal(ov.ctx.namei.lookup('/b'), undefined, 'b below the whiteout is hidden');
});

t.test('an OCI whiteout in a lower layer hides the layers below', { skip }, async (t) => {
  const { ov } = overlayOf(t, [{ b: WHITEOUT }, { b: 'b\n', c: 'c\n' }], { layerFormat: 'oci' });
  t.equal(ov.ctx.namei.lookup('/b'), undefined);
  t.equal(ov.ctx.namei.lookup('/c')?.layer, 2);
});

t.test('an opaque upper dir stops lookup in lower layers', { skip }, async (t) => {
  const { ov } = overlayOf(t, [{ d: { low: 'l\n', both: 'low\n' } }], { upper: { d: dir({ both: 'up\n', mine: 'm\n' }, { opaque: true }) } });
  const n = ov.ctx.namei;
  t.equal(n.lookup('/d/low'), undefined, 'the lower entry is hidden');
  t.equal(n.mustLookup('/d/both').layer, UPPER);
  t.equal(n.mustLookup('/d/both').lowerBelow, false, 'nothing is merged below an opaque dir');
  t.same(n.dir('/d').lowers, []);
  t.equal(n.dir('/d').merged, false);
});

t.test('an OCI opaque sentinel in upper stops lookup in lower layers', { skip }, async (t) => {
  const { ov } = overlayOf(t, [{ d: { low: 'l\n' } }], { upper: { d: dir({ mine: 'm\n' }, { opaque: true }) }, layerFormat: 'oci', format: 'oci' });
  t.equal(ov.ctx.namei.lookup('/d/low'), undefined);
  t.equal(ov.ctx.namei.lookup('/d/mine')?.layer, UPPER);
});

t.test('an opaque lower dir stops the merge with the layers below it', { skip }, async (t) => {
  const { ov } = overlayOf(t, [{ d: dir({ a: 'a\n' }, { opaque: true }) }, { d: { b: 'b\n' } }]);
  t.equal(ov.ctx.namei.lookup('/d/a')?.layer, 1);
  t.equal(ov.ctx.namei.lookup('/d/b'), undefined);
  t.same(ov.ctx.namei.dir('/d').lowers, [1]);
});

t.test('directories merge across every layer that holds them', { skip }, async (t) => {
  const { ov } = overlayOf(t, [{ d: { a: 'a' } }, { d: { b: 'b' } }, { d: { c: 'c' } }], { upper: { d: { u: 'u' } } });
  const d = ov.ctx.namei.dir('/d');
  t.equal(d.upper, true);
  t.same(d.lowers, [1, 2, 3]);
  t.equal(d.merged, true);
  for (const [name, layer] of [['u', 0], ['a', 1], ['b', 2], ['c', 3]] as const) t.equal(ov.ctx.namei.lookup(`/d/${name}`)?.layer, layer, name);
});

t.test('a non-directory in a middle layer ends the merge of a directory', { skip }, async (t) => {
  const { ov } = overlayOf(t, [{ d: { a: 'a' } }, { d: 'a file\n' }, { d: { c: 'c' } }]);
  t.same(ov.ctx.namei.dir('/d').lowers, [1]);
  t.equal(ov.ctx.namei.lookup('/d/c'), undefined, 'the directory below the file does not show through');
});

t.test('a file on top of a lower directory is a file, and lookup through it is ENOTDIR', { skip }, async (t) => {
  const { ov } = overlayOf(t, [{ d: { x: 'x' } }], { upper: { d: 'now a file\n' } });
  t.ok(host.isReg(ov.ctx.namei.mustLookup('/d').stat));
  t.equal(await codeOf(() => ov.ctx.namei.lookup('/d/x')), 'ENOTDIR');
  t.equal(await codeOf(() => ov.ctx.namei.dir('/d')), 'ENOTDIR');
  t.equal(await codeOf(() => ov.ctx.namei.lookup('/missing/x')), 'ENOENT');
});

t.test('a non-whiteout character device in a lower layer is a real entry', { skip }, async (t) => {
  const { ov, built } = overlayOf(t, [{ keep: 'k' }, { c: 'c\n' }]);
  host.mknod(`${built.lowers[0]}/c`, host.S_IFCHR | 0o600, host.makeDev(1, 3));
  const again = overlayOfSame(ov);
  const e = again.ctx.namei.lookup('/c');
  t.equal(e?.layer, 1, 'the 1:3 device is visible and hides the lower file');
  t.equal(e?.stat.rdev, host.makeDev(1, 3));
});

// A fresh Overlay over the same stack: lower directories are indexed once per mount.
const overlayOfSame = (ov: Overlay): Overlay => new Overlay(ov.stack, { log: ov.ctx.log });

t.test('the root of a read-only stack is the top-most lower layer', { skip }, async (t) => {
  const { ov, built } = overlayOf(t, [{ a: 'a' }, { b: 'b' }], { readonly: true });
  const root = ov.ctx.namei.mustLookup('/');
  t.equal(root.layer, 1);
  t.equal(root.hostPath, built.lowers[0]);
  t.equal(ov.ctx.namei.dir('/').upper, false);
  t.equal(ov.ctx.namei.lookup('/b')?.layer, 2);
});

t.test('an opaque mark on a lower layer root does not hide the layers below, as on the kernel', { skip }, async (t) => {
  // mount -t overlay -o lowerdir=L1:L2 with trusted.overlay.opaque=y on L1's root still shows L2's files.
  const { ov, built } = overlayOf(t, [{ a: 'a' }, { b: 'b' }], {});
  host.setxattr(built.lowers[0]!, 'trusted.overlay.opaque', Buffer.from('y'));
  const again = overlayOfSame(ov);
  t.equal(again.ctx.namei.lookup('/b')?.layer, 2, 'b from lower 2 is visible');
  t.same(again.readdir('/').map((e) => e.name), ['a', 'b']);
});

t.test('invalidate makes lookup see a directory created in upper since', { skip }, async (t) => {
  const { ov, up } = overlayOf(t, [{ d: { x: 'x' } }]);
  t.equal(ov.ctx.namei.dir('/d').upper, false);
  mkdirSync(up('/d'));
  t.equal(ov.ctx.namei.dir('/d').upper, false, 'the directory node is cached');
  ov.ctx.namei.invalidate('/d');
  t.equal(ov.ctx.namei.dir('/d').upper, true, 'and re-read after invalidate');
  writeFileSync(up('/d/y'), 'y');
  t.equal(ov.ctx.namei.lookup('/d/y')?.layer, UPPER, 'upper entries of a known directory need no invalidation');
});

t.test('a symlink is looked up, never followed', { skip }, async (t) => {
  const { ov } = overlayOf(t, [{ l: sym('d'), d: { x: file('x') } }]);
  t.ok(host.isSymlink(ov.ctx.namei.mustLookup('/l').stat));
  t.equal(await codeOf(() => ov.ctx.namei.lookup('/l/x')), 'ENOTDIR');
  t.equal(await codeOf(() => ov.mkdir('/l/new', 0o755, CALLER)), 'ENOTDIR');
});
