// The store locks a pull relies on: two concurrent calls of one process exclude each other (the
// store lock is reentrant only along one call chain), and a per-layer named lock makes a second
// holder wait, says so, and breaks a lock whose process is dead.
import t from 'tap';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { tempStore } from '../fixtures/store';

t.test('the store lock: concurrent calls in one process wait; nested calls in one chain do not', async (t) => {
  const { store } = tempStore(t, 'layerfs-locks-');
  const seen: string[] = [];
  const work = (name: string) => store.withLock(name, async () => {
    seen.push(`${name} in`);
    await store.withLock(`${name} nested`, () => seen.push(`${name} nested`));
    await sleep(100);
    seen.push(`${name} out`);
  });
  await Promise.all([work('a'), work('b')]);
  t.same(seen, ['a in', 'a nested', 'a out', 'b in', 'b nested', 'b out']);
  t.notOk(existsSync(store.lockFile), 'released');
});

t.test('a named lock: the second holder waits and is told; a dead holder is broken', async (t) => {
  const { store } = tempStore(t, 'layerfs-locks2-');
  const seen: string[] = [];
  let told = 0;
  await Promise.all([
    store.withNamedLock('layer-x', 'one', async () => {
      seen.push('one in');
      await sleep(100);
      seen.push('one out');
    }),
    sleep(20).then(() => store.withNamedLock('layer-x', 'two', () => seen.push('two'), { waiting: () => told++ })),
  ]);
  t.same(seen, ['one in', 'one out', 'two']);
  t.equal(told, 1, 'waiting reported once');
  writeFileSync(join(store.locksDir, 'layer-y'), '999999999 ? pull dead\n');
  t.equal(await store.withNamedLock('layer-y', 'alive', () => 'got it', { timeoutMs: 2000 }), 'got it', 'a dead pid does not hold it');
  t.rejects(store.withNamedLock('../x', 'bad', () => undefined), /invalid lock name/);
});
