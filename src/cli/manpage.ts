// The man page, layerfs(1), made from spec.ts like --help and the completion. docs/layerfs.1 is
// its output (`node dist/cli/manpage.js > docs/layerfs.1`); a test keeps the two equal.
import { COMMANDS, type CommandSpec } from './spec';
import { optionLabel, optionNotes, usageOf } from './help';

/** roff-safe text: a leading dot or quote would be a request; backslashes and dashes are escaped. */
const roff = (s: string): string => s.replace(/\\/g, '\\e').replace(/-/g, '\\-').replace(/^(['.])/gm, '\\&$1');

function section(path: CommandSpec[]): string[] {
  const spec = path[path.length - 1]!;
  if (spec.sub !== undefined) return spec.sub.filter((c) => !c.hidden).flatMap((c) => section([...path, c]));
  const lines = ['.TP', `.B ${roff(usageOf(path).replace(/^layerfs /, ''))}`, roff(spec.describe)];
  if ((spec.aliases ?? []).length > 0) lines.push(`(also: ${roff(spec.aliases!.join(', '))})`);
  for (const [name, o] of Object.entries(spec.options ?? {}).filter(([, o]) => !o.hidden)) {
    lines.push('.RS', '.TP', `.B ${roff(optionLabel(name, o))}`, roff(o.describe + optionNotes(o)), '.RE');
  }
  return lines;
}

export function manPage(version: string): string {
  const examples = COMMANDS.flatMap((c) => c.examples ?? []);
  return [
    `.TH LAYERFS 1 "" "layerfs ${version}" "User Commands"`,
    '.SH NAME',
    'layerfs \\- overlay filesystem daemon and Docker\\-like layer store, in user space (FUSE)',
    '.SH SYNOPSIS',
    '.B layerfs',
    '.I COMMAND',
    '[\\fIOPTIONS\\fR] [\\fIARGUMENTS\\fR]',
    '.br',
    '.B layerfs \\-o',
    '.I OPTIONS MOUNTPOINT',
    '.br',
    '.B layerfs',
    '.I SOURCE MOUNTPOINT',
    '.B \\-o',
    '.I OPTIONS',
    '.SH DESCRIPTION',
    'layerfs mounts a directory whose reads fall through a stack of read\\-only lower layers and whose writes are copied up into an upper directory, like Linux kernel overlayfs (mount \\-t overlay), and keeps layers, images and containers in a store like Docker.',
    'The two forms without a command are those of mount(8) through mount.fuse3 (\\fBmount \\-t fuse.layerfs\\fR, fstab) and of podman\'s mount_program.',
    '.SH COMMANDS',
    ...COMMANDS.filter((c) => !c.hidden).flatMap((c) => section([c])),
    '.SH EXIT STATUS',
    '.TP', '.B 0', 'done',
    '.TP', '.B 1', 'refused or failed: one line on standard error says why, and nothing was changed',
    '.TP', '.B 2', 'wrong usage (unknown command or option, missing or extra argument, bad value): nothing was done',
    '.SH FILES',
    '.TP', '.I /run/layerfs/mounts', 'the state (pid, layers) and log of each mount, for root; $XDG_RUNTIME_DIR/layerfs for other users, or $LAYERFS_RUN_DIR',
    '.TP', '.I /var/lib/layerfs', 'the store of layers, images and containers ($LAYERFS_STORE or \\-\\-store)',
    '.SH EXAMPLES',
    ...examples.flatMap(([cmd, what]) => ['.TP', `.B ${roff(cmd)}`, roff(what)]),
    '.SH SEE ALSO',
    'mount(8), fusermount3(1), podman(1)',
    '',
  ].join('\n');
}

if (require.main === module) process.stdout.write(manPage((require('../../package.json') as { version: string }).version));
