// layerfs as a mount helper: `mount -t fuse.layerfs` and an fstab line (mount.fuse3 runs
// `layerfs SOURCE MOUNTPOINT -o OPTIONS`), podman's form `layerfs -o OPTIONS MOUNTPOINT`, and
// `umount` / `fusermount -u` ending the daemon.
import t, { type Test } from 'tap';
import { existsSync, mkdirSync, readFileSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cannotMount, fstypeAt, layerfs, LAYERFS, run, sh } from '../fixtures/mounts';
import { buildStack, tempDir } from '../fixtures/layers';

// mount(8) runs helpers with PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin;
// `make install` links layerfs into /usr/local/bin. The test links it into /usr/local/sbin for
// its own duration when no layerfs is installed.
const INSTALLED = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin'].some((d) => existsSync(join(d, 'layerfs')));
const skip = cannotMount() || (!INSTALLED && !existsSync('/usr/local/sbin') ? 'needs /usr/local/sbin to install layerfs for mount(8)' : false);

function install(t: Test): void {
  if (INSTALLED) return;
  const link = '/usr/local/sbin/layerfs';
  symlinkSync(LAYERFS, link);
  t.teardown(() => unlinkSync(link));
}


async function daemonGone(mnt: string): Promise<boolean> {
  for (let i = 0; i < 60; i++) {
    const r = await sh('/', `pgrep -f "dist/main.js mount --foreground.* ${mnt}$" || true`);
    if (r.stdout.trim() === '') return true;
    await sleep(100);
  }
  return false;
}

function setup(t: Test) {
  const tmp = tempDir();
  t.teardown(tmp.remove);
  const stack = buildStack(tmp.path, [{ f: 'top\n' }, { f: 'bottom\n', g: 'g\n' }]);
  const mnt = join(tmp.path, 'mnt');
  mkdirSync(mnt);
  t.teardown(async () => {
    if (fstypeAt(mnt) !== undefined) await layerfs('umount', '--lazy', mnt);
  });
  const opts = `lowerdir=${stack.lowers.join(':')},upperdir=${stack.upper},workdir=${stack.work}`;
  return { base: tmp.path, stack, mnt, opts };
}

t.test('mount -t fuse.layerfs mounts, and umount ends the daemon', { skip }, async (t) => {
  install(t);
  const { mnt, opts } = setup(t);
  await run('mount', ['-t', 'fuse.layerfs', 'layerfs', mnt, '-o', opts]);
  t.equal(fstypeAt(mnt), 'fuse.layerfs', '/proc/mounts shows fuse.layerfs');
  t.match(readFileSync('/proc/mounts', 'utf8'), new RegExp(`^layerfs ${mnt} fuse.layerfs `, 'm'), 'fsname layerfs');
  t.equal((await sh(mnt, 'cat f g')).stdout, 'top\ng\n');
  await run('umount', [mnt]);
  t.equal(fstypeAt(mnt), undefined);
  t.ok(await daemonGone(mnt), 'the daemon exited');
});

t.test('an fstab line mounts with mount(8)', { skip }, async (t) => {
  install(t);
  const { base, mnt, opts } = setup(t);
  const fstab = join(base, 'fstab');
  writeFileSync(fstab, `layerfs ${mnt} fuse.layerfs ${opts},noauto 0 0\n`);
  await run('mount', ['--fstab', fstab, mnt]);
  t.equal(fstypeAt(mnt), 'fuse.layerfs');
  t.equal((await sh(mnt, 'echo x >> f; cat f')).stdout, 'top\nx\n');
  await run('umount', [mnt]);
  t.ok(await daemonGone(mnt));
});

t.test("podman's form: layerfs -o OPTIONS MOUNTPOINT, unmounted with fusermount3 -u", { skip }, async (t) => {
  const { base, stack, mnt } = setup(t);
  // podman hands symlinks to the layer directories, and an option layerfs ignores with a warning.
  symlinkSync(stack.lowers[0]!, join(base, 'L1'));
  symlinkSync(stack.lowers[1]!, join(base, 'L2'));
  const r = await run(process.execPath, [LAYERFS, '-o', `lowerdir=L1:L2,upperdir=${stack.upper},workdir=${stack.work},,volatile,context="system_u:object_r:container_file_t:s0"`, mnt], { cwd: base });
  t.equal(r.stdout + r.stderr, '', 'silent on success');
  t.equal(fstypeAt(mnt), 'fuse.layerfs');
  t.equal((await sh(mnt, 'cat f')).stdout, 'top\n');
  const version = await layerfs('--version');
  t.match(version.stdout, /^\d+\.\d+\.\d+\n$/, '--version answers');
  await run('fusermount3', ['-u', mnt]);
  t.ok(await daemonGone(mnt), 'the daemon exits after fusermount3 -u');
});
