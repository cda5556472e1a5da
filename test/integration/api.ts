// The TypeScript API a test in another project uses: mount, events, which, unmount.
import t from 'tap';
import { mkdirSync } from 'node:fs';
import { readFile, writeFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { cannotMount } from '../fixtures/mounts';
import { buildStack, tempDir } from '../fixtures/layers';
import { mount, type OverlayEvent } from '../../dist/index';

const skip = cannotMount();

t.test('mount() gives a handle: the view, its events, which, unmount', { skip }, async (t) => {
  const tmp = tempDir();
  t.teardown(tmp.remove);
  const stack = buildStack(tmp.path, [{ etc: { hosts: '127.0.0.1 localhost\n' } }, { etc: { passwd: 'root\n' } }]);
  const mountpoint = join(tmp.path, 'mnt');
  mkdirSync(mountpoint);
  const m = await mount({ lowers: stack.lowers, upper: stack.upper, work: stack.work, mountpoint });
  t.teardown(() => m.unmount({ lazy: true }).catch(() => undefined));
  t.equal(m.mountpoint, mountpoint);
  t.ok(m.pid > 0);

  const abort = new AbortController();
  const seen: OverlayEvent[] = [];
  const collecting = (async () => {
    for await (const ev of m.events(abort.signal)) {
      seen.push(ev);
      if (seen.length === 3) abort.abort();
    }
  })();
  await writeFile(join(mountpoint, 'etc', 'hosts'), '10.0.0.1 db\n', { flag: 'a' });
  await rm(join(mountpoint, 'etc', 'passwd'));
  await collecting;
  t.match(seen, [
    { op: 'copy-up', path: '/etc', layer: 'lower:1' },
    { op: 'copy-up', path: '/etc/hosts', layer: 'lower:1', bytes: 20 },
    { op: 'whiteout', path: '/etc/passwd' },
  ]);
  t.equal(await readFile(join(mountpoint, 'etc', 'hosts'), 'utf8'), '127.0.0.1 localhost\n10.0.0.1 db\n');
  t.match(m.which('/etc/hosts'), { layer: 'upper', copiedUp: true });
  t.match(m.which('etc/passwd'), { layer: 'none', whitedOut: true });
  await m.unmount();
  await t.rejects(m.unmount(), /is not mounted/);
});

t.test('mount() rejects bad input with the one-line reason', { skip }, async (t) => {
  const tmp = tempDir();
  t.teardown(tmp.remove);
  await t.rejects(mount({ lowers: [join(tmp.path, 'nope')], mountpoint: tmp.path }), /lower layer .*nope does not exist/);
});
