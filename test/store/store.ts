// The store directory: marker, refusals of foreign and broken directories, atomic JSON, the lock.
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { tempDir } from '../fixtures/layers';
import { MARKER, Store, storeRoot, writeJsonAtomic } from '../../src/store/store';
import { humanSize, treeSize } from '../../src/store/sizes';

function scratch(t: Test): string {
  const tmp = tempDir('layerfs-store-');
  t.teardown(tmp.remove);
  return tmp.path;
}

t.test('root: --store, then LAYERFS_STORE, then /var/lib/layerfs', async (t) => {
  const saved = process.env.LAYERFS_STORE;
  t.teardown(() => (saved === undefined ? delete process.env.LAYERFS_STORE : (process.env.LAYERFS_STORE = saved)));
  delete process.env.LAYERFS_STORE;
  t.equal(storeRoot(), '/var/lib/layerfs');
  process.env.LAYERFS_STORE = '/srv/s';
  t.equal(storeRoot(), '/srv/s');
  t.equal(storeRoot('/x/y'), '/x/y');
});

t.test('a missing or empty directory becomes a store; reading does not create it', async (t) => {
  const base = scratch(t);
  const s = new Store(join(base, 'new'));
  t.equal(s.check(false), false, 'read: absent store is empty');
  t.notOk(existsSync(join(base, 'new')), 'nothing created by a read');
  t.equal(s.check(true), true);
  t.same(readdirSync(join(base, 'new')).sort(), ['containers', 'images', MARKER, 'layers', 'tmp']);
  mkdirSync(join(base, 'empty'));
  t.ok(new Store(join(base, 'empty')).check(true));
  mkdirSync(join(base, 'withdemo', 'demo'), { recursive: true });
  t.ok(new Store(join(base, 'withdemo')).check(true), "the demo's directory is tolerated");
});

t.test('foreign and broken directories get one clear line', async (t) => {
  const base = scratch(t);
  mkdirSync(join(base, 'foreign'));
  writeFileSync(join(base, 'foreign', 'photo.jpg'), 'x');
  t.throws(() => new Store(join(base, 'foreign')).check(true), { message: /is not a layerfs store: it has no layerfs-store.json and holds other files \(photo.jpg\)/ });
  t.throws(() => new Store(join(base, 'foreign')).check(false), { message: /not a layerfs store/ }, 'reading refuses too');
  writeFileSync(join(base, 'file'), 'x');
  t.throws(() => new Store(join(base, 'file')).check(true), { message: /is not a directory/ });
  mkdirSync(join(base, 'broken'));
  writeFileSync(join(base, 'broken', MARKER), '{"layerfsSt');
  t.throws(() => new Store(join(base, 'broken')).check(false), { message: /is broken: layerfs-store.json is not valid JSON/ });
  writeFileSync(join(base, 'broken', MARKER), '{"something": 1}');
  t.throws(() => new Store(join(base, 'broken')).check(false), { message: /does not say it is a layerfs store/ });
  writeFileSync(join(base, 'broken', MARKER), '{"layerfsStore": 99}');
  t.throws(() => new Store(join(base, 'broken')).check(false), { message: /made by a newer layerfs/ });
  const s = new Store(join(base, 'ok'));
  s.check(true);
  writeFileSync(join(s.imagesDir, 'x.json'), '{');
  t.throws(() => s.readJson(join(s.imagesDir, 'x.json')), { message: /is broken: .*x.json is not valid JSON/ });
});

t.test('writeJsonAtomic leaves no temp file and replaces in one step', async (t) => {
  const base = scratch(t);
  const p = join(base, 'a.json');
  writeJsonAtomic(p, { a: 1 });
  writeJsonAtomic(p, { a: 2 });
  t.same(JSON.parse(readFileSync(p, 'utf8')), { a: 2 });
  t.same(readdirSync(base), ['a.json']);
});

t.test('the lock serializes, names its holder, and a dead holder is broken', async (t) => {
  const base = scratch(t);
  const s = new Store(join(base, 's'));
  s.check(true);
  const order: string[] = [];
  await Promise.all([
    s.withLock('a', async () => {
      order.push('a-in');
      await sleep(50);
      order.push('a-out');
    }),
    new Store(s.root).withLock('b', () => {
      order.push('b-in');
      order.push('b-out');
    }),
  ]);
  t.same(order, ['a-in', 'a-out', 'b-in', 'b-out'], 'one at a time');
  t.notOk(existsSync(s.lockFile), 'released');

  // a lock held by a live process: waits, then says who
  const holder = spawn('sleep', ['30']);
  t.teardown(() => holder.kill());
  writeFileSync(s.lockFile, `${holder.pid} ? layerfs test-holder\n`);
  await t.rejects(s.withLock('c', () => undefined, 200), { message: new RegExp(`is busy: pid ${holder.pid} \\(layerfs layerfs test-holder\\) holds`) });

  // a lock whose process died (killed half way): broken and taken
  holder.kill('SIGKILL');
  await new Promise((r) => holder.on('exit', r));
  let ran = false;
  await s.withLock('d', () => (ran = true), 2000);
  t.ok(ran, 'stale lock broken');
  t.notOk(existsSync(s.lockFile));
  t.same(readdirSync(s.root).filter((n) => n.startsWith('lock')), [], 'no lock leftovers');
});

t.test('staging left by a dead command is cleaned at the next lock', async (t) => {
  const base = scratch(t);
  const s = new Store(join(base, 's'));
  s.check(true);
  mkdirSync(join(s.tmpDir, '999999999-deadbeef', 'diff'), { recursive: true });
  const mine = s.stagingDir();
  await s.withLock('x', () => undefined);
  t.same(readdirSync(s.tmpDir), [mine.split('/').pop()], "the dead pid's staging is gone, ours stays");
});

t.test('sizes: apparent sizes, hard links once, like docker', async (t) => {
  const base = scratch(t);
  mkdirSync(join(base, 'd', 'sub'), { recursive: true });
  writeFileSync(join(base, 'd', 'a'), '0123456789');
  writeFileSync(join(base, 'd', 'sub', 'b'), 'xyz');
  require('node:fs').linkSync(join(base, 'd', 'a'), join(base, 'd', 'sub', 'a-link'));
  require('node:fs').symlinkSync('a', join(base, 'd', 'sym'));
  t.equal(treeSize(join(base, 'd')), 10 + 3 + 1, 'file + file + symlink, the hard link once');
  t.equal(humanSize(0), '0B');
  t.equal(humanSize(52), '52B');
  t.equal(humanSize(72_900_000), '72.9MB');
  t.equal(humanSize(1_234_567), '1.235MB');
  t.equal(humanSize(1000), '1kB');
  t.equal(humanSize(999_999), '1000kB');
});
