// layerfs diff against a known set of changes (src/store/changes.ts).
import t from 'tap';
import { buildStack, dir, tempDir, WHITEOUT, type Spec } from '../fixtures/layers';
import { needsRoot } from '../fixtures/overlay';
import { changes, ImageView } from '../../src/store/changes';

const skip = needsRoot;

t.test('A, C and D like docker diff, sorted, parents reported', { skip }, async (t) => {
  const tmp = tempDir('layerfs-changes-');
  t.teardown(tmp.remove);
  const lowers: Spec[] = [
    // top image layer: deletes /old and /etc/motd, replaces /var contents
    { old: WHITEOUT, etc: { motd: WHITEOUT, added: 'a' }, var: dir({ log: { new: 'n' } }, { opaque: true }) },
    // bottom image layer
    { old: 'o', etc: { hosts: 'h', motd: 'm', passwd: 'p' }, var: { cache: { x: 'x' }, lib: { y: 'y' } }, usr: { bin: { sh: 's' } }, home: { u: { f: 'f' } } },
  ];
  const upper: Spec = {
    'file.txt': 'new',                              // A
    etc: { hosts: 'changed', passwd: WHITEOUT, motd: WHITEOUT }, // C /etc/hosts, D /etc/passwd; motd already hidden: nothing
    newdir: { inner: 'i' },                         // A /newdir, A /newdir/inner
    usr: { bin: { tool: 't' } },                    // A deep: parents C
    home: WHITEOUT,                                 // D /home only, not its children
    var: dir({ log: { fresh: 'f' } }, { opaque: true }), // opaque over image's var/log
    old: 'back',                                    // deleted in the image, created again: A
  };
  const stack = buildStack(tmp.path, lowers, { upper });
  const view = new ImageView(stack.lowers);
  t.same(view.list('').sort(), ['etc', 'home', 'usr', 'var'], 'image view of /');
  t.same(view.list('etc').sort(), ['added', 'hosts', 'passwd']);
  t.same(view.list('var'), ['log'], 'opaque layer hides var/cache and var/lib');
  t.equal(view.stat('old'), undefined);
  t.equal(view.stat('var/cache/x'), undefined);
  t.ok(view.stat('var/log/new'));
  const lines = changes(stack.upper, stack.lowers).map((c) => `${c.Kind} ${c.Path}`);
  t.same(lines, [
    'C /etc',
    'C /etc/hosts',
    'D /etc/passwd',
    'A /file.txt',
    'D /home',
    'A /newdir',
    'A /newdir/inner',
    'A /old',
    'C /usr',
    'C /usr/bin',
    'A /usr/bin/tool',
    'C /var',
    'C /var/log',
    'A /var/log/fresh',
    'D /var/log/new',
  ]);
});

t.test('an empty upper has no changes; OCI markers in upper are read too', { skip }, async (t) => {
  const tmp = tempDir('layerfs-changes-');
  t.teardown(tmp.remove);
  const s1 = buildStack(tmp.path, [{ a: 'a', d: { b: 'b' } }], { tag: 'e' });
  t.same(changes(s1.upper, s1.lowers), []);
  const s2 = buildStack(tmp.path, [{ a: 'a', d: { b: 'b', c: 'c' } }], { tag: 'o', upper: { a: WHITEOUT, d: dir({ c: 'c2' }, { opaque: true }) }, format: 'oci' });
  t.same(changes(s2.upper, s2.lowers).map((c) => `${c.Kind} ${c.Path}`), ['D /a', 'C /d', 'D /d/b', 'C /d/c']);
});
