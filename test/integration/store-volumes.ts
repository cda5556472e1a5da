// Volumes: writes under the volume's path land in the host directory, not in the container
// layer, and survive `layerfs rm`. Needs `layerfs mount --volume`.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cannotMount, layerfs, LAYERFS, sh } from '../fixtures/mounts';
import { buildStack, tempDir } from '../fixtures/layers';

const hasVolume = (): boolean => {
  try {
    return /--volume/.test(execFileSync(process.execPath, [LAYERFS, 'mount', '--help']).toString());
  } catch {
    return false;
  }
};
const skip = cannotMount() || (hasVolume() ? false : 'layerfs mount has no --volume yet');

const mountedAt = (mnt: string): boolean => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === mnt);

t.test('a volume keeps its data after rm; the container layer does not', { skip }, async (t) => {
  const tmp = tempDir('layerfs-store-vol-');
  t.teardown(tmp.remove);
  const store = join(tmp.path, 'store');
  const mnt = join(tmp.path, 'mnt');
  const vol = join(tmp.path, 'hostdata');
  mkdirSync(mnt);
  mkdirSync(vol);
  t.teardown(async () => {
    if (mountedAt(mnt)) (await layerfs('umount', mnt)).code === 0 || (await layerfs('umount', '--lazy', mnt));
  });
  const ok = async (...args: string[]): Promise<string> => {
    const r = await layerfs(...args, '--store', store);
    if (r.code !== 0) throw new Error(`layerfs ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const stack = buildStack(tmp.path, [{ app: { 'a.py': 'a' }, var: { lib: { db: {} } } }]);
  const layer = (await ok('layer', 'import', stack.lowers[0]!)).trim();
  await ok('image', 'create', 'db', layer);
  const bad = await layerfs('create', '-v', `${tmp.path}/nope:/data`, 'db', '--store', store);
  t.match(bad.stderr, /host directory .*nope does not exist/);
  t.match((await layerfs('create', '-v', `${vol}:rel`, 'db', '--store', store)).stderr, /must be absolute/);
  await ok('create', '--name', 'pg', '-v', `${vol}:/var/lib/db`, 'db');
  const [ins] = JSON.parse(await ok('inspect', 'pg'));
  t.same(ins.Mounts, [{ Type: 'bind', Source: vol, Destination: '/var/lib/db', RW: true }]);
  await ok('container', 'mount', 'pg', mnt);
  t.equal((await sh(mnt, 'echo critical > var/lib/db/data.txt && echo scratch > app/tmp.txt')).code, 0);
  t.equal(readFileSync(join(vol, 'data.txt'), 'utf8'), 'critical\n', 'written into the host directory');
  t.same((await ok('diff', 'pg')).trim().split('\n'), ['C /app', 'A /app/tmp.txt'], 'the volume is not in the container layer');
  await ok('rm', '-f', 'pg');
  t.equal(readFileSync(join(vol, 'data.txt'), 'utf8'), 'critical\n', 'survives rm');
  await ok('create', '--name', 'pg2', '-v', `${vol}:/var/lib/db`, 'db');
  await ok('container', 'mount', 'pg2', mnt);
  t.equal((await sh(mnt, 'cat var/lib/db/data.txt')).stdout, 'critical\n', 'a new container sees it');
  t.equal((await sh(mnt, 'cat app/tmp.txt')).code, 1, 'the old container layer is gone');
  await ok('rm', '-f', 'pg2');
  t.same(readdirSync(join(store, 'containers')), []);
});
