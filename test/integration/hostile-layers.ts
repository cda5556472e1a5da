// Layers that change under a live mount. Someone with access to a layer directory swaps a
// component for a symlink (or a bind mount) to a directory outside every layer while the daemon
// has it cached as a directory: the daemon, which runs as root, must neither read nor write there.
// Layers that disappear or change underneath give errors, never a crash or a hang.
import t, { type Test } from 'tap';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cannotMount, layerfs, mountLayerfs, run, sh } from '../fixtures/mounts';
import { buildStack, tempDir, type BuiltStack } from '../fixtures/layers';

const skip = cannotMount();

interface Setup {
  stack: BuiltStack;
  mnt: string;
  /** A directory outside every layer, standing for /etc. */
  secret: string;
  /** The secret directory's names and contents, to prove nothing there changed. */
  before: string;
}

const snapshot = (dir: string): string =>
  readdirSync(dir).sort().map((n) => `${n}:${statSync(join(dir, n)).mode.toString(8)}:${readFileSync(join(dir, n), 'utf8')}`).join('|');

async function setup(t: Test): Promise<Setup> {
  const tmp = tempDir();
  t.teardown(tmp.remove);
  const stack = buildStack(tmp.path, [{ d: { f: 'lower\n' }, e: { g: 'lower g\n' }, keep: 'keep\n' }]);
  const secret = join(tmp.path, 'secret');
  mkdirSync(secret);
  for (const n of ['f', 'g', 'x']) writeFileSync(join(secret, n), `secret ${n}\n`, { mode: 0o600 });
  const mnt = join(tmp.path, 'mnt');
  await mountLayerfs(t, stack, mnt);
  // Warm the daemon's caches: it now knows d, e and u as directories.
  const warm = await sh(mnt, 'ls d e >/dev/null && mkdir u && echo upper > u/x && cat u/x');
  t.equal(warm.stdout, 'upper\n', 'the mount works before the swap');
  return { stack, mnt, secret, before: snapshot(secret) };
}

/** Swaps a directory for a symlink to `target`; returns the undo. */
function swapForSymlink(dir: string, target: string): () => void {
  renameSync(dir, `${dir}.orig`);
  symlinkSync(target, dir);
  return () => {
    rmSync(dir);
    renameSync(`${dir}.orig`, dir);
  };
}

t.test('an upper directory swapped for a symlink: nothing outside is read, written or removed', { skip }, async (t) => {
  const s = await setup(t);
  const undo = swapForSymlink(join(s.stack.upper, 'u'), s.secret);
  const r = await sh(s.mnt, [
    'cat u/x', 'echo pwned > u/new', 'echo pwned >> u/x', 'chmod 666 u/x', 'touch -d 2001-01-01 u/x',
    'setfattr -n user.pwned -v 1 u/x', 'ln -s /tmp u/link', 'mkdir u/dir', 'mv u/x u/moved', 'rm -f u/x', 'true',
  ].join('; '));
  t.notMatch(r.stdout, /secret/, 'no secret content reaches the caller');
  t.match(r.stderr, /Too many levels of symbolic links/, 'the swapped component is refused with ELOOP');
  t.equal(snapshot(s.secret), s.before, 'the outside directory is unchanged');
  t.notOk(existsSync(join(s.secret, 'new')) || existsSync(join(s.secret, 'link')) || existsSync(join(s.secret, 'dir')));
  undo();
  t.equal((await sh(s.mnt, 'cat keep u/x')).stdout, 'keep\nupper\n', 'the mount still serves once the layer is restored');
});

t.test('a lower directory swapped for a symlink: no read and no copy-up of what it points to', { skip }, async (t) => {
  const s = await setup(t);
  const undo = swapForSymlink(join(s.stack.lowers[0]!, 'd'), s.secret);
  const r = await sh(s.mnt, 'cat d/f; echo more >> d/f; cp d/f copied; true');
  t.notMatch(r.stdout, /secret/);
  t.match(r.stderr, /Too many levels of symbolic links/);
  t.notOk(existsSync(join(s.stack.upper, 'd', 'f')), 'nothing was copied up from outside');
  t.notOk(existsSync(join(s.stack.upper, 'copied')) && readFileSync(join(s.stack.upper, 'copied'), 'utf8').includes('secret'));
  t.equal(snapshot(s.secret), s.before);
  undo();
  t.equal((await sh(s.mnt, 'cat d/f')).stdout, 'lower\n');
});

t.test('the workdir swapped for a symlink: a copy-up fails instead of writing outside', { skip }, async (t) => {
  const s = await setup(t);
  const undo = swapForSymlink(join(s.stack.work, 'work'), s.secret);
  const r = await sh(s.mnt, 'echo more >> e/g; mkdir e/sub; true');
  t.match(r.stderr, /Too many levels of symbolic links/);
  t.equal(snapshot(s.secret), s.before, 'no temporary object was built in the outside directory');
  t.notOk(existsSync(join(s.stack.upper, 'e', 'g')));
  undo();
  t.equal((await sh(s.mnt, 'echo more >> e/g && cat e/g')).stdout, 'lower g\nmore\n', 'copy-up works again');
});

t.test('a bind mount over a lower directory is not crossed', { skip }, async (t) => {
  const s = await setup(t);
  const target = join(s.stack.lowers[0]!, 'e');
  await run('mount', ['--bind', s.secret, target]);
  t.teardown(() => run('umount', [target]).catch(() => run('umount', ['-l', target])));
  const r = await sh(s.mnt, 'cat e/g; true');
  t.notMatch(r.stdout, /secret/);
  t.match(r.stderr, /Invalid cross-device link/);
});

t.test('a lower layer removed, or changed, while mounted: errors, no crash, no hang, clean unmount', { skip }, async (t) => {
  const s = await setup(t);
  rmSync(s.stack.lowers[0]!, { recursive: true, force: true });
  // Names the daemon listed before may still show; opening them fails like a stale file.
  const gone = await sh(s.mnt, 'timeout 20 cat keep d/f; echo "rc=$?"; timeout 20 ls; timeout 20 cat u/x');
  t.match(gone.stdout, /rc=1\n/, 'reads of the removed layer fail');
  t.match(gone.stdout, /upper\n$/, 'upper still serves');
  t.notMatch(gone.stdout, /rc=124/, 'nothing hangs');
  mkdirSync(s.stack.lowers[0]!);
  writeFileSync(join(s.stack.lowers[0]!, 'keep'), 'recreated\n');
  // The daemon holds the layer it mounted, as the kernel does: a new directory at the same path is not it.
  const after = await sh(s.mnt, 'timeout 20 cat keep; echo "rc=$?"');
  t.notMatch(after.stdout, /recreated/);
  t.equal((await layerfs('umount', s.mnt)).code, 0, 'the daemon is alive and unmounts cleanly');
});
