// The read side against the kernel: the same layer stacks mounted by mount -t overlay and by
// layerfs must look the same to ls/stat/cat/getfattr, in both whiteout formats of the lowers.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { cannotMount, mountPair, sh } from '../fixtures/mounts';
import { snapshot } from '../fixtures/snapshot';
import { dir, file, FIFO, hardlink, sym, WHITEOUT, type Spec } from '../fixtures/layers';

const skip = cannotMount();
const big = randomBytes(3 << 20);

/** Two lowers exercising every lookup rule. */
const rich: Spec[] = [
  {
    f: 'top\n',
    d: { b: 'b\n', gone: WHITEOUT, opq: dir({ x: '1\n' }, { opaque: true }) },
    g: WHITEOUT,
    fileoverdir: 'now a file\n',
    diroverfile: { inside: 'i\n' },
    link: sym('f'),
    dangling: sym('nowhere'),
    'with space': 'sp\n',
    'ünïcode': 'u\n',
  },
  {
    f: 'bottom\n',
    d: { a: 'a\n', gone: 'x\n', sub: { s: 's\n' }, opq: { hidden: 'h\n' } },
    g: 'gone\n',
    fileoverdir: { inner: 'x\n' },
    diroverfile: 'was a file\n',
    etc: sym('/etc'),
    big: file(big),
    sparse: file('head', { sparseSize: 64 << 20 }),
    fifo: FIFO,
    hl1: 'hard\n',
    hl2: hardlink('hl1'),
    xa: file('x\n', { xattrs: { 'user.color': 'blue', 'trusted.app': 'v' }, mode: 0o640 }),
    xd: dir({ y: 'y\n' }, { xattrs: { 'user.kind': 'dir' }, mode: 0o750 }),
    deep: { a: { b: { c: { d: 'deep\n' } } } },
    empty: {},
  },
];

function manyLayers(n: number): Spec[] {
  return Array.from({ length: n }, (_, i) => ({
    [`only${i}`]: `${i}\n`,
    shared: `layer ${i}\n`,
    common: { [`f${i}`]: `${i}\n`, ...(i % 5 === 2 ? { [`f${i + 1}`]: WHITEOUT } : {}) },
    ...(i === 7 ? { cut: dir({ top: 't\n' }, { opaque: true }) } : { cut: { [`c${i}`]: 'c\n' } }),
  }));
}

const stacks: [string, Spec[]][] = [
  ['one lower', [rich[1]!]],
  ['two lowers with every rule', rich],
  ['three lowers', [{ d: { third: '3\n' }, f: WHITEOUT }, ...rich]],
  ['twenty lowers', manyLayers(20)],
];

for (const [name, lowers] of stacks) {
  for (const lowerFormat of ['kernel', 'oci'] as const) {
    t.test(`${name}, ${lowerFormat} whiteouts: the merged view matches the kernel`, { skip }, async (t) => {
      const pair = await mountPair(t, lowers, { lowerFormat });
      t.same(await snapshot(pair.layerfs.mnt), await snapshot(pair.kernel.mnt));
    });
  }
}

t.test('reads at any offset of large and sparse files match', { skip }, async (t) => {
  const pair = await mountPair(t, rich);
  const script = [
    'dd if=big bs=4096 skip=301 count=7 2>/dev/null | sha256sum',
    'dd if=big bs=1 skip=3145727 count=10 2>/dev/null | od -An -tx1',
    'dd if=sparse bs=1M skip=40 count=2 2>/dev/null | sha256sum',
    'tail -c 5 sparse | od -An -tx1',
    'head -c 4 sparse',
    'cat link dangling 2>&1; echo rc=$?',
  ].join('; ');
  const [k, l] = [await sh(pair.kernel.mnt, script), await sh(pair.layerfs.mnt, script)];
  t.same(l, k);
  t.match(k.stdout, /head/);
});

t.test('names, symlinks and xattrs as tools print them', { skip }, async (t) => {
  const pair = await mountPair(t, rich);
  const script = 'ls -1A; ls -1A d deep/a; readlink etc link; getfattr -d -m - xa xd 2>&1; stat -c "%n %F %a %h" d/opq fifo hl1 hl2 xa';
  t.same(await sh(pair.layerfs.mnt, script), await sh(pair.kernel.mnt, script));
});

t.test('a symlink to /etc in a layer is shown, never followed by the daemon', { skip }, async (t) => {
  const pair = await mountPair(t, rich);
  const r = await sh(pair.layerfs.mnt, 'stat -c %F etc; readlink etc; ls etc/. >/dev/null && echo caller-follows');
  t.same(r.stdout.split('\n'), ['symbolic link', '/etc', 'caller-follows', '']);
  t.same(await snapshot(pair.layerfs.mnt).then((s) => s['etc']), { type: 'symlink', mode: '777', uid: 0, gid: 0, target: '/etc' });
});

t.test('a read-only mount (no upper) refuses every change with EROFS', { skip }, async (t) => {
  const pair = await mountPair(t, rich, { readonly: true });
  const script = [
    'touch new', 'echo x >> f', 'rm f', 'mkdir nd', 'rmdir empty', 'mv f f2', 'chmod 600 f', 'ln -s a b',
    'setfattr -n user.x -v 1 f', 'truncate -s 0 f', 'ln f hard',
  ].map((c) => `${c} 2>/dev/null; echo "${c}: $?"`).join('; ');
  const k = await sh(pair.kernel.mnt, script);
  const l = await sh(pair.layerfs.mnt, script);
  t.same(l, k);
  t.notMatch(k.stdout, /: 0$/m, 'the kernel refused everything too');
  const erofs = await sh(pair.layerfs.mnt, 'touch new');
  t.match(erofs.stderr, /Read-only file system/);
});

t.test('statfs reports the upper filesystem, as the kernel does (df works)', { skip }, async (t) => {
  const pair = await mountPair(t, rich);
  const script = 'stat -f -c "%S %l %b" .; df --output=size . | tail -1';
  const [k, l] = [await sh(pair.kernel.mnt, script), await sh(pair.layerfs.mnt, script)];
  t.same(l, k);
  t.match(k.stdout, /^\d+ 255 \d+\n\s*\d+\n$/);
});
