// Directory redirects (src/overlay/redirect.ts, the redirect parts of namei.ts and dir-ops.ts),
// without FUSE: what a rename with redirect_dir=on writes, and how lookup follows it.
import t from 'tap';
import { CALLER, codeOf, listTree, needsRoot, overlayOf, xattr } from '../fixtures/overlay';
import { dir, WHITEOUT, type Spec } from '../fixtures/layers';
import { UPPER } from '../../src/overlay/layers';

const skip = needsRoot;
const R = 'trusted.overlay.redirect';
const names = (ov: { readdir(p: string): { name: string }[] }, p: string): string[] => ov.readdir(p).map((e) => e.name);

const lowers: Spec[] = [{ d: { a: 'a\n', sub: { s: 's\n' } }, p: { q: { r: 'r\n' } } }, { d: { b: 'b\n' } }];

t.test('without redirect_dir=on a directory with lower content does not move (EXDEV)', { skip }, async (t) => {
  for (const mode of [undefined, 'off', 'follow', 'nofollow'] as const) {
    const f = overlayOf(t, lowers, { redirectDir: mode });
    t.equal(await codeOf(() => f.ov.rename('/d', '/d2')), 'EXDEV', `redirect_dir=${mode ?? 'default'}`);
    t.same(listTree(f.built.upper), []);
  }
});

t.test('a rename in the same directory records the old name, elsewhere the absolute old path', { skip }, async (t) => {
  const f = overlayOf(t, lowers, { redirectDir: 'on' });
  await f.ov.rename('/d', '/d2');
  t.equal(xattr(f.up('/d2'), R), 'd', 'relative: the old name');
  t.same(names(f.ov, '/d2'), ['a', 'b', 'sub'], 'both lower copies still merge');
  f.ov.mkdir('/n', 0o755, CALLER);
  await f.ov.rename('/d2', '/n/d3');
  t.equal(xattr(f.up('/n/d3'), R), '/d', 'absolute, from the relative redirect it had');
  await f.ov.rename('/p/q', '/n/q2');
  t.equal(xattr(f.up('/n/q2'), R), '/p/q', 'a lower-only directory is copied up and redirected');
  t.same(listTree(f.built.upper).filter((l) => l.endsWith('whiteout')), ['d:whiteout', 'p/q:whiteout'], 'whiteouts at the old places');
  t.same(names(f.remount(), '/n/d3'), ['a', 'b', 'sub'], 'a remount follows the redirects');
  t.same(names(f.remount(), '/n/q2'), ['r']);
  t.equal(f.remount().ctx.namei.lookup('/d'), undefined);
});

t.test('an ancestor\'s redirect is part of an absolute redirect; a renamed child keeps merging', { skip }, async (t) => {
  const f = overlayOf(t, lowers, { redirectDir: 'on' });
  await f.ov.rename('/d', '/e');
  await f.ov.rename('/e/sub', '/sub2');
  t.equal(xattr(f.up('/sub2'), R), '/d/sub', 'the parent\'s old name, not its new one');
  t.same(names(f.remount(), '/sub2'), ['s']);
});

t.test('an opaque upper directory ignores its redirect; redirect_dir=nofollow refuses to merge one (EPERM)', { skip }, async (t) => {
  const upper: Spec = { x: dir({}, { xattrs: { [R]: '/d' } }), o: dir({ own: '1' }, { opaque: true, xattrs: { [R]: '/d' } }), d: WHITEOUT };
  const follow = overlayOf(t, lowers, { upper });
  t.same(names(follow.ov, '/x'), ['a', 'b', 'sub'], 'followed by default');
  t.same(names(follow.ov, '/o'), ['own']);
  const nofollow = overlayOf(t, lowers, { upper, redirectDir: 'nofollow' });
  t.equal(await codeOf(() => nofollow.ov.readdir('/x')), 'EPERM');
  t.same(names(nofollow.ov, '/'), ['o', 'p'], 'and leaves it out of its parent\'s listing, as the kernel');
});

t.test('an invalid redirect fails the lookup with EINVAL', { skip }, async (t) => {
  for (const bad of ['', 'a/b', '//x', '/x/']) {
    const f = overlayOf(t, lowers, { upper: { x: dir({}, { xattrs: { [R]: bad } }) } });
    t.equal(await codeOf(() => f.ov.readdir('/x')), 'EINVAL', JSON.stringify(bad));
  }
});

t.test('redirects in a lower layer are followed, relative and absolute', { skip }, async (t) => {
  const f = overlayOf(t, [
    { m: dir({ own: '1' }, { xattrs: { [R]: '/src/in' } }), r: dir({}, { xattrs: { [R]: 'orig' } }), src: { in: WHITEOUT }, orig: WHITEOUT },
    { src: { in: { deep: '2' } }, orig: { o: '3' } },
  ]);
  t.same(names(f.ov, '/m'), ['deep', 'own']);
  t.same(names(f.ov, '/r'), ['o']);
  t.equal(f.ov.ctx.namei.lookup('/m/deep')?.layer, 2);
  t.not(f.ov.ctx.namei.lookup('/m/own')?.layer, UPPER);
});
