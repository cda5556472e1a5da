// Volumes (a host directory at a path of the view) and `layerfs which` (where a path comes from).
import t, { type Test } from 'tap';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cannotMount, layerfs, mountLayerfs, sh } from '../fixtures/mounts';
import { buildStack, tempDir } from '../fixtures/layers';

const skip = cannotMount();

function setup(t: Test) {
  const tmp = tempDir();
  t.teardown(tmp.remove);
  const stack = buildStack(tmp.path, [{ f: 'top\n', d: { b: 'b\n' } }, { f: 'bottom\n', a: 'a\n', d: { c: 'c\n' } }]);
  const mnt = join(tmp.path, 'mnt');
  const vol = join(tmp.path, 'vol');
  mkdirSync(mnt);
  mkdirSync(vol);
  writeFileSync(join(vol, 'existing'), 'kept\n');
  return { stack, mnt, vol };
}

t.test('writes under a volume land in the host directory, not in upper', { skip }, async (t) => {
  const { stack, mnt, vol } = setup(t);
  await mountLayerfs(t, stack, mnt, { extra: ['--volume', `${vol}:/srv/data`] });
  const r = await sh(mnt, 'cat srv/data/existing; echo new > srv/data/new; mkdir srv/data/sub; mv srv/data/new srv/data/sub/; rmdir srv/data 2>&1; echo rc=$?');
  t.match(r.stdout, /^kept\nrmdir: failed to remove 'srv\/data': Device or resource busy\nrc=1\n$/);
  t.equal(readFileSync(join(vol, 'sub', 'new'), 'utf8'), 'new\n');
  t.same(readdirSync(join(stack.upper, 'srv', 'data')), [], 'upper holds only the mount point');
  const moved = await sh(mnt, 'mv srv/data/sub/new f2 && cat f2 && ls srv/data/sub');
  t.equal(moved.stdout, 'new\n', 'a move out of the volume copies (EXDEV)');
  t.same(readdirSync(join(vol, 'sub')), []);
});

t.test('a volume survives the mount, and its target must be a directory', { skip }, async (t) => {
  const { stack, mnt, vol } = setup(t);
  await mountLayerfs(t, stack, mnt, { extra: ['-v', `${vol}:/data`] });
  await sh(mnt, 'echo persisted > data/p');
  t.equal((await layerfs('umount', mnt)).code, 0);
  t.equal(readFileSync(join(vol, 'p'), 'utf8'), 'persisted\n');
  const bad = await layerfs('mount', '--lower', stack.lowers[0]!, '--upper', stack.upper, '--work', stack.work, '-v', `${vol}:/f`, mnt);
  t.equal(bad.code, 1);
  t.match(bad.stderr, /volume target \/f is not a directory/);
  const inside = await layerfs('mount', '--lower', stack.lowers[0]!, '-v', `${mnt}:/x`, mnt);
  t.match(inside.stderr, /overlaps the mountpoint/);
});

t.test('which names the layer, copy-up, whiteouts, merges and volumes', { skip }, async (t) => {
  const { stack, mnt, vol } = setup(t);
  await mountLayerfs(t, stack, mnt, { extra: ['-v', `${vol}:/data`] });
  await sh(mnt, 'echo x >> a; rm d/c; echo n > new');
  const which = async (p: string) => JSON.parse((await layerfs('which', '--json', join(mnt, p))).stdout);
  t.same(await which('f'), { path: '/f', layer: 'lower:1', hostPath: join(stack.lowers[0]!, 'f'), copiedUp: false, hides: [{ layer: 'lower:2', hostPath: join(stack.lowers[1]!, 'f'), merged: false }] });
  t.match(await which('a'), { layer: 'upper', copiedUp: true, hides: [{ layer: 'lower:2' }] });
  t.match(await which('new'), { layer: 'upper', copiedUp: false, hides: [] });
  t.match(await which('d'), { layer: 'upper', hides: [{ layer: 'lower:1', merged: true }, { layer: 'lower:2', merged: true }] });
  t.match(await which('d/c'), { layer: 'none', whitedOut: true });
  t.match(await which('data/existing'), { layer: 'volume', hostPath: join(vol, 'existing') });
  const text = await layerfs('which', join(mnt, 'a'));
  t.match(text.stdout, /^\/a: upper \(container\) layer .*, copied up or replaced\n  hides lower:2 /);
  const gone = await layerfs('which', join(mnt, 'nope'));
  t.equal(gone.code, 1);
  t.match((await layerfs('which', '/tmp')).stderr, /is not inside a layerfs mount/);
});

t.test('a volume changed from outside the mount is seen at once (never kept by the C caches)', { skip }, async (t) => {
  const { stack, mnt, vol } = setup(t);
  await mountLayerfs(t, stack, mnt, { extra: ['-v', `${vol}:/data`] });
  const before = await sh(mnt, 'ls data; stat -c %s data/existing; cat data/other; sleep 1.2; ls data; stat -c %s data/existing');
  t.equal(before.stdout, 'existing\n5\nexisting\n5\n', 'listed and stat twice, the second time past attr_timeout');
  t.match(before.stderr, /data\/other: No such file/, 'a name looked up before it exists');
  writeFileSync(join(vol, 'other'), 'from another container\n');
  writeFileSync(join(vol, 'existing'), 'changed outside\n');
  const after = await sh(mnt, 'sleep 1.2; ls data; stat -c %s data/existing; cat data/other');
  t.equal(after.stdout, 'existing\nother\n16\nfrom another container\n', 'the new name, readable, and the new size show');
});
