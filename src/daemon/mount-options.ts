// Parsing of overlay mount options in the syntax of mount -t overlay (-o lowerdir=A:B,upperdir=U,
// workdir=W), as mount(8), fstab and podman write them.
import type { LayerStackOptions } from '../overlay/layers';
import { REDIRECT_OPTION_VALUES, type RedirectOption } from '../overlay/redirect';

export class OptionError extends Error {}

export interface ParsedOptions extends LayerStackOptions {
  /** Options accepted for compatibility that change nothing here (the daemon logs a warning). */
  ignored: string[];
  /** Generic FUSE/VFS flags layerfs passes on (ro, allow_other...). */
  fuse: string[];
  /** Skip fsync for speed (the kernel's volatile, fuse-overlayfs's fsync=0). */
  volatile: boolean;
}

// Kernel overlay features whose default layerfs implements; asking for the default is fine.
const KERNEL_DEFAULTS: Record<string, string> = {
  index: 'off', xino: 'off', metacopy: 'off', nfs_export: 'off', uuid: 'on',
};
// fuse-overlayfs's ownership shifting, which podman passes with --uidmap, --gidmap or --userns.
// layerfs shows files with their owners on disk: ignoring these would give the container wrong owners.
const OWNER_MAPPINGS = new Set(['uidmapping', 'gidmapping']);
// Flags mount(8) and mount.fuse add to every mount; the kernel applies them to the mount itself.
const VFS_FLAGS = new Set(['rw', 'dev', 'nodev', 'suid', 'nosuid', 'exec', 'noexec', 'atime', 'noatime', 'relatime',
  'strictatime', 'nodiratime', 'sync', 'async', 'auto', 'noauto', 'user', 'nouser', 'users', 'defaults', '_netdev', 'nofail']);
const FUSE_FLAGS = new Set(['ro', 'allow_other', 'allow_root', 'default_permissions']);
// Kernel cache lifetimes in seconds (docs/design.md: hard links and attr_timeout).
const FUSE_TIMEOUTS = new Set(['attr_timeout', 'entry_timeout', 'negative_timeout']);

/** Splits on an unescaped separator; `\` escapes the next character, as in overlay options. */
export function splitEscaped(s: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\' && i + 1 < s.length) cur += s[++i];
    else if (c === sep) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

const unescape = (s: string): string => s.replace(/\\(.)/g, '$1');

/** Parses one or more -o strings. Throws OptionError with a one-line message. */
export function parseMountOptions(optionStrings: string[]): ParsedOptions {
  const seen = new Set<string>();
  const parsed: ParsedOptions = { lowers: [], ignored: [], fuse: [], volatile: false };
  for (const raw of optionStrings.flatMap((o) => splitRaw(o))) {
    if (raw === '') continue;
    const eq = raw.indexOf('=');
    const key = eq < 0 ? raw : raw.slice(0, eq);
    const value = eq < 0 ? undefined : raw.slice(eq + 1);
    if (seen.has(key) && !VFS_FLAGS.has(key)) throw new OptionError(`option ${key} is given twice`);
    seen.add(key);
    applyOption(parsed, key, value);
  }
  return parsed;
}

/** Splits an option string on commas that are not escaped, keeping the escapes for the values. */
function splitRaw(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\' && i + 1 < s.length) cur += c + s[++i];
    else if (c === ',') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

function need(key: string, value: string | undefined): string {
  if (value === undefined || value === '') throw new OptionError(`option ${key} needs a value`);
  return value;
}

function applyOption(parsed: ParsedOptions, key: string, value: string | undefined): void {
  switch (key) {
    case 'lowerdir':
      parsed.lowers = splitEscaped(need(key, value), ':');
      if (parsed.lowers.some((l) => l === '')) throw new OptionError('lowerdir has an empty layer');
      return;
    case 'upperdir':
      parsed.upper = unescape(need(key, value));
      return;
    case 'workdir':
      parsed.work = unescape(need(key, value));
      return;
  }
  if (key === 'redirect_dir') {
    if (!(REDIRECT_OPTION_VALUES as readonly string[]).includes(value ?? '')) {
      throw new OptionError(`option redirect_dir=${value ?? ''} is not supported (only ${REDIRECT_OPTION_VALUES.join(', ')})`);
    }
    parsed.redirectDir = value as RedirectOption;
    return;
  }
  if ((key === 'volatile' && value === undefined) || (key === 'fsync' && value === '0')) {
    parsed.volatile = true;
    return;
  }
  if (key in KERNEL_DEFAULTS) {
    if (value !== KERNEL_DEFAULTS[key]) throw new OptionError(`option ${key}=${value ?? ''} is not supported (only ${key}=${KERNEL_DEFAULTS[key]})`);
    return;
  }
  // SELinux labels: there is no policy to apply to a FUSE mount here; podman passes one anyway.
  if (key === 'context') {
    parsed.ignored.push(key);
    return;
  }
  if (OWNER_MAPPINGS.has(key)) {
    throw new OptionError(`option ${key} is not supported: layerfs does not map file owners (podman passes it for --uidmap, --gidmap or --userns)`);
  }
  if (VFS_FLAGS.has(key) && value === undefined) return;
  if (FUSE_TIMEOUTS.has(key)) {
    if (value === undefined || !/^\d+(\.\d+)?$/.test(value)) throw new OptionError(`option ${key} needs a number of seconds`);
    parsed.fuse.push(`${key}=${value}`);
    return;
  }
  if (FUSE_FLAGS.has(key) && value === undefined) {
    parsed.fuse.push(key);
    return;
  }
  throw new OptionError(`unknown mount option ${value === undefined ? key : `${key}=${value}`}`);
}
