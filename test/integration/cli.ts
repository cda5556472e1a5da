// The command line around a mount: refusals of bad input (one line, non-zero, nothing mounted or
// written), foreground mode and signals, unmounting live, busy and dead mounts, logs and events.
import t, { type Test } from 'tap';
import { execFile, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cannotMount, fstypeAt, layerfs, LAYERFS, mountLayerfs, sh } from '../fixtures/mounts';
import { buildStack, tempDir } from '../fixtures/layers';
import { readState, statePaths } from '../../src/daemon/runtime';

const skip = cannotMount();
const built = existsSync(LAYERFS) ? false : 'needs a build (make build)';

/** Runs a command with its own cwd and environment; never throws. */
function runIn(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    execFile(cmd, args, opts, (err, stdout, stderr) => res({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }));
  });
}

/** Polls until cond() holds, for up to 10 s. */
async function until(cond: () => boolean): Promise<boolean> {
  for (let i = 0; i < 200 && !cond(); i++) await sleep(50);
  return cond();
}

const mounted = fstypeAt;

function setup(t: Test) {
  const tmp = tempDir();
  t.teardown(tmp.remove);
  const stack = buildStack(tmp.path, [{ f: 'top\n', d: { a: 'a\n' } }, { f: 'bottom\n', g: 'g\n' }]);
  const mnt = join(tmp.path, 'mnt');
  mkdirSync(mnt);
  return { base: tmp.path, stack, mnt };
}

t.test('bad input gets one line, a non-zero exit, and nothing is mounted or written', { skip }, async (t) => {
  const { base, stack, mnt } = setup(t);
  const [l1, l2] = stack.lowers as [string, string];
  const { upper, work } = stack;
  mkdirSync(join(base, 'work2'));
  writeFileSync(join(base, 'plainfile'), 'x');
  mkdirSync(join(base, 'foreign'));
  writeFileSync(join(base, 'foreign', 'junk'), 'x');
  mkdirSync(join(upper, 'inner'));
  mkdirSync('/dev/shm/layerfs-test-work', { recursive: true });
  t.teardown(() => sh('/', 'rmdir /dev/shm/layerfs-test-work'));
  const cases: [string, string[], RegExp][] = [
    ['missing lower', ['-o', `lowerdir=${base}/nope`, mnt], /lower layer .*nope does not exist/],
    ['lower is a file', ['--lower', join(base, 'plainfile'), mnt], /is not a directory/],
    ['missing upper', ['-o', `lowerdir=${l1},upperdir=${base}/nope,workdir=${work}`, mnt], /upperdir .* does not exist/],
    ['missing work', ['-o', `lowerdir=${l1},upperdir=${upper},workdir=${base}/nope`, mnt], /workdir .* does not exist/],
    ['upper without work', ['--lower', l1, '--upper', upper, mnt], /upperdir needs a workdir/],
    ['work inside upper', ['--lower', l1, '--upper', upper, '--work', join(upper, 'inner'), mnt], /must not be inside one another/],
    ['upper inside work', ['--lower', l1, '--upper', join(base, 'work2'), '--work', base, mnt], /must not be inside one another|overlaps/],
    ['different filesystems', ['--lower', l1, '--upper', upper, '--work', '/dev/shm/layerfs-test-work', mnt], /same filesystem/],
    ['foreign files in work', ['--lower', l1, '--upper', upper, '--work', join(base, 'foreign'), mnt], /holds foreign files \(junk\)/],
    ['mountpoint inside a layer', ['--lower', l1, '--lower', l2, join(l2, 'g', '..')], /overlaps layer/],
    ['mountpoint inside a lower directory', ['--lower', l1, join(l1, 'd')], /overlaps layer/],
    ['mountpoint missing', ['--lower', l1, join(base, 'nomnt')], /mountpoint .* does not exist/],
    ['duplicate option', ['-o', `lowerdir=${l1},lowerdir=${l2}`, mnt], /given twice/],
    ['both syntaxes for one layer', ['-o', `lowerdir=${l1}`, '--lower', l2, mnt], /both as lowerdir= and --lower/],
    ['unknown option', ['-o', `lowerdir=${l1},frobnicate`, mnt], /unknown mount option frobnicate/],
    ['unsupported kernel feature', ['-o', `lowerdir=${l1},metacopy=on`, mnt], /metacopy=on is not supported/],
    ['a lower given twice', ['--lower', l1, '--lower', l1, mnt], /given twice/],
  ];
  for (const [name, args, message] of cases) {
    const target = args[args.length - 1]!;
    t.teardown(() => (mounted(target) ? layerfs('umount', '--lazy', target) : undefined));
    const r = await layerfs('mount', ...args);
    t.not(r.code, 0, `${name}: non-zero exit`);
    t.match(r.stderr, message, `${name}: says why`);
    t.equal(r.stderr.trim().split('\n').length, 1, `${name}: one line`);
    t.equal(mounted(target), undefined, `${name}: nothing mounted`);
  }
  t.same(readdirSync(upper), ['inner'], 'nothing was written in upper');
  t.same(readdirSync(work), [], 'nothing was written in work');
  await mountLayerfs(t, stack, mnt);
  const busy = await layerfs('mount', '--lower', l1, mnt);
  t.match(busy.stderr, /is busy/, 'a busy mountpoint is refused');
});

