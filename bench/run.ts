// The benchmark harness behind `make bench` (started by bench/bench.sh, which installs fio and
// fuse-overlayfs and guarantees nothing stays mounted). It builds three lower layers once, then for
// each repetition and each workload group mounts every implementation in turn (kernel overlayfs,
// fuse-overlayfs, layerfs; the order rotates per repetition) on a fresh upper/work, runs the
// group's steps, and unmounts. Results: bench/results/latest.json and docs/performance.md.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..');
const QUICK = process.env.BENCH_QUICK === '1';
const REPS = Number(process.env.BENCH_REPS ?? (QUICK ? 1 : 3));
const DIR = path.resolve(process.env.BENCH_DIR ?? '/var/tmp/layerfs-bench');
const ONLY = process.env.BENCH_ONLY ? new RegExp(process.env.BENCH_ONLY) : null;
const IMPLS = (process.env.BENCH_IMPLS ?? 'kernel,fuse-overlayfs,layerfs').split(',');
const LAYERFS = `node ${ROOT}/dist/main.js`;
const RUN_DIR = process.env.LAYERFS_RUN_DIR ?? '/run/layerfs';

// Sizes. Quick mode keeps every workload but shrinks the data so that one repetition takes minutes.
const S = QUICK
  ? { big: 64, seqWrite: 32, write4k: 8, randRead: 4, copyUp: [1, 4, 16, 32], small: 200, meta: 2000,
      readdir: [1000, 10000, 20000], browse: [20, 1000], layers: [1, 10, 100, 500] }
  : { big: 1024, seqWrite: 512, write4k: 128, randRead: 64, copyUp: [1, 16, 64, 256], small: 200, meta: 2000,
      readdir: [1000, 10000, 100000], browse: [100, 1000], layers: [1, 10, 100, 500] };
const LARGE_CU = S.copyUp[S.copyUp.length - 1]!;
const BROWSE_N = S.browse[0]! * S.browse[1]!;

const LAYERS = path.join(DIR, 'layers');
const L = (n: number) => path.join(LAYERS, `l${n}`); // l1 bottom, l3 top
const LISTS = path.join(DIR, 'lists');
const SRC_TAR = path.join(DIR, 'src.tar');

// ---------- shell ----------
interface ShResult { code: number; out: string; err: string }
function sh(cmd: string, cwd?: string): ShResult {
  const r = spawnSync('bash', ['-o', 'pipefail', '-c', cmd], { cwd, encoding: 'utf8', maxBuffer: 64 << 20 });
  return { code: r.status ?? 128 + (r.signal ? 1 : 0), out: r.stdout ?? '', err: r.stderr ?? '' };
}
function must(cmd: string, cwd?: string): string {
  const r = sh(cmd, cwd);
  if (r.code !== 0) throw new Error(`command failed (${r.code}): ${cmd}\n${r.err.slice(-2000)}`);
  return r.out;
}
const dropCaches = () => must('sync; echo 3 > /proc/sys/vm/drop_caches');
const log = (s: string) => process.stdout.write(s + '\n');

// ---------- implementations ----------
interface Impl {
  name: string;
  mount(lowers: string[], upper: string, work: string, mnt: string, cwd: string): void;
  umount(mnt: string): void;
  pid(mnt: string): number | null;
}
const procArgv = (pid: string) => {
  try { return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean); } catch { return []; }
};
const findPid = (pred: (argv: string[]) => boolean): number | null => {
  for (const p of fs.readdirSync('/proc')) if (/^\d+$/.test(p) && pred(procArgv(p))) return Number(p);
  return null;
};
const impls: Record<string, Impl> = {
  kernel: {
    name: 'kernel',
    mount: (lo, up, wk, mnt, cwd) => { must(`mount -t overlay overlay -o lowerdir=${lo.join(':')},upperdir=${up},workdir=${wk},redirect_dir=off,index=off,metacopy=off,xino=off ${mnt}`, cwd); },
    umount: (mnt) => { must(`umount ${mnt}`); },
    pid: () => null,
  },
  'fuse-overlayfs': {
    name: 'fuse-overlayfs',
    mount: (lo, up, wk, mnt, cwd) => { must(`fuse-overlayfs -o lowerdir=${lo.join(':')},upperdir=${up},workdir=${wk} ${mnt}`, cwd); },
    umount: (mnt) => { must(`fusermount -u ${mnt}`); },
    pid: (mnt) => findPid((a) => (a[0] ?? '').endsWith('fuse-overlayfs') && a[a.length - 1] === mnt),
  },
  layerfs: {
    name: 'layerfs',
    mount: (lo, up, wk, mnt, cwd) => { must(`${LAYERFS} mount -o lowerdir=${lo.join(':')},upperdir=${up},workdir=${wk} ${mnt}`, cwd); },
    umount: (mnt) => { must(`${LAYERFS} umount ${mnt}`); },
    pid: (mnt) => {
      try {
        for (const f of fs.readdirSync(path.join(RUN_DIR, 'mounts'))) {
          if (!f.endsWith('.json')) continue;
          const j = JSON.parse(fs.readFileSync(path.join(RUN_DIR, 'mounts', f), 'utf8'));
          if (j.mountpoint === mnt && fs.existsSync(`/proc/${j.pid}`)) return j.pid as number;
        }
      } catch { /* fall through */ }
      return findPid((a) => a.some((x) => x.endsWith('dist/main.js')) && a.includes('mount') && a[a.length - 1] === mnt);
    },
  },
};

