// The Docker model through the CLI and real FUSE mounts: layers stored once, images, two
// containers of one image isolated, ps -s sizes, diff, commit then create then read, rm and rmi
// refusals, concurrent commands on one store. A temporary store per test; every mount unmounted.
import t, { type Test } from 'tap';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cannotMount, layerfs, sh } from '../fixtures/mounts';
import { buildStack, tempDir, WHITEOUT } from '../fixtures/layers';

const skip = cannotMount();

const mountedAt = (mnt: string): boolean =>
  readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[4] === mnt);

interface Env {
  base: string;
  store: string;
  lf: (...args: string[]) => ReturnType<typeof layerfs>;
  ok: (...args: string[]) => Promise<string>;
  mnt: (name: string) => string;
}

function setup(t: Test): Env {
  const tmp = tempDir('layerfs-store-it-');
  t.teardown(tmp.remove);
  const store = join(tmp.path, 'store');
  const lf = (...args: string[]) => layerfs(...args, '--store', store);
  const mnts: string[] = [];
  // registered first, so it runs after the mounts' own teardowns would: unmount whatever is left
  t.teardown(async () => {
    for (const m of mnts) if (mountedAt(m)) (await layerfs('umount', m)).code === 0 || (await layerfs('umount', '--lazy', m));
  });
  return {
    base: tmp.path,
    store,
    lf,
    ok: async (...args) => {
      const r = await lf(...args);
      if (r.code !== 0) throw new Error(`layerfs ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
      return r.stdout;
    },
    mnt: (name) => {
      const m = join(tmp.path, name);
      mkdirSync(m, { recursive: true });
      mnts.push(m);
      return m;
    },
  };
}

/** Two layers (base: /etc, /data; app: /app) imported from directories; returns their digests. */
async function twoLayers(e: Env): Promise<[string, string]> {
  const stack = buildStack(e.base, [{ app: { 'main.py': 'print(1)\n' } }, { etc: { hosts: 'localhost\n', conf: 'v1\n' }, data: { x: 'x\n' }, big: 'b'.repeat(5000) }]);
  const app = (await e.ok('layer', 'import', stack.lowers[0]!)).trim();
  const base = (await e.ok('layer', 'import', stack.lowers[1]!)).trim();
  return [base, app];
}

t.test('layers: import, stored once, ls, export/import round trip, rm refusals', { skip }, async (t) => {
  const e = setup(t);
  const [base, app] = await twoLayers(e);
  t.match(base, /^sha256:[0-9a-f]{64}$/);
  t.equal((await e.ok('layer', 'import', join(e.base, 's-lower2'))).trim(), base, 'same directory again: same digest');
  t.equal(readdirSync(join(e.store, 'layers')).length, 2, 'stored once');
  const ls = JSON.parse(await e.ok('layer', 'ls', '--json'));
  t.same(ls.map((l: { Id: string }) => l.Id).sort(), [app, base].sort());
  t.equal((await e.ok('layer', 'ls', '-q')).trim().split('\n').length, 2);
  const tar = join(e.base, 'base.tar');
  await e.ok('layer', 'export', base.slice(7, 19), '-o', tar);
  t.equal((await e.ok('layer', 'import', tar)).trim(), base, 'export then import: same digest');
  await e.ok('image', 'create', 'img', base, app);
  const refused = await e.lf('layer', 'rm', base);
  t.equal(refused.code, 1);
  t.match(refused.stderr, /cannot remove layer sha256:[0-9a-f]{12}: image img:latest uses it/);
  const amb = await e.lf('layer', 'rm', 'zz');
  t.match(amb.stderr, /not a layer digest/);
  t.equal((await e.lf('layer', 'import', join(e.base, 'nope'))).code, 1);
  const only = buildStack(join(e.base), [{ lonely: 'l' }], { tag: 'lonely' });
  const lonely = (await e.ok('layer', 'import', only.lowers[0]!)).trim();
  t.match(await e.ok('layer', 'rm', lonely), /Deleted: sha256:/);
  t.equal(readdirSync(join(e.store, 'layers')).length, 2);
});

t.test('the course: one image, two isolated containers, sizes, diff, rm, rmi refused, commit', { skip }, async (t) => {
  const e = setup(t);
  const [base, app] = await twoLayers(e);
  // images: bottom first; prefixes accepted
  const id = (await e.ok('image', 'create', 'web:1.0', base.slice(7, 20), app)).trim();
  t.match(id, /^sha256:[0-9a-f]{64}$/);
  const images = await e.ok('images');
  t.match(images, /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE\nweb\s+1.0\s+[0-9a-f]{12}\s+.*\s+5.024kB\n$/);
  const [insp] = JSON.parse(await e.ok('inspect', 'web:1.0'));
  t.same(insp.RootFS, { Type: 'layers', Layers: [base, app] }, 'RootFS bottom first');
  t.equal(insp.Id, id);
  t.same(insp.RepoTags, ['web:1.0']);
  t.equal(insp.Size, 5024);
  t.match(insp.Created, /^\d{4}-\d\d-\d\dT/);
  t.equal((await e.lf('inspect', 'nosuch')).code, 1);
  t.match((await e.lf('image', 'create', 'Bad Name', base)).stderr, /invalid image name/);
  t.match((await e.lf('image', 'create', 'x', 'ffff')).stderr, /no such layer: ffff/);

  const c1 = (await e.ok('create', '--name', 'one', 'web:1.0')).trim();
  await e.ok('container', 'create', '--name', 'two', id.slice(7, 19));
  t.match(c1, /^[0-9a-f]{64}$/);
  t.match((await e.lf('create', '--name', 'one', 'web:1.0')).stderr, /name one is already in use/);
  t.match((await e.lf('create', 'nosuch:1')).stderr, /no such image: nosuch:1/);
  t.equal((await e.ok('ps')).trim().split('\n').length, 1, 'ps: none mounted');
  const ps0 = await e.ok('ps', '-a', '-s');
  t.match(ps0, /one\s+0B \(virtual 5.024kB\)/);
  t.match(ps0, /two\s+0B \(virtual 5.024kB\)/);

  const m1 = e.mnt('m1');
  const m2 = e.mnt('m2');
  await e.ok('container', 'mount', 'one', m1);
  await e.ok('container', 'mount', 'two', m2);
  t.match((await e.lf('container', 'mount', 'one', e.mnt('m3'))).stderr, /already mounted on .*m1/);
  t.same((await sh(m1, 'ls')).stdout.split('\n').filter(Boolean), ['app', 'big', 'data', 'etc']);
  await sh(m1, 'echo 00000000000000000 > file.txt && echo more >> etc/conf && rm data/x && rm big');
  t.equal((await sh(m1, 'cat file.txt')).stdout, '00000000000000000\n');
  t.equal((await sh(m2, 'cat file.txt')).code, 1, 'two does not see what one wrote');
  t.equal((await sh(m2, 'cat etc/conf; cat data/x')).stdout, 'v1\nx\n', 'nor its changes');
  const ps = await e.ok('ps', '-s');
  t.match(ps, /CONTAINER ID\s+IMAGE\s+CREATED\s+STATUS\s+NAMES\s+SIZE/);
  t.match(ps, new RegExp(`Mounted on ${m1}\\s+one\\s+26B \\(virtual 5.05kB\\)`), 'the thin layer: 18 + 8 bytes');
  t.match(ps, /two\s+0B \(virtual 5.024kB\)/);
  const psj = JSON.parse(await e.ok('ps', '--json'));
  t.same(psj.map((c: { Names: string[]; SizeRw: number }) => [c.Names[0], c.SizeRw]).sort(), [['one', 26], ['two', 0]]);
  t.same((await e.ok('diff', 'one')).trim().split('\n'), ['D /big', 'C /data', 'D /data/x', 'C /etc', 'C /etc/conf', 'A /file.txt']);
  t.same(JSON.parse(await e.ok('diff', 'two', '--json')), []);

  // refusals
  const rm = await e.lf('rm', 'one');
  t.equal(rm.code, 1);
  t.match(rm.stderr, /cannot remove container one: it is mounted on .*m1 \(layerfs container umount one first, or rm -f\)/);
  const rmi = await e.lf('rmi', 'web:1.0');
  t.equal(rmi.code, 1);
  t.match(rmi.stderr, /cannot remove image web:1.0: containers (two|one) \([0-9a-f]{12}\), (one|two) \([0-9a-f]{12}\) use it \(layerfs rm them first\)/);
  t.match((await e.lf('rm', 'nosuch')).stderr, /no such container: nosuch/);

  // commit: a new layer on top, a new image; a container of it sees the changes, deletions included
  const newId = (await e.ok('commit', 'one', 'web:2.0')).trim();
  const [i2] = JSON.parse(await e.ok('image', 'inspect', 'web:2.0'));
  t.equal(i2.Id, newId);
  t.equal(i2.RootFS.Layers.length, 3);
  t.same(i2.RootFS.Layers.slice(0, 2), [base, app], 'the old layers are shared');
  t.equal(readdirSync(join(e.store, 'layers')).length, 3);
  await e.ok('create', '--name', 'three', 'web:2.0');
  const m3 = e.mnt('m3');
  await e.ok('container', 'mount', 'three', m3);
  t.equal((await sh(m3, 'cat file.txt etc/conf')).stdout, '00000000000000000\nv1\nmore\n');
  t.same((await sh(m3, 'ls; ls data')).stdout.split('\n').filter(Boolean), ['app', 'data', 'etc', 'file.txt'], 'deletions committed too');
  t.match(await e.ok('ps', '-s'), /three\s+0B \(virtual 5.05kB\)/);

  // umount and rm: the container layer is lost
  await e.ok('container', 'umount', 'two');
  t.notOk(mountedAt(m2));
  t.match((await e.lf('container', 'umount', 'two')).stderr, /container two is not mounted/);
  t.equal((await e.ok('rm', 'two')).trim(), 'two');
  t.equal((await e.ok('rm', '-f', 'one')).trim(), 'one', 'rm -f unmounts first');
  t.notOk(mountedAt(m1));
  t.equal(readdirSync(join(e.store, 'containers')).length, 1);
  t.same(readdirSync(join(e.store, 'tmp')), [], 'nothing left in tmp');
  // rmi: web:1.0 is no longer used by a container, and its layers still are by web:2.0
  const out = await e.ok('rmi', 'web:1.0');
  t.match(out, /Untagged: web:1.0\nDeleted: sha256:/);
  t.equal(readdirSync(join(e.store, 'layers')).length, 3, 'layers web:2.0 uses stay');
  t.match((await e.lf('rmi', 'web:2.0')).stderr, /container three/);
  await e.ok('rm', '-f', 'three');
  const last = await e.ok('rmi', 'web:2.0');
  t.equal(last.match(/Deleted: sha256:/g)?.length, 4, 'the image and its three layers');
  t.same(readdirSync(join(e.store, 'layers')), []);
  t.same(JSON.parse(await e.ok('images', '--json')), []);
});

t.test('tags: a second tag, untag, a tag moving, inspect of a container', { skip }, async (t) => {
  const e = setup(t);
  const [base, app] = await twoLayers(e);
  const a = (await e.ok('image', 'create', 'x:1', base)).trim();
  t.equal((await e.ok('image', 'create', 'y', base)).trim(), a, 'same layers, same image id');
  t.match(await e.ok('rmi', 'y'), /^Untagged: y:latest\n$/);
  const r = await e.lf('image', 'create', 'x:1', base, app);
  t.match(r.stderr, /x:1 moved from image/);
  t.match(await e.ok('images'), /<none>\s+<none>/);
  await e.ok('create', '--name', 'c', 'x:1');
  const [ci] = JSON.parse(await e.ok('inspect', 'c'));
  t.equal(ci.Name, 'c');
  t.equal(ci.State.Status, 'created');
  t.match(ci.GraphDriver.Data.UpperDir, /containers\/[0-9a-f]{64}\/upper$/);
});

t.test('diff reads a known set of changes made through the mount', { skip }, async (t) => {
  const e = setup(t);
  const stack = buildStack(e.base, [{ etc: { gone: WHITEOUT }, usr: { lib: { a: 'a', b: 'b' } } }, { etc: { hosts: 'h', gone: 'g', passwd: 'p' }, tmp: {}, opt: { d: { e: 'e' } } }]);
  const top = (await e.ok('layer', 'import', stack.lowers[0]!)).trim();
  const bottom = (await e.ok('layer', 'import', stack.lowers[1]!)).trim();
  await e.ok('image', 'create', 'd', bottom, top);
  await e.ok('create', '--name', 'c', 'd');
  const m = e.mnt('m');
  await e.ok('container', 'mount', 'c', m);
  const r = await sh(m, 'echo >> etc/hosts && rm etc/passwd && mkdir -p new/deep && echo n > new/deep/f && rm -r usr/lib && mkdir usr/lib && echo z > usr/lib/a && echo t > tmp/t && rm -r opt && touch etc/gone');
  t.equal(r.code, 0, r.stderr);
  t.same((await e.ok('diff', 'c')).trim().split('\n'), [
    'C /etc', 'A /etc/gone', 'C /etc/hosts', 'D /etc/passwd', 'A /new', 'A /new/deep', 'A /new/deep/f', 'D /opt',
    'C /tmp', 'A /tmp/t', 'C /usr', 'C /usr/lib', 'C /usr/lib/a', 'D /usr/lib/b',
  ]);
});

t.test('concurrent commands on one store never corrupt it', { skip }, async (t) => {
  const e = setup(t);
  const [base, app] = await twoLayers(e);
  // the same layer imported 6 times at once, 8 images and 8 containers created at once
  const digests = await Promise.all(Array.from({ length: 6 }, () => e.ok('layer', 'import', join(e.base, 's-lower2'))));
  t.same(new Set(digests.map((d) => d.trim())), new Set([base]));
  await Promise.all(Array.from({ length: 8 }, (_, i) => e.ok('image', 'create', `img${i}`, base, ...(i % 2 ? [app] : []))));
  t.equal(JSON.parse(await e.ok('images', '--json')).length, 2, 'two distinct images');
  t.equal(Object.keys(JSON.parse(readFileSync(join(e.store, 'repositories.json'), 'utf8'))).length, 8, 'all 8 tags kept');
  const names = await Promise.all(Array.from({ length: 8 }, (_, i) => e.lf('create', '--name', i < 4 ? 'same' : `c${i}`, 'img0')));
  t.equal(names.filter((r) => r.code === 0).length, 5, 'one "same" wins, four refused');
  t.equal(names.filter((r) => /already in use/.test(r.stderr)).length, 3);
  t.equal(JSON.parse(await e.ok('ps', '-a', '--json')).length, 5);
  // rmi and create racing: either the image goes or the container exists, never a container without its image
  const [rmi, cr] = await Promise.all([e.lf('rmi', 'img1'), e.lf('create', '--name', 'racer', 'img1')]);
  const ps = JSON.parse(await e.ok('ps', '-a', '--json')) as { Names: string[] }[];
  if (cr.code === 0) t.equal(rmi.code, ps.some((c) => c.Names[0] === 'racer') ? rmi.code : -1);
  for (const c of ps) t.equal((await e.lf('inspect', c.Names[0]!)).code, 0, `${c.Names[0]} inspects (its image exists)`);
  t.notOk(existsSync(join(e.store, 'lock')), 'lock released');
  t.same(readdirSync(join(e.store, 'tmp')), []);
});

t.test('store refusals: foreign and broken directories, one line', { skip }, async (t) => {
  const e = setup(t);
  const foreign = join(e.base, 'foreign');
  mkdirSync(foreign);
  writeFileSync(join(foreign, 'notes.txt'), 'x');
  for (const args of [['images'], ['ps', '-a'], ['layer', 'import', e.base]]) {
    const r = await layerfs(...args, '--store', foreign);
    t.equal(r.code, 1, args.join(' '));
    t.match(r.stderr, /^layerfs: .*foreign is not a layerfs store: it has no layerfs-store.json and holds other files \(notes.txt\); choose another with --store or LAYERFS_STORE\n$/);
  }
  await twoLayers(e);
  writeFileSync(join(e.store, 'repositories.json'), '{"a":');
  const r = await e.lf('images');
  t.equal(r.code, 1);
  t.match(r.stderr, /^layerfs: the store .* is broken: .*repositories.json is not valid JSON\n$/);
});

t.test('a store command used wrongly does nothing: exit 2, one line, no image made', { skip }, async (t) => {
  const e = setup(t);
  const [base] = await twoLayers(e);
  const cases: [string[], RegExp][] = [
    [['image', 'create', 'web:3'], /^layerfs: missing <layers\.\.>: layerfs image create <name> <layers\.\.>\n$/],
    [['image', 'create', 'web:3', base, '--bogus'], /^layerfs: unknown option --bogus \(layerfs image create --help lists them\)\n$/],
    [['create', '--name', 'a', '--name', 'b', 'web:3'], /^layerfs: --name is given twice\n$/],
    [['image', 'export', 'web:3', '--format', 'zip', '-o', join(e.base, 'x.tar')], /^layerfs: --format must be oci-archive or oci-dir \(not "zip"\)\n$/],
  ];
  for (const [args, message] of cases) {
    const r = await e.lf(...args);
    t.equal(r.code, 2, `${args.join(' ')}: exit 2`);
    t.match(r.stderr, message, `${args.join(' ')}: says what is wrong`);
    t.equal(r.stdout, '', `${args.join(' ')}: prints no id`);
  }
  t.same(JSON.parse(await e.ok('images', '--json')), [], 'no image was made');
  t.same(JSON.parse(await e.ok('ps', '-a', '--json')), [], 'no container was made');
  t.notOk(existsSync(join(e.base, 'x.tar')), 'nothing exported');
});