t.test('--foreground serves until SIGTERM, then unmounts and exits 0', { skip }, async (t) => {
  const { stack, mnt } = setup(t);
  const child = spawn(process.execPath, [LAYERFS, 'mount', '--foreground', ...stack.lowers.flatMap((l) => ['--lower', l]), mnt]);
  t.teardown(() => (mounted(mnt) ? layerfs('umount', '--lazy', mnt) : undefined));
  const exited = new Promise<number | null>((res) => child.on('exit', res));
  for (let i = 0; i < 100 && mounted(mnt) === undefined; i++) await sleep(50);
  t.equal(mounted(mnt), 'fuse.layerfs', 'mounted while in the foreground');
  t.equal((await sh(mnt, 'cat f')).stdout, 'top\n');
  child.kill('SIGTERM');
  t.equal(await exited, 0, 'exit code 0');
  t.equal(mounted(mnt), undefined, 'unmounted');
});

t.test('umount of a dead daemon (Transport endpoint is not connected) cleans up', { skip }, async (t) => {
  const { stack, mnt } = setup(t);
  await mountLayerfs(t, stack, mnt);
  const pid = Number(
    JSON.parse(readFileSync(join('/run/layerfs/mounts', readdirSync('/run/layerfs/mounts').find((f) => f.endsWith('.json') && readFileSync(join('/run/layerfs/mounts', f), 'utf8').includes(`"${mnt}"`))!), 'utf8')).pid,
  );
  process.kill(pid, 'SIGKILL');
  await sleep(200);
  t.match((await sh('/', `stat ${mnt}`)).stderr, /Transport endpoint is not connected/);
  const r = await layerfs('umount', mnt);
  t.equal(r.code, 0, r.stderr);
  t.equal(mounted(mnt), undefined);
  await mountLayerfs(t, stack, mnt);
  t.equal((await sh(mnt, 'cat f')).stdout, 'top\n', 'a fresh mount of the same layers works');
});

t.test('umount of a busy mount names the holder; --lazy detaches anyway', { skip }, async (t) => {
  const { stack, mnt } = setup(t);
  await mountLayerfs(t, stack, mnt);
  const holder = spawn('sleep', ['30'], { cwd: mnt });
  t.teardown(() => holder.kill());
  await sleep(100);
  const busy = await layerfs('umount', mnt);
  t.equal(busy.code, 1);
  t.match(busy.stderr, new RegExp(`held by sleep \\(pid ${holder.pid}, cwd\\)`));
  t.equal(mounted(mnt), 'fuse.layerfs', 'still mounted');
  t.equal((await layerfs('umount', '--lazy', mnt)).code, 0);
  t.equal(mounted(mnt), undefined, 'detached');
});

t.test('umount refuses what is not a layerfs mount', { skip }, async (t) => {
  const { mnt } = setup(t);
  const r = await layerfs('umount', mnt);
  t.equal(r.code, 1);
  t.match(r.stderr, /is not mounted/);
  const r2 = await layerfs('umount', '/proc');
  t.match(r2.stderr, /is not a layerfs mount \(it is proc\)/);
});