// What this process mounted and has not unmounted yet: torn down on exit, error and signals.
const mounted = new Map<string, Impl>();
function teardown() {
  for (const [mnt, impl] of [...mounted]) {
    try { impl.umount(mnt); } catch { sh(`umount ${mnt} || umount -l ${mnt}`); }
    mounted.delete(mnt);
  }
}
// No JS signal handlers: the harness runs synchronously (spawnSync), so a handler would only run at the
// end. SIGINT/SIGTERM kill this process with the default action, and bench/bench.sh, which waits for it,
// stops its children and unmounts everything under $BENCH_DIR/mnt.

// ---------- fixture: three lower layers, scale layers, lists ----------
function writeList(name: string, names: string[]) { fs.writeFileSync(path.join(LISTS, name), names.join('\n') + '\n'); }
const seqNames = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${String(i + 1).padStart(6, '0')}`);

function setup() {
  const sig = JSON.stringify({ v: 3, S });
  const stamp = path.join(DIR, 'fixture.json');
  if (fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === sig) { log(`fixture: reusing ${DIR}`); return; }
  log(`fixture: building ${DIR} (once; reused while sizes are unchanged)`);
  const t0 = Date.now();
  sh(`rm -rf ${LAYERS} ${LISTS} ${DIR}/scale ${SRC_TAR} ${stamp}`);
  for (const d of [L(1), L(2), L(3), LISTS]) fs.mkdirSync(d, { recursive: true });
  const perlWrite = (dir: string, list: string, bytes: number) =>
    must(`mkdir -p ${dir} && cd ${dir} && perl -ne 'chomp; open F, ">", $_ or die; print F "x" x ${bytes}; close F' < ${LISTS}/${list}`);
  const touchList = (dir: string, list: string) => must(`mkdir -p ${dir} && cd ${dir} && xargs -a ${LISTS}/${list} touch`);
  // data
  must(`dd if=/dev/urandom of=${L(1)}/big.bin bs=1M count=${S.big} status=none`);
  fs.mkdirSync(`${L(1)}/cu`);
  for (const s of S.copyUp) must(`dd if=/dev/urandom of=${L(1)}/cu/f${s}M bs=1M count=${s} status=none`);
  writeList('small.txt', seqNames('s', S.small));
  perlWrite(`${L(1)}/small`, 'small.txt', 8192);
  // metadata
  writeList('new.txt', seqNames('n', S.meta));
  writeList('lower.txt', seqNames('f', S.meta));
  perlWrite(`${L(1)}/lowerdel`, 'lower.txt', 100);
  perlWrite(`${L(1)}/lowerren`, 'lower.txt', 4096);
  for (let d = 1; d <= 50; d++) perlWrite(`${L(1)}/rmtree/d${d}`, 'small.txt', 1024); // 50 x 200 files
  // a directory merged from three layers, with whiteouts (char 0/0) in l2 and l3
  writeList('m1.txt', seqNames('m', 3000));
  writeList('m2.txt', seqNames('m', 4000).slice(2000));
  writeList('m3.txt', seqNames('m', 5000).slice(3500));
  touchList(`${L(1)}/merged`, 'm1.txt'); touchList(`${L(2)}/merged`, 'm2.txt'); touchList(`${L(3)}/merged`, 'm3.txt');
  must(`cd ${L(2)}/merged && for i in $(seq -f %06g 1 300); do mknod m$i c 0 0; done`);
  must(`cd ${L(3)}/merged && for i in $(seq -f %06g 301 600); do mknod m$i c 0 0; done`);
  // real trees: /usr/share/doc in l1, /usr/lib/node_modules in l2, a git repository in l2
  must(`mkdir -p ${L(1)}/tree ${L(2)}/tree && cp -a /usr/share/doc ${L(1)}/tree/doc && cp -a /usr/lib/node_modules ${L(2)}/tree/node_modules`);
  must(`mkdir -p ${L(3)}/tree && echo top > ${L(3)}/tree/README.top`);
  must(`cp -a /usr/lib/node_modules/npm ${L(2)}/repo && cd ${L(2)}/repo && rm -rf .git && git init -q && git add -A && ` +
       `git -c user.name=bench -c user.email=bench@localhost commit -q -m fixture && git gc -q`);
  must(`tar -cf ${SRC_TAR} -C /usr/share doc`);
  // scale: readdir of big directories, a tree to browse
  for (const n of S.readdir) { writeList(`rd${n}.txt`, seqNames('e', n)); touchList(`${L(1)}/rd${n}`, `rd${n}.txt`); }
  writeList('browse.txt', seqNames('b', S.browse[1]!));
  for (let d = 1; d <= S.browse[0]!; d++) touchList(`${L(1)}/tree100k/d${d}`, 'browse.txt');
  // scale: N lower layers; layer 0 (the bottom) holds d/ with 1,000 files, every layer has d/
  writeList('f1000.txt', seqNames('f', 1000));
  for (const n of S.layers) {
    const base = path.join(DIR, 'scale', `L${n}`);
    touchList(`${base}/0/d`, 'f1000.txt');
    must(`cd ${base} && for i in $(seq 1 ${n - 1}); do mkdir -p $i/d && touch $i/d/x$i; done`);
  }
  must('sync');
  fs.writeFileSync(stamp, sig);
  log(`fixture: done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

