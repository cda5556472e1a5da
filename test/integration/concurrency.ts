// Many processes on one mount at once: concurrent copy-ups of one file, concurrent appends,
// `find` during `rm -rf`, a parallel "build". No lost write, no duplicate copy-up, no deadlock
// (every command runs under `timeout`, so a deadlock fails the test instead of hanging it).
import t, { type Test } from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cannotMount, mountLayerfs, sh } from '../fixtures/mounts';
import { buildStack, tempDir, type BuiltStack, type Spec } from '../fixtures/layers';

const skip = cannotMount();
const BIG = 'lower data line\n'.repeat(256 * 1024); // 4 MiB: a copy-up long enough to overlap

async function mounted(t: Test, lower: Spec): Promise<{ stack: BuiltStack; mnt: string }> {
  const tmp = tempDir();
  t.teardown(tmp.remove);
  const stack = buildStack(tmp.path, [lower]);
  const mnt = join(tmp.path, 'mnt');
  await mountLayerfs(t, stack, mnt);
  return { stack, mnt };
}

t.test('8 processes append to one lower file at once: one copy-up, every line kept', { skip }, async (t) => {
  const { stack, mnt } = await mounted(t, { big: BIG });
  const r = await sh(mnt, 'for i in 1 2 3 4 5 6 7 8; do timeout 60 sh -c "echo writer-$i >> big" & done; wait; echo done');
  t.equal(r.stdout, 'done\n');
  const text = readFileSync(join(stack.upper, 'big'), 'utf8');
  t.ok(text.startsWith(BIG), 'the lower content was copied up whole, once');
  t.same(text.slice(BIG.length).split('\n').filter(Boolean).sort(), [1, 2, 3, 4, 5, 6, 7, 8].map((i) => `writer-${i}`));
  t.same(readdirSync(join(stack.work, 'work')), [], 'no copy-up left anything in the workdir');
});

t.test('4 processes x 300 appends to one file: no lost or torn line', { skip }, async (t) => {
  const { mnt } = await mounted(t, { log: 'first\n' });
  const perl = 'open(my $f, ">>", "log") or die; $f->autoflush(1); print $f "p$ARGV[0] line $_ " . ("x" x 100) . "\\n" for 1..300';
  const r = await sh(mnt, [
    `for p in 1 2 3 4; do timeout 120 perl -e '${perl}' $p & done`, 'wait',
    'wc -l < log', 'sort log | uniq -d | wc -l', 'grep -vc "^p[1-4] line [0-9]* x\\{100\\}$" log',
  ].join('; '));
  t.equal(r.stdout, '1201\n0\n1\n', '1,200 whole lines, no duplicate, only "first" differs');
});

t.test('find while rm -rf of the same lower tree: both finish, the tree is gone', { skip }, async (t) => {
  const tree: Spec = {};
  for (let d = 0; d < 20; d++) {
    const files: Spec = {};
    for (let f = 0; f < 50; f++) files[`f${f}`] = `${d}/${f}\n`;
    tree[`d${d}`] = files;
  }
  const { stack, mnt } = await mounted(t, { tree });
  // find runs again and again for as long as rm -rf runs
  const r = await sh(mnt, [
    'timeout 60 rm -rf tree & pid=$!', 'n=0',
    'while kill -0 $pid 2>/dev/null; do timeout 60 find tree >/dev/null 2>&1; n=$((n+1)); done',
    'wait $pid; echo "rm=$?"', 'ls -A', 'echo "finds=$n" >&2',
  ].join('; '));
  t.equal(r.stdout, 'rm=0\n', 'rm -rf succeeded and the tree is gone from the merged view');
  t.match(r.stderr, /finds=[1-9]/, 'find ran alongside');
  t.same(readdirSync(stack.upper), ['tree'], 'upper holds one whiteout for the tree');
});

t.test('a parallel build: 4 jobs create, write, rename and delete in their own directories', { skip }, async (t) => {
  const { mnt } = await mounted(t, { src: { 'main.c': 'int main(){}\n' } });
  const r = await sh(mnt, [
    'for j in 1 2 3 4; do timeout 120 sh -c "mkdir -p out/$j && cd out/$j && for i in $(seq -s " " 1 150); do',
    'cat ../../src/main.c > o\\$i.tmp && mv o\\$i.tmp o\\$i.o; done; rm o1*.o" & done; wait;',
    'find out -name "*.o" | wc -l; cat out/*/o99.o | sort -u; ls out/*/*.tmp 2>/dev/null | wc -l',
  ].join(' '));
  // each job keeps 150 objects minus the 62 whose names start with o1 (o1, o10-o19, o100-o150)
  t.equal(r.stdout, `${4 * (150 - 62)}\nint main(){}\n0\n`);
});
