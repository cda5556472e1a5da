// Guards around a mount: one upper/work per overlay, and names that could be misread later.
import t from 'tap';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { cannotMount, layerfs, mountKernel, mountLayerfs, sh } from '../fixtures/mounts';
import { scenario } from '../fixtures/differential';
import { buildStack, tempDir } from '../fixtures/layers';

const skip = cannotMount();

t.test('a second overlay on the same upper or workdir is refused', { skip }, async (t) => {
  const tmp = tempDir();
  t.teardown(tmp.remove);
  const stack = buildStack(tmp.path, [{ f: 'f\n' }]);
  const [m1, m2, m3] = ['m1', 'm2', 'm3'].map((m) => join(tmp.path, m)) as [string, string, string];
  [m1, m2, m3].forEach((m) => mkdirSync(m));
  await mountLayerfs(t, stack, m1);
  const again = await layerfs('mount', '--lower', stack.lowers[0]!, '--upper', stack.upper, '--work', stack.work, m2);
  t.equal(again.code, 1);
  t.match(again.stderr, new RegExp(`is in use by the layerfs mount at ${m1}`));
  t.equal((await layerfs('umount', m1)).code, 0);
  await mountKernel(t, stack, m3);
  const underKernel = await layerfs('mount', '--lower', stack.lowers[0]!, '--upper', stack.upper, '--work', stack.work, m2);
  t.match(underKernel.stderr, /is in use by the kernel overlay mounted at/);
});

t.test('names: newlines, 255 bytes, too long, and the reserved .wh. prefix', { skip }, async (t) => {
  const long = 'n'.repeat(255);
  const { layerfs: l } = await scenario(t, [{ d: { a: 'a\n' } }], [
    `echo x > "$(printf 'new\\nline')"`, `echo y > ${long}`, `echo z > ${long}x 2>/dev/null; echo "too long: $?"`,
    `mv d/a "d/$(printf 'a\\nb')"`, 'ls | od -c | head -3',
  ].join('; '));
  t.match(l.result.stdout, /too long: [12]/);
});

t.test('a name starting with .wh. is refused with EINVAL, so no later mount reads it as a whiteout', { skip }, async (t) => {
  const tmp = tempDir();
  t.teardown(tmp.remove);
  const stack = buildStack(tmp.path, [{ x: 'x\n' }]);
  const mnt = join(tmp.path, 'mnt');
  mkdirSync(mnt);
  await mountLayerfs(t, stack, mnt);
  const r = await sh(mnt, 'touch .wh.x; echo rc=$?; mkdir .wh..wh..opq; echo rc=$?; mv x .wh.y; echo rc=$?; cat x');
  t.match(r.stderr, /Invalid argument/);
  t.equal(r.stdout, 'rc=1\nrc=1\nrc=1\nx\n');
});