// ---------- workloads ----------
type Section = 'data' | 'metadata' | 'real trees' | 'scale';
interface Step {
  id: string; label: string; section: Section;
  cmd: (m: string) => string;
  cold?: boolean;            // sync + drop caches before the step
  unit?: 's' | 'MB';         // MB: a memory reading (not a time, not in the geomean)
  check?: boolean;           // keep stdout to compare across implementations
  perOp?: number;            // report also time / perOp
}
interface Group {
  name: string;
  lowers: string[]; cwd: string;
  prep?: (m: string) => string;   // untimed, after mount
  steps: Step[];
}
const MAIN = [L(3), L(2), L(1)];
const fio = (args: string) => `fio --output-format=terse --ioengine=psync --group_reporting ${args} > /dev/null`;
const perlEach = (code: string, list: string) => `perl -ne 'chomp; ${code}' < ${LISTS}/${list}`;

function groups(): Group[] {
  const g = (name: string, steps: Step[], prep?: (m: string) => string): Group => ({ name, lowers: MAIN, cwd: DIR, steps, prep });
  const list: Group[] = [
    g('data-seqread', [
      { id: 'seqread-cold', section: 'data', label: `sequential read ${S.big} MiB lower file, cold`, cold: true, cmd: (m) => `dd if=${m}/big.bin of=/dev/null bs=1M status=none` },
      { id: 'seqread-warm', section: 'data', label: `sequential read ${S.big} MiB lower file, warm`, cmd: (m) => `dd if=${m}/big.bin of=/dev/null bs=1M status=none` },
    ]),
    g('data-write', [
      { id: 'seqwrite-1m', section: 'data', label: `sequential write ${S.seqWrite} MiB, 1 MiB blocks (fio, end_fsync)`, cmd: (m) => fio(`--name=sw --directory=${m}/fio --rw=write --bs=1M --size=${S.seqWrite}M --end_fsync=1`) },
      { id: 'write-4k', section: 'data', label: `sequential write ${S.write4k} MiB, 4 KiB blocks (fio, end_fsync)`, cmd: (m) => fio(`--name=w4 --directory=${m}/fio --rw=write --bs=4k --size=${S.write4k}M --end_fsync=1`) },
    ], (m) => `mkdir ${m}/fio`),
    g('data-randread', [
      { id: 'randread-1j', section: 'data', label: `4 KiB random reads of the lower file, 1 job x ${S.randRead} MiB (fio)`, cmd: (m) => fio(`--name=rr --filename=${m}/big.bin --readonly --invalidate=0 --rw=randread --bs=4k --io_size=${S.randRead}M --numjobs=1 --randrepeat=1`) },
      { id: 'randread-4j', section: 'data', label: `4 KiB random reads of the lower file, 4 jobs x ${S.randRead} MiB (fio)`, cmd: (m) => fio(`--name=rr4 --filename=${m}/big.bin --readonly --invalidate=0 --rw=randread --bs=4k --io_size=${S.randRead}M --numjobs=4 --randrepeat=1`) },
    ], () => `cat ${L(1)}/big.bin > /dev/null`), // host page cache warm: measures the overlay, not the disk
    g('copyup-size', S.copyUp.map((s): Step => ({
      id: `copyup-${s}M`, section: s === LARGE_CU ? 'data' : 'scale', label: `copy-up of a ${s} MiB lower file (1-byte append)`,
      cmd: (m) => `printf x >> ${m}/cu/f${s}M`,
    })), () => `cat ${L(1)}/cu/* > /dev/null`),
    g('copyup-small', [
      { id: 'copyup-small', section: 'data', label: `copy-up of ${S.small} small (8 KiB) lower files (1-byte append)`, cmd: (m) => `for f in ${m}/small/*; do printf x >> "$f"; done` },
    ], () => `cat ${L(1)}/small/* > /dev/null`),
    g('meta-new', [
      { id: 'create', section: 'metadata', label: `create ${S.meta} files (touch)`, cmd: (m) => `cd ${m}/new && xargs -a ${LISTS}/new.txt touch` },
      { id: 'stat-new-cold', section: 'metadata', label: `stat ${S.meta} new files, cold`, cold: true, cmd: (m) => `cd ${m}/new && xargs -a ${LISTS}/new.txt stat -c %s > /dev/null` },
      { id: 'stat-new-warm', section: 'metadata', label: `stat ${S.meta} new files, warm`, cmd: (m) => `cd ${m}/new && xargs -a ${LISTS}/new.txt stat -c %s > /dev/null` },
      { id: 'rename-new', section: 'metadata', label: `rename ${S.meta} new files`, cmd: (m) => `cd ${m}/new && ${perlEach('rename $_, "$_.r" or die "$_: $!"', 'new.txt')}` },
      { id: 'unlink-new', section: 'metadata', label: `unlink ${S.meta} new files`, cmd: (m) => `cd ${m}/new && ${perlEach('unlink "$_.r" or die "$_: $!"', 'new.txt')}` },
    ], (m) => `mkdir ${m}/new`),
    g('meta-readdir', [
      { id: 'readdir-merged-cold', section: 'metadata', label: 'readdir of a dir merged from 3 layers with 600 whiteouts (4,400 entries), cold', cold: true, check: true, cmd: (m) => `ls -f ${m}/merged | wc -l` },
      { id: 'readdir-merged-warm', section: 'metadata', label: 'readdir of the merged dir, warm', check: true, cmd: (m) => `ls -f ${m}/merged | wc -l` },
    ]),
    g('meta-lower', [
      { id: 'unlink-lower', section: 'metadata', label: `unlink ${S.meta} lower files`, cmd: (m) => `cd ${m}/lowerdel && ${perlEach('unlink $_ or die "$_: $!"', 'lower.txt')}` },
      { id: 'rename-lower', section: 'metadata', label: `rename ${S.meta} lower files (4 KiB each)`, cmd: (m) => `cd ${m}/lowerren && ${perlEach('rename $_, "$_.r" or die "$_: $!"', 'lower.txt')}` },
      { id: 'rmrf-lower', section: 'metadata', label: 'rm -rf of a lower tree (50 dirs x 200 files)', cmd: (m) => `rm -rf ${m}/rmtree && test ! -e ${m}/rmtree` },
    ], () => `ls -R ${L(1)}/lowerdel ${L(1)}/lowerren ${L(1)}/rmtree > /dev/null`),
    g('tree-untar', [
      { id: 'untar', section: 'real trees', label: 'untar /usr/share/doc (tar -x into the mount)', cmd: (m) => `tar -xf ${SRC_TAR} -C ${m}/untar` },
    ], (m) => `mkdir ${m}/untar && cat ${SRC_TAR} > /dev/null`),
    g('tree-read', [
      { id: 'find-cold', section: 'real trees', label: 'find over a lower tree (/usr/share/doc + /usr/lib/node_modules), cold', cold: true, check: true, cmd: (m) => `find ${m}/tree | wc -l` },
      { id: 'find-warm', section: 'real trees', label: 'find over the lower tree, warm', check: true, cmd: (m) => `find ${m}/tree | wc -l` },
      { id: 'du-cold', section: 'real trees', label: 'du -s over the lower tree, cold', cold: true, cmd: (m) => `du -s ${m}/tree > /dev/null` },
      { id: 'grep-cold', section: 'real trees', label: 'grep -r over the lower tree, cold', cold: true, check: true, cmd: (m) => `grep -r -l 'General Public License' ${m}/tree | wc -l` },
    ]),
    g('tree-git', [
      { id: 'git-status-cold', section: 'real trees', label: 'git status in a lower-layer repo (npm, 2.4k files), cold', cold: true, check: true, cmd: (m) => `cd ${m}/repo && git status --porcelain | wc -l` },
      { id: 'git-status-warm', section: 'real trees', label: 'git status in the lower-layer repo, warm', check: true, cmd: (m) => `cd ${m}/repo && git status --porcelain | wc -l` },
    ]),
  ];
  for (const n of S.layers) {
    const base = path.join(DIR, 'scale', `L${n}`);
    // relative lower paths (top first): 500 absolute paths would not fit in the mount options
    const lowers = Array.from({ length: n }, (_, i) => String(n - 1 - i));
    const cmd = (m: string) => `cd ${m}/d && xargs -a ${LISTS}/f1000.txt stat -c %s > /dev/null`;
    list.push({
      name: `scale-layers-${n}`, lowers, cwd: base, steps: [
        { id: `lookup-${n}-cold`, section: 'scale', label: `lookup+stat 1,000 files in the bottom layer, ${n} layers, cold`, cold: true, perOp: 1000, cmd },
        { id: `lookup-${n}-warm`, section: 'scale', label: `lookup+stat 1,000 files in the bottom layer, ${n} layers, warm`, perOp: 1000, cmd },
      ],
    });
  }
  list.push(g('scale-readdir', S.readdir.map((n): Step => ({
    id: `readdir-${n}`, section: 'scale', label: `readdir of a lower dir with ${n.toLocaleString('en')} entries, cold`, cold: true, check: true,
    cmd: (m) => `ls -f ${m}/rd${n} | wc -l`,
  }))));
  list.push(g('scale-rss', [
    { id: 'rss-idle', section: 'scale', label: 'daemon RSS after mount (MB)', unit: 'MB', cmd: () => '' },
    { id: 'browse', section: 'scale', label: `browse a ${BROWSE_N.toLocaleString('en')}-entry lower tree (find -ls), cold`, cold: true, check: true, cmd: (m) => `find ${m}/tree100k -ls | wc -l` },
    { id: 'rss-browsed', section: 'scale', label: `daemon RSS after browsing ${BROWSE_N.toLocaleString('en')} entries (MB)`, unit: 'MB', cmd: () => '' },
  ]));
  return ONLY ? list.filter((x) => ONLY.test(x.name)) : list;
}

