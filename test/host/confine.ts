// The host layer's path calls under a confined root: each works on the root itself, on a direct
// child and deeper; a symlink in any component below the root fails with ELOOP and touches
// nothing outside; paths under no root are used as given.
import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import * as host from '../../src/host/fs';

const O = host.O;
const root = mkdtempSync(join(tmpdir(), 'layerfs-confine-'));
const outside = mkdtempSync(join(tmpdir(), 'layerfs-outside-'));
t.teardown(() => {
  host.confine([]);
  rmSync(root, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});
mkdirSync(join(root, 'a', 'b'), { recursive: true });
writeFileSync(join(outside, 'secret'), 'secret\n');
symlinkSync(outside, join(root, 'link'));
symlinkSync(outside, join(root, 'a', 'link'));
host.confine([root]);

const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (err) {
    return (err as { code?: string }).code;
  }
};

for (const dir of [root, join(root, 'a'), join(root, 'a', 'b')]) {
  t.test(`every call works in ${dir.slice(root.length) || 'the root'}`, async (t) => {
    const f = join(dir, 'f');
    const fd = host.open(f, O.O_RDWR | O.O_CREAT | O.O_EXCL, 0o644);
    host.write(fd, Buffer.from('data'), 4, 0);
    host.close(fd);
    t.equal(readFileSync(f, 'utf8'), 'data');
    t.equal(host.lstat(f)?.size, 4);
    host.chmod(f, 0o600);
    t.equal(host.mustLstat(f).mode & 0o7777, 0o600);
    host.lchown(f, 0, 0);
    host.utimens(f, 1, 5, 2, 7);
    t.equal(host.mustLstat(f).mtimeNsec, 7);
    host.setxattr(f, 'user.k', Buffer.from('v'));
    t.same(host.getxattr(f, 'user.k'), Buffer.from('v'));
    t.ok(host.listxattr(f).includes('user.k'));
    host.removexattr(f, 'user.k');
    t.equal(host.getxattr(f, 'user.k'), undefined);
    host.setxattr(dir, 'user.d', Buffer.from('1'));
    t.same(host.getxattr(dir, 'user.d'), Buffer.from('1'), 'xattrs of the directory itself');
    host.symlink('target', join(dir, 's'));
    t.equal(host.readlink(join(dir, 's')), 'target');
    t.match(code(() => host.chmod(join(dir, 's'), 0o777)), /^(EOPNOTSUPP|ENOTSUP)$/, 'chmod never follows a symlink');
    host.link(f, join(dir, 'h'));
    host.rename(join(dir, 'h'), join(dir, 'h2'));
    host.mkdir(join(dir, 'd'), 0o755);
    host.mknod(join(dir, 'p'), host.S_IFIFO | 0o644, 0);
    const names = host.readdir(dir).filter((e) => ['f', 's', 'h2', 'd', 'p'].includes(e.name));
    // d_type: DT_DIR 4, DT_REG 8, DT_FIFO 1, DT_LNK 10
    t.same(names.map((e) => [e.name, e.type]).sort(), [['d', 4], ['f', 8], ['h2', 8], ['p', 1], ['s', 10]]);
    host.rmdir(join(dir, 'd'));
    for (const n of ['f', 's', 'h2', 'p']) host.unlink(join(dir, n));
    t.notOk(existsSync(f));
  });
}

t.test('a symlink in any component below the root is never followed', async (t) => {
  for (const base of [join(root, 'link'), join(root, 'a', 'link')]) {
    const inside = join(base, 'secret');
    t.equal(host.lstat(base) !== undefined && host.isSymlink(host.mustLstat(base)), true, 'the link itself is seen');
    t.equal(code(() => host.lstat(inside)), 'ELOOP');
    t.equal(code(() => host.open(inside, O.O_RDONLY)), 'ELOOP');
    t.equal(code(() => host.open(join(base, 'new'), O.O_WRONLY | O.O_CREAT, 0o644)), 'ELOOP');
    t.equal(code(() => host.unlink(inside)), 'ELOOP');
    t.equal(code(() => host.chmod(inside, 0o777)), 'ELOOP');
    t.equal(code(() => host.setxattr(inside, 'user.x', Buffer.from('1'))), 'ELOOP');
    t.match(code(() => host.readdir(base)), /^(ELOOP|ENOTDIR)$/, 'the link is not listed as a directory');
    t.equal(code(() => host.rename(inside, join(root, 'stolen'))), 'ELOOP');
    t.equal(code(() => host.mkdir(join(base, 'dir'), 0o755)), 'ELOOP');
  }
  host.rmTree(join(root, 'link'));
  t.notOk(existsSync(join(root, 'link')), 'rm -rf removes the link');
  t.equal(readFileSync(join(outside, 'secret'), 'utf8'), 'secret\n', 'and not what it points to');
  t.same(host.readdir(outside).map((e) => e.name), ['secret'], 'nothing was created outside');
});

t.test('rmTree removes a tree by descriptor and a missing path is no error', async (t) => {
  mkdirSync(join(root, 't', 'u', 'v'), { recursive: true });
  writeFileSync(join(root, 't', 'u', 'v', 'w'), 'x');
  symlinkSync(outside, join(root, 't', 'u', 'out'));
  host.rmTree(join(root, 't'));
  t.notOk(existsSync(join(root, 't')));
  t.ok(existsSync(join(outside, 'secret')));
  t.doesNotThrow(() => host.rmTree(join(root, 'never')));
});

t.test('paths under no root are used as given', async (t) => {
  t.equal(host.lstat(join(outside, 'secret'))?.size, 7);
  t.equal(host.readdir(outside).length, 1);
});

t.test('paths below a root reach past PATH_MAX: the root never counts, deeper ones resolve in steps', async (t) => {
  // Issue 13: a path of up to 4,095 bytes in the mount failed once the layer's own path was added.
  const seg = 'n'.repeat(200);
  let dir = join(root, 'deep');
  host.mkdir(dir, 0o755);
  for (let i = 0; i < 30; i++) {
    dir = join(dir, seg);
    host.mkdir(dir, 0o755);
  }
  t.ok(dir.length - root.length > 6000, 'over PATH_MAX below the root');
  const f = join(dir, 'f');
  host.close(host.open(f, O.O_WRONLY | O.O_CREAT | O.O_EXCL, 0o644));
  host.chmod(f, 0o600);
  t.equal(host.mustLstat(f).mode & 0o7777, 0o600);
  host.setxattr(f, 'user.k', Buffer.from('v'));
  t.same(host.getxattr(f, 'user.k'), Buffer.from('v'));
  host.rename(f, join(dir, 'g'));
  t.same(host.readdir(dir).map((e) => e.name), ['g']);
  symlinkSync(outside, join(root, 'deep', seg, 'link'));
  const beyond = join(root, 'deep', seg, 'link', ...Array<string>(25).fill(seg), 'secret');
  t.equal(code(() => host.lstat(beyond)), 'ELOOP', 'a symlink in the first step is refused');
  const far = join(dir, 'link');
  host.symlink(outside, far);
  t.equal(code(() => host.open(join(far, 'secret'), O.O_RDONLY)), 'ELOOP', 'and in the last one');
  host.rmTree(join(root, 'deep'));
  t.notOk(existsSync(join(root, 'deep')));
  t.ok(existsSync(join(outside, 'secret')));
});
