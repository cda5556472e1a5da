// Faults: the daemon killed with SIGKILL at random instants during heavy work, and a full upper
// filesystem. After a kill, `layerfs umount` and a fresh mount always work, the workdir is
// cleaned, and upper holds only whole objects: every copied-up file is the whole lower content
// plus whole appended lines, never a prefix of it.
import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, lstatSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cannotMount, layerfs, mountLayerfs, run, sh } from '../fixtures/mounts';
import { buildStack, file, tempDir, type Spec } from '../fixtures/layers';
import { isDaemonRunning, readState } from '../../src/daemon/runtime';

const skip = cannotMount();
const KILL_POINTS = Number(process.env.LAYERFS_KILL_POINTS ?? 12);
const SEED = Number(process.env.LAYERFS_KILL_SEED ?? 1);

/** A small seeded PRNG (mulberry32), so a failing kill point can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const big: Record<string, Buffer> = {};
for (let i = 0; i < 6; i++) big[`big${i}`] = randomBytes((4 + i) << 20);
const lower: Spec = {
  data: Object.fromEntries(Object.entries(big).map(([k, v]) => [k, file(v)])),
  tree: Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`d${i}`, { a: `a${i}\n`, b: { c: `c${i}\n` } }])),
  small: Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`s${i}`, `small ${i}\n`])),
};

const WORKLOAD = `
for f in data/big*; do echo appended >> "$f"; done &
rm -rf tree &
for i in $(seq 0 59); do echo more >> small/s$i; mv small/s$i small/r$i; done &
mkdir -p new && for i in $(seq 0 200); do echo n > new/f$i; done &
wait`;

/**
 * Checks the upper directory: every file is the lower content plus whole "appended"/"more" lines.
 * A small/ file may also hold only such lines, or nothing: after a round renamed it away, `>>`
 * creates it anew, and a kill can fall between that create and its write.
 */
function checkUpper(t: Test, upper: string, lowerDir: string): void {
  const bad: string[] = [];
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(upper, rel))) {
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(upper, r));
      if (st.isDirectory()) walk(r);
      else if (st.isFile()) {
        const origin = r.startsWith('small/r') ? r.replace('small/r', 'small/s') : r;
        if (!existsSync(join(lowerDir, origin)) || r.startsWith('new/')) continue;
        const base = readFileSync(join(lowerDir, origin));
        const got = readFileSync(join(upper, r));
        const tail = got.subarray(base.length).toString();
        const whole = got.subarray(0, base.length).equals(base) && /^((appended|more)\n)*$/.test(tail);
        const recreated = r.startsWith('small/') && /^((appended|more)\n)*$/.test(got.toString());
        if (!whole && !recreated) bad.push(r);
      }
    }
  };
  walk('');
  t.same(bad, [], 'no partial copy-up in upper');
}

t.test(`SIGKILL at ${KILL_POINTS} random instants (seed ${SEED}): the upper stays consistent`, { skip }, async (t) => {
  const tmp = tempDir();
  t.teardown(tmp.remove);
  const stack = buildStack(tmp.path, [lower]);
  const mnt = join(tmp.path, 'mnt');
  mkdirSync(mnt);
  const random = prng(SEED);
  for (let k = 0; k < KILL_POINTS; k++) {
    await mountLayerfs(t, stack, mnt);
    t.same(readdirSync(join(stack.work, 'work')), [], `kill point ${k}: the workdir is clean after mount`);
    const state = readState(mnt)!;
    const work = spawn('sh', ['-c', WORKLOAD], { cwd: mnt, stdio: 'ignore', detached: true });
    const workDone = new Promise((res) => work.on('exit', res));
    const delay = Math.floor(random() * 600);
    await sleep(delay);
    t.ok(isDaemonRunning(state), `kill point ${k}: the daemon is still serving`);
    process.kill(state.pid, 'SIGKILL');
    await workDone;
    const r = await layerfs('umount', mnt);
    t.equal(r.code, 0, `kill point ${k} (${delay} ms): umount of the dead mount works`);
    checkUpper(t, stack.upper, stack.lowers[0]!);
  }
  await mountLayerfs(t, stack, mnt);
  const view = await sh(mnt, 'find . -type f | wc -l; cat data/* small/* >/dev/null && echo readable');
  t.match(view.stdout, /readable/, 'the final view reads back');
  await layerfs('umount', mnt);
});

t.test('a full upper filesystem: ENOSPC, nothing half-written, reads go on, recovery', { skip }, async (t) => {
  const tmp = tempDir();
  t.teardown(tmp.remove);
  const small = join(tmp.path, 'small');
  mkdirSync(small);
  await run('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', small]);
  t.teardown(() => run('umount', ['-l', small]).catch(() => undefined));
  const stack = buildStack(tmp.path, [{ big: file(randomBytes(5 << 20)), f: 'f\n' }]);
  const upper = join(small, 'upper');
  const work = join(small, 'work');
  mkdirSync(upper);
  mkdirSync(work);
  const mnt = join(tmp.path, 'mnt');
  mkdirSync(mnt);
  await mountLayerfs(t, { ...stack, upper, work }, mnt);
  const full = await sh(mnt, 'echo x >> big; echo rc=$?; dd if=/dev/zero of=fill bs=1M count=8 2>/dev/null; echo rc=$?');
  t.match(full.stderr, /No space left on device/, 'the copy-up fails with ENOSPC');
  t.match(full.stdout, /^rc=[12]\nrc=1\n$/, 'both writes fail');
  t.notOk(existsSync(join(upper, 'big')), 'no partial copy-up of big in upper');
  t.same(readdirSync(join(work, 'work')), [], 'no leftover in the workdir');
  t.equal((await sh(mnt, 'cat f; wc -c < big')).stdout, `f\n${5 << 20}\n`, 'reads go on');
  await sh(mnt, 'rm -f fill');
  await run('mount', ['-o', 'remount,size=16m', small]);
  const again = await sh(mnt, 'echo x >> big && tail -c 2 big');
  t.equal(again.stdout, 'x\n', 'the copy-up works once there is space');
});