// ---------- running ----------
interface Sample { rep: number; group: string; impl: string; step: string; value: number | null; error?: string; out?: string }
const samples: Sample[] = [];

function rssMB(pid: number | null): number | null {
  if (!pid) return null;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch { return null; }
}

function runGroup(rep: number, grp: Group, impl: Impl) {
  const mnt = path.join(DIR, 'mnt', impl.name);
  const rw = path.join(DIR, 'rw', impl.name);
  sh(`rm -rf ${rw}`);
  fs.mkdirSync(`${rw}/upper`, { recursive: true }); fs.mkdirSync(`${rw}/work`); fs.mkdirSync(mnt, { recursive: true });
  const fail = (error: string) => { for (const st of grp.steps) samples.push({ rep, group: grp.name, impl: impl.name, step: st.id, value: null, error }); };
  try { impl.mount(grp.lowers, `${rw}/upper`, `${rw}/work`, mnt, grp.cwd); mounted.set(mnt, impl); }
  catch (e) { log(`  ${impl.name}: MOUNT FAILED: ${(e as Error).message}`); fail(`mount: ${(e as Error).message}`); return; }
  const line: string[] = [];
  try {
    if (grp.prep) must(grp.prep(mnt));
    for (const st of grp.steps) {
      if (st.unit === 'MB') {
        const v = impl.name === 'kernel' ? null : rssMB(impl.pid(mnt));
        samples.push({ rep, group: grp.name, impl: impl.name, step: st.id, value: v, ...(v === null && impl.name !== 'kernel' ? { error: 'daemon pid not found' } : {}) });
        line.push(`${st.id}=${v === null ? '-' : v.toFixed(0) + 'MB'}`);
        continue;
      }
      must('sync');
      if (st.cold) dropCaches();
      const t0 = process.hrtime.bigint();
      const r = sh(st.cmd(mnt));
      const secs = Number(process.hrtime.bigint() - t0) / 1e9;
      if (r.code !== 0) {
        const error = `exit ${r.code}: ${r.err.trim().split('\n').slice(-3).join(' | ')}`.slice(0, 500);
        samples.push({ rep, group: grp.name, impl: impl.name, step: st.id, value: null, error });
        line.push(`${st.id}=FAIL`); log(`  ${impl.name} ${st.id} FAILED: ${error}`);
      } else {
        samples.push({ rep, group: grp.name, impl: impl.name, step: st.id, value: secs, ...(st.check ? { out: r.out.trim().slice(0, 200) } : {}) });
        line.push(`${st.id}=${secs.toFixed(3)}s`);
      }
    }
  } catch (e) {
    log(`  ${impl.name}: ${(e as Error).message}`);
    for (const st of grp.steps) if (!samples.some((s) => s.rep === rep && s.impl === impl.name && s.step === st.id)) {
      samples.push({ rep, group: grp.name, impl: impl.name, step: st.id, value: null, error: (e as Error).message.slice(0, 500) });
    }
  } finally {
    try { impl.umount(mnt); } catch (e) { log(`  ${impl.name}: umount failed (${(e as Error).message.trim()}), lazy unmount`); sh(`umount -l ${mnt}`); }
    mounted.delete(mnt);
  }
  log(`  ${impl.name.padEnd(14)} ${line.join('  ')}`);
}

