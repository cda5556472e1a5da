// Other users on a root-run mount (allow_other): a non-root caller gets exactly the access the
// Unix permissions give it, on layerfs as on the kernel overlay, and what it creates is its own.
import t from 'tap';
import { cannotMount } from '../fixtures/mounts';
import { scenario } from '../fixtures/differential';
import { dir, file, type Spec } from '../fixtures/layers';

const skip = cannotMount();
const NOBODY = 'setpriv --reuid=65534 --regid=65534 --clear-groups';

const lowers: Spec[] = [
  {
    secret: file('root only\n', { mode: 0o600 }),
    pub: file('everyone\n', { mode: 0o644 }),
    rootdir: dir({ inside: 'x\n' }, { mode: 0o755 }),
    tmp: dir({}, { mode: 0o1777 }),
    suid: file('#!/bin/sh\n', { mode: 0o6755 }),
    open: dir({}, { mode: 0o777 }),
  },
];

/** Runs each command as nobody and prints its exit status. */
const asNobody = (cmds: string[]): string =>
  'chown 65534:65534 open; ' + cmds.map((c) => `${NOBODY} sh -c '${c}' 2>/dev/null; echo "${c.replace(/'/g, '')}: $?"`).join('; ');

t.test('a non-root caller gets exactly what the permissions give it', { skip }, async (t) => {
  const { layerfs } = await scenario(t, lowers, asNobody([
    'cat secret', 'cat pub', 'echo x >> pub', 'touch rootdir/new', 'rm rootdir/inside', 'chmod 777 pub',
    'chown 65534 pub', 'touch tmp/mine', 'echo hi > open/f', 'mkdir open/d', 'ln -s pub open/l', 'mkfifo open/p',
    'rm tmp/mine', 'setfattr -n user.x -v 1 pub', 'truncate -s 0 pub', 'mv pub open/pub',
  ]) + '; stat -c "%n %U %G %a" open/f open/d tmp/mine 2>&1');
  t.match(layerfs.result.stdout, /^cat secret: 1$/m, 'a 0600 root file is unreadable');
  t.match(layerfs.result.stdout, /^touch rootdir\/new: 1$/m, 'no writing into a root 0755 directory');
  t.match(layerfs.result.stdout, /^chmod 777 pub: 1$/m, "no chmod of someone else's file");
  t.match(layerfs.result.stdout, /^open\/f nobody nogroup 644$/m, 'created files belong to the caller');
});

t.test("a sticky directory protects other users' files", { skip }, async (t) => {
  await scenario(t, [{ tmp: dir({}, { mode: 0o1777 }) }], `touch tmp/roots; chmod 666 tmp/roots; ${NOBODY} rm -f tmp/roots 2>&1; echo rc=$?; ${NOBODY} sh -c 'echo x > tmp/n && rm tmp/n'; echo rc=$?`);
});

t.test('writing to a setuid file as a non-owner clears setuid and setgid', { skip }, async (t) => {
  await scenario(t, [{ s: file('#!/bin/sh\n', { mode: 0o6777 }) }], `${NOBODY} sh -c 'echo "# more" >> s'; stat -c "%a" s`);
});
