// The layer stack and its checks at mount (src/overlay/layers.ts).
import t, { type Test } from 'tap';
import { mkdirSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { tempDir } from '../fixtures/layers';
import { assertNotInLayers, LayerConfigError, LayerStack, prepareWorkdir, UPPER, validateStack } from '../../src/overlay/layers';

function dirs(t: Test, ...names: string[]): Record<string, string> & { base: string } {
  const tmp = tempDir('layerfs-layers-');
  t.teardown(tmp.remove);
  const out: Record<string, string> & { base: string } = { base: tmp.path } as never;
  for (const n of names) {
    mkdirSync(join(tmp.path, n), { recursive: true });
    // Every prefix is a key too: 'a/b' gives d['a/b'] and d.a.
    const parts = n.split('/');
    for (let i = 1; i <= parts.length; i++) out[parts.slice(0, i).join('/')] = join(tmp.path, ...parts.slice(0, i));
  }
  return out;
}

const refuses = (t: Test, opts: Parameters<typeof validateStack>[0], pattern: RegExp, msg: string): void => {
  t.throws(() => validateStack(opts), { constructor: LayerConfigError, message: pattern }, msg);
};

t.test('a valid stack has upper at index 0 and the lowers top-down after it', async (t) => {
  const d = dirs(t, 'l1', 'l2', 'u', 'w');
  const s = validateStack({ lowers: [d.l1!, d.l2!], upper: d.u, work: d.w });
  t.same(s.roots, [d.u, d.l1, d.l2]);
  t.equal(s.count, 3);
  t.equal(s.writable, true);
  t.equal(s.workTmp, join(d.w!, 'work'));
  t.equal(s.hostPath(UPPER, '/'), d.u);
  t.equal(s.hostPath(2, '/a/b'), `${d.l2}/a/b`);
  t.equal(s.label(UPPER), 'upper');
  t.equal(s.label(2), 'lower:2');
});

t.test('relative layer paths are made absolute', async (t) => {
  const d = dirs(t, 'l1', 'u', 'w');
  const rel = (p: string): string => relative(process.cwd(), p);
  const s = validateStack({ lowers: [rel(d.l1!)], upper: rel(d.u!), work: rel(d.w!) });
  t.same(s.roots, [d.u, d.l1]);
  t.equal(s.work, d.w);
});

t.test('a stack without upper is read-only and its root is the first lower', async (t) => {
  const d = dirs(t, 'l1', 'l2');
  const s = validateStack({ lowers: [d.l1!, d.l2!] });
  t.equal(s.writable, false);
  t.equal(s.upper, undefined);
  t.equal(s.workTmp, undefined);
  t.same(s.roots, ['', d.l1, d.l2]);
  t.equal(prepareWorkdir(s), 0, 'no work area to prepare');
});

t.test('validateStack refuses a stack without lowers, missing lowers and lowers that are files', async (t) => {
  const d = dirs(t, 'l1');
  writeFileSync(join(d.base, 'file'), '');
  refuses(t, { lowers: [] }, /at least one lower/, 'no lowers');
  refuses(t, { lowers: [join(d.base, 'missing')] }, /does not exist/, 'missing');
  refuses(t, { lowers: [join(d.base, 'file')] }, /is not a directory/, 'a file');
  refuses(t, { lowers: [d.l1!, `${d.l1}/`] }, /given twice/, 'the same lower twice (spelled differently)');
});

t.test('validateStack refuses upper without work and work without upper', async (t) => {
  const d = dirs(t, 'l1', 'u', 'w');
  refuses(t, { lowers: [d.l1!], upper: d.u }, /upperdir needs a workdir/, 'upper alone');
  refuses(t, { lowers: [d.l1!], work: d.w }, /workdir needs an upperdir/, 'work alone');
});

t.test('validateStack refuses work inside upper, upper inside work, and lowers overlapping upper', async (t) => {
  const d = dirs(t, 'l1', 'u/w', 'w2/u2', 'u3/l', 'l4/u4', 'w5');
  refuses(t, { lowers: [d.l1!], upper: d.u, work: d['u/w'] }, /must not be inside one another/, 'work inside upper');
  refuses(t, { lowers: [d.l1!], upper: d['w2/u2'], work: join(d.base, 'w2') }, /must not be inside one another/, 'upper inside work');
  refuses(t, { lowers: [d['u3/l']!], upper: join(d.base, 'u3'), work: d.w5 }, /overlaps upperdir/, 'lower inside upper');
  refuses(t, { lowers: [join(d.base, 'l4')], upper: d['l4/u4'], work: d.w5 }, /overlaps upperdir/, 'upper inside a lower');
  refuses(t, { lowers: [d.u!], upper: d.u, work: d.w5 }, /overlaps upperdir/, 'lower is upper');
});

t.test('a sibling whose name extends another layer\'s is not inside it', async (t) => {
  const d = dirs(t, 'l1', 'up', 'upper2', 'w');
  t.doesNotThrow(() => validateStack({ lowers: [d.l1!], upper: d.up, work: d.upper2 }), '/x/up and /x/upper2 do not overlap');
});

const shmDev = statSync('/dev/shm', { throwIfNoEntry: false })?.dev;
const noShm = shmDev === undefined || shmDev === statSync(tmpdir()).dev ? 'needs /dev/shm on another filesystem than the temp dir' : false;

t.test('validateStack refuses upper and work on different filesystems', { skip: noShm }, async (t) => {
  const d = dirs(t, 'l1', 'u');
  const shm = tempDirIn(t, '/dev/shm');
  refuses(t, { lowers: [d.l1!], upper: d.u, work: shm }, /same filesystem/, 'work on /dev/shm');
});

function tempDirIn(t: Test, parent: string): string {
  const p = join(parent, `layerfs-layers-${process.pid}-${Date.now()}`);
  mkdirSync(p);
  t.teardown(() => rmSync(p, { recursive: true, force: true }));
  return p;
}

t.test('validateStack refuses a workdir holding foreign files, but not its own work and index', async (t) => {
  const d = dirs(t, 'l1', 'u', 'w/work', 'w/index');
  t.doesNotThrow(() => validateStack({ lowers: [d.l1!], upper: d.u, work: d.w }));
  writeFileSync(join(d.w!, 'stray'), '');
  refuses(t, { lowers: [d.l1!], upper: d.u, work: d.w }, /foreign files \(stray\)/, 'a stray file');
});

t.test('validateStack accepts a lower layer given through a symlink to a directory, as mount -t overlay does', async (t) => {
  const d = dirs(t, 'real', 'u', 'w');
  symlinkSync(d.real!, join(d.base, 'link'));
  t.doesNotThrow(() => validateStack({ lowers: [join(d.base, 'link')], upper: d.u, work: d.w }));
});

t.test('prepareWorkdir makes work/work private, and empties it of leftovers', async (t) => {
  const d = dirs(t, 'l1', 'u', 'w');
  const s = validateStack({ lowers: [d.l1!], upper: d.u, work: d.w });
  t.equal(prepareWorkdir(s), 0);
  t.equal(statSync(s.workTmp!).mode & 0o777, 0o700);
  writeFileSync(join(s.workTmp!, '#1.1'), 'half a copy');
  mkdirSync(join(s.workTmp!, '#1.2', 'deep'), { recursive: true });
  t.equal(prepareWorkdir(s), 2, 'two leftovers removed');
  t.same(readdirSync(s.workTmp!), []);
  t.same(readdirSync(d.u!), [], 'upper is not touched');
});

t.test('assertNotInLayers refuses a mountpoint inside or around a layer or the workdir', async (t) => {
  const d = dirs(t, 'l1', 'u', 'w', 'mnt', 'outer/l2');
  const s = new LayerStack([d.l1!, d['outer/l2']!], d.u, d.w);
  t.doesNotThrow(() => assertNotInLayers(s, d.mnt!));
  t.throws(() => assertNotInLayers(s, join(d.l1!, 'sub')), { message: /overlaps layer/ });
  t.throws(() => assertNotInLayers(s, d.u!), { message: /overlaps layer/ });
  t.throws(() => assertNotInLayers(s, join(d.base, 'outer')), { message: /overlaps layer/ }, 'a mountpoint that contains a layer');
  t.throws(() => assertNotInLayers(s, join(d.w!, 'work')), { message: /overlaps workdir/ });
});