// ---------- statistics & report ----------
const median = (xs: number[]) => {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b); const h = s.length >> 1;
  return s.length % 2 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
};
const geomean = (xs: number[]) => (xs.length ? Math.exp(xs.reduce((a, x) => a + Math.log(x), 0) / xs.length) : null);
const valueOf = (rep: number, impl: string, step: string) => samples.find((s) => s.rep === rep && s.impl === impl && s.step === step)?.value ?? null;

interface Row { step: Step; med: Record<string, number | null>; ratio: Record<string, number | null>; errors: string[] }
const PAIRS: [string, string, string][] = [
  ['layerfs/kernel', 'layerfs', 'kernel'], ['layerfs/fuse-ovl', 'layerfs', 'fuse-overlayfs'], ['fuse-ovl/kernel', 'fuse-overlayfs', 'kernel'],
];
function summarize(allSteps: Step[]): Row[] {
  return allSteps.map((step) => {
    const med: Record<string, number | null> = {}; const ratio: Record<string, number | null> = {};
    for (const i of IMPLS) med[i] = median(samples.filter((s) => s.impl === i && s.step === step.id && s.value !== null).map((s) => s.value!));
    for (const [name, a, b] of PAIRS) {
      const rs: number[] = [];
      for (let r = 0; r < REPS; r++) { const va = valueOf(r, a, step.id), vb = valueOf(r, b, step.id); if (va !== null && vb !== null && vb > 0) rs.push(va / vb); }
      ratio[name] = median(rs); // ratio computed within each repetition, then the median
    }
    const errors = [...new Set(samples.filter((s) => s.step === step.id && s.error).map((s) => `${s.impl}: ${s.error}`))];
    return { step, med, ratio, errors };
  });
}

