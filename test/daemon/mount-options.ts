// Parsing of mount -t overlay style options (src/daemon/mount-options.ts).
import t, { type Test } from 'tap';
import { redirectMode } from '../../src/overlay/redirect';
import { OptionError, parseMountOptions, splitEscaped } from '../../src/daemon/mount-options';

const fails = (t: Test, opts: string[], pattern: RegExp, msg = `refuses ${opts.join(" ")}`): void => {
  t.throws(() => parseMountOptions(opts), { constructor: OptionError, message: pattern }, msg);
};

t.test('lowerdir=a:b:c gives the lowers top-down; upperdir and workdir are taken as given', async (t) => {
  const p = parseMountOptions(['lowerdir=/l1:/l2:/l3,upperdir=/u,workdir=/w']);
  t.same(p.lowers, ['/l1', '/l2', '/l3']);
  t.equal(p.upper, '/u');
  t.equal(p.work, '/w');
  t.same(p.fuse, []);
});

t.test('lowerdir=a\\:b parses the escaped colon', async (t) => {
  t.same(parseMountOptions(['lowerdir=/a\\:b:/c']).lowers, ['/a:b', '/c']);
});

t.test('an escaped comma stays inside a value', async (t) => {
  const p = parseMountOptions(['lowerdir=/a\\,b,upperdir=/u\\,1,workdir=/w']);
  t.same(p.lowers, ['/a,b']);
  t.equal(p.upper, '/u,1');
  t.equal(p.work, '/w');
});

t.test('an escaped backslash before a colon ends the layer name', async (t) => {
  t.same(parseMountOptions(['lowerdir=/a\\\\:/b']).lowers, ['/a\\', '/b']);
});

t.test('splitEscaped splits on unescaped separators and drops the escapes', async (t) => {
  t.same(splitEscaped('a:b\\:c:d', ':'), ['a', 'b:c', 'd']);
  t.same(splitEscaped('', ':'), ['']);
  t.same(splitEscaped('a\\', ':'), ['a\\'], 'a trailing backslash is kept');
  t.same(splitEscaped('::', ':'), ['', '', '']);
});

t.test('several -o strings are combined', async (t) => {
  const p = parseMountOptions(['lowerdir=/l', 'upperdir=/u,workdir=/w', 'ro']);
  t.same(p.lowers, ['/l']);
  t.equal(p.upper, '/u');
  t.same(p.fuse, ['ro']);
});

t.test('an option given twice is refused, even across -o strings', async (t) => {
  fails(t, ['lowerdir=/a,lowerdir=/b'], /option lowerdir is given twice/);
  fails(t, ['upperdir=/u', 'upperdir=/v'], /option upperdir is given twice/);
  fails(t, ['ro,ro'], /option ro is given twice/);
  fails(t, ['index=off,index=off'], /option index is given twice/);
});

t.test('generic VFS flags may repeat and are accepted without being passed to FUSE', async (t) => {
  const p = parseMountOptions(['rw,noatime,rw,nodev,nosuid,defaults,lowerdir=/l']);
  t.same(p.fuse, []);
  t.same(p.lowers, ['/l']);
});

t.test('unknown options are refused with their value in the message', async (t) => {
  fails(t, ['frobnicate'], /unknown mount option frobnicate$/);
  fails(t, ['colour=red'], /unknown mount option colour=red/);
  fails(t, ['noatime=1'], /unknown mount option noatime=1/, 'a flag given a value');
  fails(t, ['ro=1'], /unknown mount option ro=1/);
  fails(t, ['userxattr'], /unknown mount option userxattr/);
});

t.test("podman's owner mappings are refused, saying why", async (t) => {
  const base = 'lowerdir=/l,upperdir=/u,workdir=/w,,volatile';
  fails(t, [`${base},uidmapping=:0:100000:65536,gidmapping=:0:100000:65536`], /^option uidmapping is not supported: layerfs does not map file owners \(podman passes it for --uidmap/);
  fails(t, [`${base},gidmapping=0:100000:65536`], /^option gidmapping is not supported/);
});

t.test('kernel features are accepted only at the default layerfs implements', async (t) => {
  const p = parseMountOptions(['index=off,xino=off,metacopy=off,nfs_export=off,uuid=on']);
  t.same(p.fuse, [], 'the defaults are accepted and change nothing');
  fails(t, ['metacopy=on'], /metacopy=on is not supported/);
  fails(t, ['xino=auto'], /xino=auto is not supported/);
  fails(t, ['index'], /index= is not supported/, 'without a value');
});

t.test('FUSE flags and cache timeouts are passed on', async (t) => {
  const p = parseMountOptions(['ro,allow_other,default_permissions,attr_timeout=0,entry_timeout=1.5,negative_timeout=10']);
  t.same(p.fuse, ['ro', 'allow_other', 'default_permissions', 'attr_timeout=0', 'entry_timeout=1.5', 'negative_timeout=10']);
  fails(t, ['attr_timeout=soon'], /attr_timeout needs a number of seconds/);
  fails(t, ['attr_timeout'], /attr_timeout needs a number of seconds/);
  fails(t, ['entry_timeout=-1'], /entry_timeout needs a number of seconds/);
});

t.test('layer options need a value, and lowerdir no empty layer', async (t) => {
  fails(t, ['lowerdir='], /option lowerdir needs a value/);
  fails(t, ['lowerdir'], /option lowerdir needs a value/);
  fails(t, ['upperdir='], /option upperdir needs a value/);
  fails(t, ['lowerdir=/a::/b'], /lowerdir has an empty layer/);
  fails(t, ['lowerdir=/a:'], /lowerdir has an empty layer/);
});

t.test('empty options between commas and empty -o strings are skipped', async (t) => {
  const p = parseMountOptions(['', ',lowerdir=/l,,', ',']);
  t.same(p.lowers, ['/l']);
  t.same(p.fuse, []);
});

t.test('no options give no layers (the caller reports the missing lowerdir)', async (t) => {
  const p = parseMountOptions([]);
  t.same(p.lowers, []);
  t.equal(p.upper, undefined);
  t.equal(p.work, undefined);
});

t.test('redirect_dir takes the kernel values; the default is the kernel\'s (off, which follows)', async (t) => {
  for (const v of ['on', 'follow', 'nofollow', 'off']) t.equal(parseMountOptions([`lowerdir=/l,redirect_dir=${v}`]).redirectDir, v);
  t.equal(parseMountOptions(['lowerdir=/l']).redirectDir, undefined);
  t.same(parseMountOptions(['lowerdir=/l,redirect_dir=on']).fuse, [], 'nothing reaches FUSE');
  fails(t, ['lowerdir=/l,redirect_dir=yes'], /^option redirect_dir=yes is not supported \(only on, follow, nofollow, off\)/);
  fails(t, ['lowerdir=/l,redirect_dir'], /^option redirect_dir= is not supported/);
  t.equal(redirectMode(undefined), 'follow');
  t.equal(redirectMode('off'), 'follow');
  t.equal(redirectMode('nofollow'), 'nofollow');
});