t.test('--log-level debug logs each operation and the layer that answered', { skip }, async (t) => {
  const { stack, mnt } = setup(t);
  await mountLayerfs(t, stack, mnt, { extra: ['--log-level', 'debug'] });
  await sh(mnt, 'cat f g d/a >/dev/null; ls >/dev/null');
  const logFile = readdirSync('/run/layerfs/mounts')
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join('/run/layerfs/mounts', f), 'utf8')))
    .find((s) => s.mountpoint === mnt).log;
  const lines = readFileSync(logFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  t.ok(lines.some((l) => l.op === 'lookup' && l.path === '/f' && l.layer === 'lower:1'), '/f answered by lower:1');
  t.ok(lines.some((l) => l.op === 'lookup' && l.path === '/g' && l.layer === 'lower:2'), '/g answered by lower:2');
  t.ok(lines.some((l) => l.op === 'readdir' && l.path === '/'), 'readdir logged');
  // reads of open files are answered in C by fuse-native and not logged (docs/logging.md)
  t.ok(lines.some((l) => l.op === 'open' && l.path === '/d/a'), 'open logged');
  t.notOk(lines.some((l) => l.level >= 50), 'no error lines');
});

t.test('--trace records changes for layerfs events', { skip }, async (t) => {
  const { stack, mnt } = setup(t);
  await mountLayerfs(t, stack, mnt, { extra: ['--trace', 'text'] });
  await sh(mnt, 'echo x >> f; rm g; echo n > new; mkdir nd; mv new nd/new');
  const r = await layerfs('events', mnt);
  t.same(r.stdout.split('\n').filter(Boolean), [
    'copy-up  /f from lower:1 (4 B, ' + r.stdout.match(/4 B, (\d+) ms/)?.[1] + ' ms)',
    'whiteout /g (hides the lower copy)',
    'create   /new',
    'mkdir    /nd',
    'rename   /new -> /nd/new',
  ]);
});

t.test('a file unlinked while open: never listed, fstat and reads work, nothing copied up or left behind', { skip }, async (t) => {
  const { stack, mnt } = setup(t);
  await mountLayerfs(t, stack, mnt);
  const r = await sh(mnt, [
    'echo data > tmpf; exec 3<tmpf; rm tmpf; ls -A; cat <&3; exec 3<&-',
    'exec 4<f; rm f; ls -A; stat -L -c %s /dev/fd/4; cat <&4; exec 4<&-',
    'exec 5<>d/a; echo x > d/b; mv d/b d/a; cat <&5; cat d/a; exec 5<&-',
  ].join('; '));
  t.equal(r.stdout, 'd\nf\ng\ndata\nd\ng\n4\ntop\na\nx\n');
  t.equal(r.stderr, '');
  t.same(readdirSync(stack.upper).sort(), ['d', 'f'], 'upper: the copied-up d and the whiteout of f only');
  t.same(readdirSync(join(stack.upper, 'd')), ['a'], 'the replaced file is gone from upper');
  t.same(readdirSync(join(stack.work, 'work')), [], 'nothing left in the workdir after the last close');
});