function fmtVal(v: number | null | undefined, unit: 's' | 'MB' = 's') {
  if (v === null || v === undefined) return '—';
  if (unit === 'MB') return `${v.toFixed(0)} MB`;
  return v < 1 ? `${(v * 1000).toFixed(v < 0.01 ? 2 : 1)} ms` : `${v.toFixed(2)} s`;
}
const fmtRatio = (v: number | null | undefined) => (v === null || v === undefined ? '—' : `${v.toFixed(2)}x`);

function machine() {
  const f = (c: string) => sh(c).out.trim();
  return {
    date: new Date().toISOString(),
    nproc: os.cpus().length, cpu: os.cpus()[0]?.model ?? '?', memGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    kernel: f('uname -r'), node: process.version, fio: f('fio --version'),
    fuseOverlayfs: f('fuse-overlayfs --version 2>&1 | head -1'), distro: f('. /etc/os-release && echo "$PRETTY_NAME"'),
    benchFs: f(`df -T ${DIR} | awk 'NR==2 {print $2}'`), layerfsCommit: f(`git -C ${ROOT} rev-parse --short HEAD 2>/dev/null`),
  };
}

function report(rows: Row[], meta: ReturnType<typeof machine>, wallSec: number) {
  const timeRows = rows.filter((r) => r.step.unit !== 'MB');
  const gm: Record<string, number | null> = {};
  for (const [name] of PAIRS) gm[name] = geomean(timeRows.map((r) => r.ratio[name]).filter((x): x is number => x != null && x > 0));
  const byId = (id: string) => rows.find((r) => r.step.id === id);
  // targets (reported, never asserted)
  const lf = timeRows.filter((r) => r.ratio['layerfs/fuse-ovl'] != null);
  const worst = [...lf].sort((a, b) => b.ratio['layerfs/fuse-ovl']! - a.ratio['layerfs/fuse-ovl']!);
  const speedup = (id: string) => { const r = byId(id)?.ratio['layerfs/fuse-ovl']; return r ? 1 / r : null; };
  const lk = (n: number) => byId(`lookup-${n}-cold`)?.med['layerfs'] ?? null;
  const flat = lk(1) && lk(S.layers[S.layers.length - 1]!) ? lk(S.layers[S.layers.length - 1]!)! / lk(1)! : null;
  const cuK = byId(`copyup-${LARGE_CU}M`)?.ratio['layerfs/kernel'] ?? null;
  const rss = byId('rss-browsed')?.med['layerfs'] ?? null;
  const ok = (b: boolean | null) => (b === null ? 'n/a' : b ? 'met' : '**not met**');
  const targets = [
    ['geomean of time ratios <= 1.0x fuse-overlayfs', fmtRatio(gm['layerfs/fuse-ovl']), ok(gm['layerfs/fuse-ovl'] == null ? null : gm['layerfs/fuse-ovl']! <= 1)],
    ['no workload worse than 2x fuse-overlayfs', worst[0] ? `worst: ${worst[0].step.id} ${fmtRatio(worst[0].ratio['layerfs/fuse-ovl'])}` : '—', ok(worst[0] ? worst[0].ratio['layerfs/fuse-ovl']! <= 2 : null)],
    [`copy-up of a large (${LARGE_CU} MiB) file no slower than kernel`, fmtRatio(cuK), ok(cuK === null ? null : cuK <= 1)],
    ['unlink of lower files >= 5x faster than fuse-overlayfs', speedup('unlink-lower') ? `${speedup('unlink-lower')!.toFixed(2)}x faster` : '—', ok(speedup('unlink-lower') === null ? null : speedup('unlink-lower')! >= 5)],
    ['rm -rf of a lower tree >= 5x faster than fuse-overlayfs', speedup('rmrf-lower') ? `${speedup('rmrf-lower')!.toFixed(2)}x faster` : '—', ok(speedup('rmrf-lower') === null ? null : speedup('rmrf-lower')! >= 5)],
    [`lookup cost flat from 1 to ${S.layers[S.layers.length - 1]} layers (cold, layerfs)`, flat ? `${flat.toFixed(2)}x the 1-layer time` : '—', ok(flat === null ? null : flat <= 1.5)],
    [`daemon RSS < 150 MB after ${BROWSE_N.toLocaleString('en')} entries`, fmtVal(rss, 'MB'), ok(rss === null ? null : rss < 150)],
  ];

  const md: string[] = [];
  md.push('# Performance', '');
  md.push('layerfs compared with kernel overlayfs and fuse-overlayfs on the same three lower layers, by `make bench`',
    '(`bench/bench.sh` → `bench/run.ts`). This file is generated; the analysis at the end comes from `bench/analysis.md`.', '');
  md.push(`## Run`, '');
  md.push(`- date: ${meta.date}${QUICK ? ' — **BENCH_QUICK=1 (small sizes)**' : ''}`,
    `- repetitions: ${REPS} (implementations interleaved per workload group, order rotated each repetition); wall time ${(wallSec / 60).toFixed(1)} min`,
    `- machine: ${meta.nproc} CPUs (${meta.cpu}), ${meta.memGiB} GiB RAM, kernel ${meta.kernel}, ${meta.distro}`,
    `- node ${meta.node}, ${meta.fio}, ${meta.fuseOverlayfs}, layerfs ${meta.layerfsCommit}`,
    `- scratch directory ${DIR} on ${meta.benchFs} (layers, upper and work on the same filesystem)`, '');
  md.push('## Reproduce', '', '```sh', 'make build', 'make bench                      # full run, 3 repetitions (~30 min)',
    'BENCH_QUICK=1 make bench        # small sizes, 1 repetition (a few minutes)',
    'BENCH_REPS=5 make bench         # more repetitions',
    "BENCH_ONLY='^meta' make bench   # only some workload groups (regular expression on group names)",
    '# without make: bash bench/bench.sh (same variables)', '```', '',
    'Mount commands used (fresh upper and work for every mount):', '', '```sh',
    'mount -t overlay overlay -o lowerdir=L3:L2:L1,upperdir=U,workdir=W,redirect_dir=off,index=off,metacopy=off,xino=off MNT; umount MNT',
    'fuse-overlayfs -o lowerdir=L3:L2:L1,upperdir=U,workdir=W MNT; fusermount -u MNT',
    'node dist/main.js mount -o lowerdir=L3:L2:L1,upperdir=U,workdir=W MNT; node dist/main.js umount MNT', '```', '');
  md.push('## Results', '',
    'Times are medians over the repetitions. A ratio is computed within each repetition (same moment, same machine noise),',
    'and the table shows its median: below 1.00x means layerfs (or fuse-overlayfs) is faster than the reference.', '');
  for (const sec of ['data', 'metadata', 'real trees', 'scale'] as Section[]) {
    const rs = rows.filter((r) => r.step.section === sec);
    if (!rs.length) continue;
    md.push(`### ${sec}`, '', `| workload | ${IMPLS.join(' | ')} | layerfs/kernel | layerfs/fuse-ovl | fuse-ovl/kernel |`, `|---|${IMPLS.map(() => '---:').join('|')}|---:|---:|---:|`);
    for (const r of rs) {
      const u = r.step.unit ?? 's';
      const cells = IMPLS.map((i) => { const v = r.med[i]; const per = r.step.perOp && v != null ? ` (${((v / r.step.perOp) * 1e6).toFixed(0)} µs/op)` : ''; return fmtVal(v, u) + per; });
      const rat = u === 'MB' ? ['', '', ''] : PAIRS.map(([n]) => fmtRatio(r.ratio[n]));
      md.push(`| ${r.step.label}${r.errors.length ? ' ⚠' : ''} | ${cells.join(' | ')} | ${rat.join(' | ')} |`);
    }
    md.push('');
  }
  md.push(`**Geometric mean of the time ratios** over ${timeRows.length} timed workloads: ` +
    PAIRS.map(([n]) => `${n} ${fmtRatio(gm[n])}`).join(', ') + '.', '');
  md.push('## Targets (reported, not asserted)', '', '| target | measured | |', '|---|---|---|', ...targets.map((t) => `| ${t.join(' | ')} |`), '');
  md.push('Worst workloads for layerfs against fuse-overlayfs: ' + worst.slice(0, 5).map((r) => `${r.step.id} ${fmtRatio(r.ratio['layerfs/fuse-ovl'])}`).join(', ') + '.', '');
  const errs = rows.flatMap((r) => r.errors.map((e) => `- ${r.step.id}: ${e}`));
  // results that should be identical across implementations (entry counts, matches)
  const mism: string[] = [];
  for (const r of rows.filter((x) => x.step.check)) {
    const outs = new Map<string, string>();
    for (const s of samples.filter((x) => x.step === r.step.id && x.out !== undefined)) outs.set(s.impl, s.out!);
    if (new Set(outs.values()).size > 1) mism.push(`- ${r.step.id}: ` + [...outs].map(([i, o]) => `${i}=${o}`).join(', '));
  }
  md.push('## Failures and differences', '', ...(errs.length ? errs : ['- no workload failed']),
    ...(mism.length ? ['', 'Outputs that differ between implementations (entry counts, matches):', ...mism] : ['- outputs checked across implementations (entry counts, grep matches) agree']), '');
  md.push('## Method', '',
    '- Three lower layers (`l3:l2:l1`, top first): l1 holds the data files (random bytes), 2,000-file directories, a 50×200 tree to',
    '  delete, `/usr/share/doc`, the big readdir directories and the browse tree; l2 holds `/usr/lib/node_modules` and a git repository',
    '  (a copy of npm, committed); the merged directory spans l1–l3 with 300 whiteouts (char 0/0) in each of l2 and l3.',
    '- Workload groups run on a fresh mount with an empty upper and work; within a group the steps run in order on that mount',
    '  (e.g. the warm stat follows the cold one). Before each step: `sync`; before each *cold* step: `sync; echo 3 > /proc/sys/vm/drop_caches`',
    '  (this drops the kernel\'s page, dentry and inode caches, including FUSE\'s, but not what a daemon keeps in its own memory).',
    '- Times are wall-clock times of the whole command (`bash -c`), so they include a few ms of process start; bulk operations on',
    '  2,000 names use one process (`xargs`, `perl`) so that process start does not dominate.',
    '- Random reads and copy-ups run with the lower files in the host page cache (untimed `cat` first), so they measure the overlay,',
    '  not the disk. fio writes end with an fsync (`end_fsync=1`).',
    '- Scale: N lower layers each containing `d/`; the 1,000 files stat-ed are in the bottom layer, so every lookup crosses all N.',
    '  Relative lower paths (mount run from the layers\' directory) keep 500 layers within the mount option size limit.',
    '- RSS: `VmRSS` of the daemon process (layerfs: the pid in `/run/layerfs/mounts/*.json`; fuse-overlayfs: the process started for the mount).',
    '- Raw samples: `bench/results/latest.json`.', '');
  const analysis = path.join(ROOT, 'bench', 'analysis.md');
  if (fs.existsSync(analysis)) md.push(fs.readFileSync(analysis, 'utf8').trim(), '');
  fs.mkdirSync(path.join(ROOT, 'docs'), { recursive: true });
  fs.writeFileSync(path.join(ROOT, 'docs', 'performance.md'), md.join('\n'));
  return { gm, targets };
}

