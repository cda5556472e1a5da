// Merged directory listings (src/overlay/readdir.ts), without FUSE.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { needsRoot, overlayOf } from '../fixtures/overlay';
import { dir, FIFO, WHITEOUT } from '../fixtures/layers';
import { isEmptyMerged, readdirMerged } from '../../src/overlay/readdir';
import * as host from '../../src/host/fs';

const skip = needsRoot;

t.test('a merged listing is the sorted union of every layer, each name once', { skip }, async (t) => {
  const { ov } = overlayOf(t, [{ d: { b: '1', c: '1' } }, { d: { a: '2', b: '2', e: FIFO } }], { upper: { d: { c: 'u', z: 'u' } } });
  t.same(ov.readdir('/d').map((e) => e.name), ['a', 'b', 'c', 'e', 'z']);
  t.same(readdirMerged(ov.stack, ov.ctx.namei, '/d'), ov.readdir('/d'), 'Overlay.readdir is readdirMerged');
  t.same(ov.readdir('/d').map((e) => e.type), [host.DT.REG, host.DT.REG, host.DT.REG, 1, host.DT.REG], 'with the d_type of the top-most copy (1: FIFO)');
});

t.test('an entry has the d_type of its top-most copy', { skip }, async (t) => {
  const { ov } = overlayOf(t, [{ x: dir({ in: 'i' }), y: 'file' }], { upper: { x: 'now a file', y: dir({}) } });
  t.same(ov.readdir('/').map((e) => [e.name, e.type]), [['x', host.DT.REG], ['y', host.DT.DIR]]);
});

t.test('a whiteout in upper hides the lower name from the listing and is never listed', { skip }, async (t) => {
  const { ov } = overlayOf(t, [{ a: 'a', b: 'b', c: 'c' }], { upper: { a: WHITEOUT, n: 'n' } });
  t.same(ov.readdir('/').map((e) => e.name), ['b', 'c', 'n']);
});

t.test('OCI markers in upper hide names and are never listed themselves', { skip }, async (t) => {
  const { ov } = overlayOf(t, [{ d: { a: 'a', b: 'b' } }], { upper: { d: { a: WHITEOUT, mine: 'm' } }, layerFormat: 'oci', format: 'oci' });
  t.same(ov.readdir('/d').map((e) => e.name), ['b', 'mine']);
});

t.test('the OCI opaque sentinel in upper is not listed and hides all lower names', { skip }, async (t) => {
  const { ov } = overlayOf(t, [{ d: { a: 'a' } }], { upper: { d: dir({ mine: 'm' }, { opaque: true }) }, layerFormat: 'oci', format: 'oci' });
  t.same(ov.readdir('/d').map((e) => e.name), ['mine']);
});

t.test('whiteouts and markers in lower layers hide only the layers below them', { skip }, async (t) => {
  const { ov } = overlayOf(t, [{ a: 'top' }, { a: WHITEOUT, b: WHITEOUT, c: '2' }, { a: '3', b: '3', d: '3' }]);
  t.same(ov.readdir('/').map((e) => e.name), ['a', 'c', 'd']);
  const oci = overlayOf(t, [{ a: 'top' }, { a: WHITEOUT, b: WHITEOUT, c: '2' }, { a: '3', b: '3', d: '3' }], { layerFormat: 'oci' });
  t.same(oci.ov.readdir('/').map((e) => e.name), ['a', 'c', 'd'], 'the same stack in the OCI format lists the same');
});

t.test('an opaque upper directory lists only its own entries', { skip }, async (t) => {
  const { ov } = overlayOf(t, [{ d: { low: 'l' } }], { upper: { d: dir({ up: 'u' }, { opaque: true }) } });
  t.same(ov.readdir('/d').map((e) => e.name), ['up']);
});

t.test('an opaque lower directory hides the layers below it in the listing', { skip }, async (t) => {
  const { ov } = overlayOf(t, [{ d: dir({ a: 'a' }, { opaque: true }) }, { d: { b: 'b' } }]);
  t.same(ov.readdir('/d').map((e) => e.name), ['a']);
});

t.test('a character device that is not a whiteout is listed', { skip }, async (t) => {
  const { ov, up } = overlayOf(t, [{ a: 'a' }]);
  host.mknod(up('/null'), host.S_IFCHR | 0o666, host.makeDev(1, 3));
  t.same(ov.readdir('/').map((e) => e.name), ['a', 'null']);
});

t.test('a directory whose upper copy holds only whiteouts is empty in the merge', { skip }, async (t) => {
  const { ov } = overlayOf(t, [{ d: { a: 'a', b: 'b' }, e: {} }], { upper: { d: { a: WHITEOUT, b: WHITEOUT } } });
  t.same(ov.readdir('/d').map((e) => e.name), []);
  t.equal(isEmptyMerged(ov.stack, ov.ctx.namei, '/d'), true);
  t.equal(isEmptyMerged(ov.stack, ov.ctx.namei, '/e'), true, 'an empty lower directory is empty');
  t.equal(isEmptyMerged(ov.stack, ov.ctx.namei, '/'), false);
});

t.test('a new upper file shows in the listing at once, without invalidation', { skip }, async (t) => {
  const { ov, up } = overlayOf(t, [{ d: { a: 'a' } }], { upper: { d: {} } });
  t.same(ov.readdir('/d').map((e) => e.name), ['a']);
  writeFileSync(up('/d/b'), 'b');
  t.same(ov.readdir('/d').map((e) => e.name), ['a', 'b']);
});

t.test('listing a file or a missing directory fails with ENOTDIR or ENOENT', { skip }, async (t) => {
  const { ov } = overlayOf(t, [{ f: 'f' }]);
  t.throws(() => ov.readdir('/f'), { code: 'ENOTDIR' });
  t.throws(() => ov.readdir('/nope'), { code: 'ENOENT' });
});

t.test('listing a read-only stack merges the lowers', { skip }, async (t) => {
  const { ov } = overlayOf(t, [{ d: { a: 'a', w: WHITEOUT } }, { d: { b: 'b', w: 'w' } }], { readonly: true });
  t.same(ov.readdir('/d').map((e) => e.name), ['a', 'b']);
});