t.test('a refused command line changes nothing: exit 2, one line naming what is wrong, no mount, no daemon', { skip }, async (t) => {
  const { base, stack, mnt } = setup(t);
  const l1 = stack.lowers[0]!;
  const layers = ['--lower', l1, '--upper', stack.upper, '--work', stack.work];
  t.teardown(() => (mounted(mnt) ? layerfs('umount', '--lazy', mnt) : undefined));
  const cases: [string[], RegExp][] = [
    [['mount', ...layers, '--trace', 'xml', mnt], /^layerfs: --trace must be text or json \(not "xml"\)\n$/],
    [['mount', ...layers, '--log-level', 'loud', mnt], /^layerfs: --log-level must be fatal, .* or silent \(not "loud"\)\n$/],
    [['mount', ...layers, '--work', join(base, 'wk2'), mnt], /^layerfs: --work is given twice\n$/],
    [['mount', ...layers, '--bogus', mnt], /^layerfs: unknown option --bogus \(layerfs mount --help lists them\)\n$/],
    [['--bogus', mnt], /^layerfs: unknown option --bogus/],
    [['mount', '--lower', l1, mnt, 'extra'], /^layerfs: unexpected argument extra: layerfs mount <mountpoint>\n$/],
    [['mount', '--lower', l1], /^layerfs: missing <mountpoint>/],
    [['mount', 'c1'], /^layerfs: mount needs its layers \(--lower DIR or -o lowerdir=/],
    [['mount', '-f', mnt], /^layerfs: mount needs its layers/],
    [['mount', '-o', 'lowerdir=', mnt], /^layerfs: option lowerdir needs a value\n$/],
  ];
  for (const [args, message] of cases) {
    const r = await layerfs(...args);
    t.equal(r.code, 2, `${args.join(' ')}: exit 2`);
    t.match(r.stderr, message, `${args.join(' ')}: says what is wrong, in one line`);
    t.equal(mounted(mnt), undefined, `${args.join(' ')}: nothing mounted`);
    t.notOk(existsSync(statePaths(mnt).state), `${args.join(' ')}: no daemon record`);
  }
  t.same(readdirSync(stack.upper), [], 'nothing written in upper');
  t.same(readdirSync(stack.work), [], 'nothing written in work');
});

t.test('the Docker-like short forms take the container commands\' options (--store)', { skip: built }, async (t) => {
  const tmp = tempDir();
  t.teardown(tmp.remove);
  const base = tmp.path;
  const mnt = join(base, 'mnt');
  mkdirSync(mnt);
  for (const args of [['mount', 'nosuch', mnt, '--store', join(base, 'store')], ['mount', '--store', join(base, 'store'), 'nosuch', mnt], ['umount', 'nosuch', '--store', join(base, 'store')]]) {
    const r = await layerfs(...args);
    t.equal(r.stderr, 'layerfs: no such container: nosuch\n', `${args.join(' ')}: read as the container form`);
    t.equal(r.code, 1, `${args.join(' ')}: exit 1`);
  }
});

t.test('an unknown command says so and suggests the nearest; help and version answer', { skip: built }, async (t) => {
  const cases: [string[], RegExp][] = [
    [['imags'], /^layerfs: unknown command imags \(did you mean image or images\? layerfs --help lists them\)\n$/],
    [['history'], /^layerfs: unknown command history \(layerfs --help lists them\)\n$/],
    [['logs'], /^layerfs: unknown command logs /],
    [['start'], /^layerfs: unknown command start /],
    [['run'], /^layerfs: unknown command run /],
    [['volume', 'ls'], /^layerfs: unknown command volume /],
    [['umountt', '/x'], /^layerfs: unknown command umountt \(did you mean umount\?/],
    [['image', 'creat', 'web:1'], /^layerfs: unknown image command creat \(did you mean create\? layerfs image --help lists them\)\n$/],
    [['image'], /^layerfs: layerfs image needs a command: create, ls, inspect, rm, import, export\n$/],
    [['layerx', '/mnt'], /^layerfs: unknown command layerx/],
    [[], /^layerfs: no command given/],
  ];
  for (const [args, message] of cases) {
    const r = await layerfs(...args);
    t.equal(r.code, 2, `${args.join(' ')}: exit 2`);
    t.match(r.stderr, message, `${args.join(' ')}: says so`);
  }
  for (const flag of ['-h', '--help']) {
    const r = await layerfs(flag);
    t.equal(r.code, 0, `${flag} answers`);
    t.match(r.stdout, /^Usage: layerfs COMMAND/);
    t.match(r.stdout, /Exit status: 0 done, 1 refused or failed, 2 wrong usage/);
  }
  const mountHelp = await layerfs('mount', '--help');
  t.match(mountHelp.stdout, /Examples:\n  layerfs mount --lower \/img\/l2 --lower \/img\/l1 --upper/, 'mount --help has examples');
  t.match(mountHelp.stdout, /--trace STYLE .*\[one of text, json\]/, 'and the choices of an option');
  t.match((await layerfs('image', 'create', '-h')).stdout, /^Usage: layerfs image create \[OPTIONS\] <name> <layers\.\.>/);
  t.match((await layerfs('--version')).stdout, /^\d+\.\d+\.\d+\n$/);
});

t.test('umount of a plain directory says it is not mounted; events of a mount without --trace says so', { skip }, async (t) => {
  const { base, stack, mnt } = setup(t);
  const r = await runIn(process.execPath, [LAYERFS, 'umount', 'mnt'], { cwd: base });
  t.equal(r.code, 1);
  t.equal(r.stderr, `layerfs: ${mnt} is not mounted\n`, 'a relative directory is a mountpoint, not a container name');
  await mountLayerfs(t, stack, mnt);
  const ev = await layerfs('events', mnt);
  t.equal(ev.code, 1);
  t.equal(ev.stderr, `layerfs: ${mnt} was mounted without --trace: nothing is recorded (mount it with --trace text or --trace json)\n`);
});

/** A foreground mount with a process holding it (its cwd), sent a first Ctrl-C; its stderr collected. */
async function busyForegroundMount(t: Test) {
  const { stack, mnt } = setup(t);
  const child = spawn(process.execPath, [LAYERFS, 'mount', '--foreground', ...stack.lowers.flatMap((l) => ['--lower', l]), mnt], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  t.teardown(async () => {
    if (mounted(mnt)) await layerfs('umount', '--lazy', mnt);
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  t.ok(await until(() => mounted(mnt) === 'fuse.layerfs'), 'mounted');
  const holder = spawn('sleep', ['30'], { cwd: mnt });
  t.teardown(() => holder.kill());
  await sleep(200);
  child.kill('SIGINT');
  t.ok(await until(() => stderr.includes('\n')), 'it answers the signal');
  t.equal(stderr, `layerfs: ${mnt} is busy (held by sleep (pid ${holder.pid}, cwd)): unmounting when it is let go; Ctrl-C again detaches it now\n`);
  t.equal(mounted(mnt), 'fuse.layerfs', 'still mounted while held');
  return { child, holder, mnt, stderr: () => stderr };
}

t.test('Ctrl-C of a busy foreground mount names who holds it, and unmounts when they let go', { skip }, async (t) => {
  const { child, holder, mnt } = await busyForegroundMount(t);
  holder.kill();
  t.ok(await until(() => child.exitCode !== null), 'exits once the holder let go');
  t.equal(child.exitCode, 0, 'exit 0');
  t.equal(mounted(mnt), undefined, 'unmounted');
});

t.test('a second Ctrl-C detaches a busy foreground mount at once', { skip }, async (t) => {
  const { child, holder, mnt, stderr } = await busyForegroundMount(t);
  child.kill('SIGINT');
  t.ok(await until(() => child.exitCode !== null), 'exits at the second');
  t.equal(child.exitCode, 0, 'exit 0');
  t.equal(mounted(mnt), undefined, 'detached while the holder still runs');
  t.equal(holder.exitCode, null, 'the holder was left alone');
  t.equal(stderr().trim().split('\n').length, 1, 'nothing more printed');
});

t.test("the daemon's files are its owner's alone; a record is believed only when it names a layerfs daemon", { skip }, async (t) => {
  const { stack, mnt } = setup(t);
  await mountLayerfs(t, stack, mnt, { extra: ['--trace', 'text'] });
  const { state, log } = statePaths(mnt);
  t.equal(statSync(state).mode & 0o777, 0o600, 'state file 0600');
  t.equal(statSync(log).mode & 0o777, 0o600, 'log 0600');
  t.equal(statSync(dirname(state)).mode & 0o022, 0, 'run directory writable by its owner only');
  const modes = await sh(mnt, 'umask 0; touch x; mkdir d2; mknod p p; umask 027; touch y; stat -c %a x d2 p y');
  t.equal(modes.stdout, '666\n777\n666\n640\n', 'the view keeps the modes asked for');
  // A process whose command line names the mountpoint, as an old check would have accepted.
  const decoy = spawn('sh', ['-c', 'sleep 30; true', 'mount', mnt]);
  t.teardown(() => decoy.kill());
  const good = readFileSync(state, 'utf8');
  writeFileSync(state, good.replace(/"pid": \d+/, `"pid": ${decoy.pid}`));
  chmodSync(state, 0o666);
  t.equal(readState(mnt), undefined, 'a record others may write is not believed');
  chmodSync(state, 0o600);
  t.equal(readState(mnt)?.pid, decoy.pid, 'an owner-only record is read');
  const r = await layerfs('umount', mnt);
  t.equal(r.code, 0, r.stderr);
  await sleep(200);
  t.same([decoy.exitCode, decoy.signalCode], [null, null], 'umount did not signal a pid that is no layerfs daemon');
});

t.test('a user without XDG_RUNTIME_DIR is refused in one line; with it, state stays in it, owner-only', { skip: skip || (process.getuid?.() === 0 ? false : 'needs root to run as nobody') }, async (t) => {
  const { base, stack, mnt } = setup(t);
  chmodSync(base, 0o755);
  const xdg = join(base, 'xdg');
  mkdirSync(xdg, { mode: 0o700 });
  chownSync(xdg, 65534, 65534);
  // a clean environment: none of the test runner's NODE_OPTIONS, which write where nobody may not
  const asNobody = (env: string[], ...args: string[]) => runIn('runuser', ['-u', 'nobody', '--', 'env', '-i', 'PATH=/usr/bin:/bin', ...env, process.execPath, LAYERFS, ...args]);
  const r = await asNobody([], 'mount', '--lower', stack.lowers[0]!, mnt);
  t.equal(r.code, 1);
  t.equal(r.stderr, 'layerfs: no runtime directory of your own: XDG_RUNTIME_DIR is not set (set it, or LAYERFS_RUN_DIR, to a directory only you can write)\n');
  t.equal(mounted(mnt), undefined);
  const r2 = await asNobody([`XDG_RUNTIME_DIR=${xdg}`], 'umount', mnt);
  t.equal(r2.stderr, `layerfs: ${mnt} is not mounted\n`);
  const dir = statSync(join(xdg, 'layerfs', 'mounts'));
  t.equal(dir.uid, 65534, 'in the user\'s runtime directory');
  t.equal(dir.mode & 0o777, 0o700, 'owner-only');
  // another user's directory is refused rather than used
  const shared = join(base, 'shared');
  mkdirSync(join(shared, 'mounts'), { recursive: true, mode: 0o777 });
  chmodSync(join(shared, 'mounts'), 0o777);
  const r3 = await asNobody([`LAYERFS_RUN_DIR=${shared}`], 'umount', mnt);
  t.equal(r3.code, 1);
  t.match(r3.stderr, /^layerfs: .*shared\/mounts is not a directory only you can write \(owner uid 0, mode 777\): choose another with LAYERFS_RUN_DIR\n$/);
});

t.test('shell completion and the man page come from the command table', { skip: built }, async (t) => {
  const script = (await layerfs('completion', 'bash')).stdout;
  const complete = async (...words: string[]): Promise<string> => {
    const r = await runIn('bash', ['-c', `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _layerfs; echo "\${COMPREPLY[*]}"`]);
    t.equal(r.stderr, '', `no error completing ${words.join(' ')}`);
    return r.stdout.trim();
  };
  t.equal(await complete('layerfs', 'ima'), 'image images');
  t.equal(await complete('layerfs', 'image', 'cr'), 'create');
  t.equal(await complete('layerfs', 'mount', '--trace', ''), 'text json');
  t.equal(await complete('layerfs', 'mount', '--log-'), '--log-level');
  t.equal(await complete('layerfs', 'container', 'umount', '-'), '--store --lazy -l --help');
  t.match((await layerfs('completion', 'zsh')).stdout, /^autoload -U \+X bashcompinit && bashcompinit\n# layerfs completion for bash/, 'zsh: the same through bashcompinit');
  const man = await runIn(process.execPath, [join(dirname(LAYERFS), 'cli', 'manpage.js')]);
  t.equal(readFileSync(join(__dirname, '..', '..', 'docs', 'layerfs.1'), 'utf8'), man.stdout, 'docs/layerfs.1 is the page made from the table (node dist/cli/manpage.js > docs/layerfs.1)');
  const render = await runIn('groff', ['-man', '-Tutf8', '-ww', '-z', join(__dirname, '..', '..', 'docs', 'layerfs.1')]);
  t.equal(render.stderr, '', 'groff renders it without a warning');
  for (const cmd of ['mount', 'umount', 'events', 'which', 'image create', 'container commit', 'completion']) t.match(man.stdout, new RegExp(`^\\.B ${cmd} `, 'm'), `the page has ${cmd}`);
});