// ---------- main ----------
function main() {
  const t0 = Date.now();
  fs.mkdirSync(DIR, { recursive: true });
  if (sh(`df -T ${DIR} | awk 'NR==2 {print $2}'`).out.trim() === 'tmpfs') throw new Error('BENCH_DIR must not be on tmpfs');
  for (const i of IMPLS) if (!impls[i]) throw new Error(`unknown implementation ${i}`);
  setup();
  const gs = groups();
  const meta = machine();
  log(`bench: ${REPS} repetition(s)${QUICK ? ', quick' : ''}, ${gs.length} groups, implementations ${IMPLS.join(', ')}`);
  for (let rep = 0; rep < REPS; rep++) {
    const order = IMPLS.map((_, k) => IMPLS[(k + rep) % IMPLS.length]!);
    for (const grp of gs) {
      log(`[rep ${rep + 1}/${REPS}] ${grp.name}`);
      for (const name of order) runGroup(rep, grp, impls[name]!);
    }
  }
  sh(`rm -rf ${DIR}/rw`);
  const rows = summarize(gs.flatMap((g) => g.steps));
  const wall = (Date.now() - t0) / 1000;
  const { gm, targets } = report(rows, meta, wall);
  const outDir = path.join(ROOT, 'bench', 'results');
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, 'latest.json'), JSON.stringify({
    meta, quick: QUICK, reps: REPS, implementations: IMPLS, sizes: S, wallSeconds: wall,
    summary: rows.map((r) => ({ id: r.step.id, label: r.step.label, section: r.step.section, unit: r.step.unit ?? 's', median: r.med, ratio: r.ratio, errors: r.errors })),
    geomean: gm, targets: targets.map(([target, measured, status]) => ({ target, measured, status })),
    samples,
  }, null, 2) + '\n');
  log(`\nbench: done in ${(wall / 60).toFixed(1)} min; geomean ${PAIRS.map(([n]) => `${n}=${fmtRatio(gm[n])}`).join(' ')}`);
  log('bench: wrote docs/performance.md and bench/results/latest.json');
}

try { main(); } catch (e) { log(`bench: ERROR: ${(e as Error).stack ?? e}`); process.exitCode = 1; } finally { teardown(); }
