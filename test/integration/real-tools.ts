// Real tools inside the mount, against the kernel overlay: a copy of a real tree from this machine
// (/usr/share/doc, size-limited) unpacked, listed, measured and searched; a git repository living
// in a lower layer, changed and committed; a new repository made in the mount; and rm -rf of a
// large lower tree, which must leave only whiteouts in upper (test/fixtures/host-tree.ts).
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cannotMount } from '../fixtures/mounts';
import { tempDir } from '../fixtures/layers';
import { compareOnPair, copyHostTree, copyInto, mountPairFilled, treeBytes } from '../fixtures/host-tree';

const HOST_TREE = '/usr/share/doc';
const LIMIT = 2 << 20;

function whyNot(): string | false {
  const m = cannotMount();
  if (m) return m;
  if (!existsSync(HOST_TREE)) return `needs ${HOST_TREE} to copy a real tree from`;
  for (const tool of ['git', 'tar', 'find', 'du', 'grep']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`]);
    } catch {
      return `needs ${tool}`;
    }
  }
  return false;
}
const skip = whyNot();

// Deterministic git: fixed identities and dates, no user or system config, no auto gc.
const GIT_ENV: Record<string, string> = {
  GIT_AUTHOR_NAME: 'Ada Author', GIT_AUTHOR_EMAIL: 'ada@example.com', GIT_AUTHOR_DATE: '2020-01-02T03:04:05Z',
  GIT_COMMITTER_NAME: 'Carl Committer', GIT_COMMITTER_EMAIL: 'carl@example.com', GIT_COMMITTER_DATE: '2020-01-02T03:04:05Z',
  GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', HOME: '/nonexistent', LC_ALL: 'C', TZ: 'UTC',
  GIT_CONFIG_COUNT: '4',
  GIT_CONFIG_KEY_0: 'gc.auto', GIT_CONFIG_VALUE_0: '0',
  GIT_CONFIG_KEY_1: 'maintenance.auto', GIT_CONFIG_VALUE_1: 'false',
  GIT_CONFIG_KEY_2: 'init.defaultBranch', GIT_CONFIG_VALUE_2: 'main',
  GIT_CONFIG_KEY_3: 'advice.detachedHead', GIT_CONFIG_VALUE_3: 'false',
};
const gitExports = Object.entries(GIT_ENV).map(([k, v]) => `export ${k}='${v}'`).join('\n');

// git writes objects with link() + unlink(): the link count seen through the other name is exact
// only without the attribute cache (docs/design.md, hard links), as in write-differential.ts.
const STRICT = { layerfsOptions: ['-o', 'attr_timeout=0'] };

// Templates shared by the tests, made once: the host tree, a tarball of it and a git repository.
let tpl = '';
let hostEntries: string[] = [];
if (!skip) {
  const tmp = tempDir('layerfs-real-tpl-');
  t.teardown(tmp.remove);
  tpl = tmp.path;
  hostEntries = copyHostTree(HOST_TREE, join(tpl, 'doc'), LIMIT).entries;
  execFileSync('tar', ['cf', join(tpl, 'doc.tar'), '-C', tpl, 'doc']);
  const repo = join(tpl, 'repo');
  const git = (...args: string[]): void => {
    execFileSync('git', args, { cwd: repo, env: { ...process.env, ...GIT_ENV }, stdio: 'ignore' });
  };
  mkdirSync(join(repo, 'src'), { recursive: true });
  mkdirSync(join(repo, 'docs'));
  writeFileSync(join(repo, 'README'), 'A project\n');
  for (let i = 0; i < 20; i++) writeFileSync(join(repo, 'src', `m${i}.c`), `int m${i}(void) { return ${i}; }\n`);
  writeFileSync(join(repo, 'src', 'a.c'), 'int a;\n');
  writeFileSync(join(repo, 'src', 'b.c'), 'int b;\n');
  writeFileSync(join(repo, 'docs', 'guide.txt'), 'Read me first.\n'.repeat(50));
  git('init', '-q');
  git('add', '-A');
  git('commit', '-q', '-m', 'first');
  git('gc', '-q');
  writeFileSync(join(repo, 'docs', 'notes.txt'), 'notes\n');
  git('add', '-A');
  git('commit', '-q', '-m', 'second: loose objects next to the pack');
}

t.test('a real host tree: tar x into the mount, find, du and grep print what they print on the kernel', { skip }, async (t) => {
  const tar = join(tpl, 'doc.tar');
  t.ok(hostEntries.length > 10, `copied ${hostEntries.length} entries of ${HOST_TREE}`);
  const pair = await mountPairFilled(t, [{ doc: { 'zz-top-layer': 'from the top lower\n' } }, {}], copyInto(join(tpl, 'doc'), 'doc', 1));
  const script = `set -e
mkdir x
tar xf ${tar} -C x
tar xf ${tar}
find . | sort
find . -type f | wc -l
du -s --apparent-size x doc
du -sb x/doc
grep -r -l -i 'general public license' doc | sort
grep -r -c -i copyright x | sort | md5sum
grep -r top doc/zz-top-layer
diff -r x/doc doc || true
`;
  const { layerfs } = await compareOnPair(t, pair, script);
  t.equal(layerfs.code, 0, 'the script ran to the end');
  t.ok(layerfs.stdout.split('\n').length > 500, 'find listed the tree');
});

t.test('git inside the mount: a repository from a lower layer changed and committed, and git init of new ones', { skip }, async (t) => {
  const pair = await mountPairFilled(t, [{ work: { 'existing.txt': 'from the lower\n' } }], copyInto(join(tpl, 'repo'), 'repo'), STRICT);
  const script = `set -e
${gitExports}
cd repo
git status
git log --oneline
echo 'more' >> README
rm src/b.c
echo 'int n;' > src/new.c
mkdir -p docs/sub && echo d > docs/sub/d.txt
git mv src/a.c src/a2.c
git add -A
git commit -q -m 'changed in the mount'
git status
git log --stat
git fsck --no-progress 2>&1
git checkout -q HEAD~1 -- src/b.c
git status --short
git stash -q
git status --short
git rev-parse HEAD HEAD^{tree}
cd ../work
git init -q .
git add -A
git commit -q -m 'import the lower file'
git log --stat
git init -q ../fresh
cd ../fresh
echo hello > hello.txt
git add hello.txt
git commit -q -m hello
git branch -m main trunk
git log --stat
git count-objects
git status --short --branch
`;
  const { layerfs } = await compareOnPair(t, pair, script, { volatile: /(^|\/)\.git\/index$/ });
  t.equal(layerfs.code, 0, `the script ran to the end: ${layerfs.stderr}`);
  t.match(layerfs.stdout, /changed in the mount/);
  t.match(layerfs.stdout, /nothing to commit, working tree clean/);
  t.equal(layerfs.upper['repo/src/b.c']?.type, 'chr', 'b.c removed by the commit is a whiteout in upper again after the stash');
  t.equal(layerfs.upper['repo/src/m1.c'], undefined, 'files git only read were not copied up');
  t.ok(layerfs.upper['work/.git/HEAD'] && layerfs.upper['fresh/.git/HEAD'], 'the new repositories are in upper');
  t.equal(layerfs.upper['work/existing.txt'], undefined, 'git add of a lower file did not copy it up');
});

/** Counts what an upper directory holds: directories (by path), whiteouts, other objects, file bytes. */
function upperContent(upper: string): { dirs: string[]; whiteouts: number; other: string[]; bytes: number } {
  const out = { dirs: [] as string[], whiteouts: 0, other: [] as string[], bytes: treeBytes(upper) };
  const walk = (dir: string, rel: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const st = lstatSync(join(dir, name));
      if (st.isDirectory()) {
        out.dirs.push(rel + name);
        walk(join(dir, name), `${rel}${name}/`);
      } else if (st.isCharacterDevice() && st.rdev === 0) out.whiteouts++;
      else out.other.push(rel + name);
    }
  };
  walk(upper, '');
  return out;
}

t.test('rm -rf of large lower trees leaves only whiteouts in upper, never copied-up data', { skip }, async (t) => {
  // doc in the top lower (merged with a doc/ in the bottom one), doc2 in the bottom lower alone,
  // and a narrow tree deeper than the directory descriptors rm's fts keeps (it then climbs back
  // with openat("..") and checks dev/ino against what it saw on the way down).
  const fill = (lowerDirs: string[]): void => {
    copyInto(join(tpl, 'doc'), 'doc', 0)(lowerDirs);
    copyInto(join(tpl, 'doc'), 'doc2', 1)(lowerDirs);
  };
  const deep = { a: { b: { c: { d: { e: { f: 'deep\n' } } } } } };
  const pair = await mountPairFilled(t, [{ keep: 'k\n', deep }, { doc: { below: 'b\n' } }], fill);
  const lowerBytes = treeBytes(join(pair.layerfs.stack.lowers[0]!, 'doc'));
  t.ok(lowerBytes > 1 << 20, `each copy holds ${lowerBytes} bytes`);
  const script = 'rm -rf doc/*; echo rc=$?; ls -A doc; rm -rf doc2; echo rc=$?; rm -rf deep; echo rc=$?; ls -A';
  const { layerfs } = await compareOnPair(t, pair, script, { cross: false });
  t.equal(layerfs.stderr, '', 'rm reports no error');
  t.equal(layerfs.stdout, 'rc=0\nrc=0\nrc=0\ndoc\nkeep\n', 'each rm -rf succeeded; doc is left empty');
  const up = upperContent(pair.layerfs.stack.upper);
  t.equal(up.bytes, 0, 'upper holds no file data');
  t.same(up.other, [], 'nothing but directories and whiteouts');
  t.same(up.dirs, ['doc'], 'the directories copied up on the way were replaced by whiteouts');
  t.equal(up.whiteouts, hostEntries.length + 1 + 2, 'one whiteout per entry of doc (with doc/below), one for doc2, one for deep');
  t.same(readdirSync(join(pair.layerfs.stack.work, 'work')), [], 'nothing is left in the work area');
});
