// Directory redirects (≈ the redirect parts of fs/overlayfs/namei.c and dir.c): a directory with
// lower content that was renamed records in `trusted.overlay.redirect` where its lower copies
// are, as the kernel writes it: the old name when it stayed in the same parent, else the
// absolute path of its old place from the root of the overlay.
import * as host from '../host/fs';
import { FsError } from '../host/errors';

export const REDIRECT_XATTR = 'trusted.overlay.redirect';

/**
 * The `redirect_dir` mount option: `on` creates and follows redirects, `follow` only follows
 * them, `nofollow` neither (a redirected directory that would merge fails with EPERM). The
 * kernel's `off` means `follow` when its redirect_always_follow is set, the Kconfig default.
 */
export type RedirectMode = 'on' | 'follow' | 'nofollow';
export const REDIRECT_OPTION_VALUES = ['on', 'follow', 'nofollow', 'off'] as const;
export type RedirectOption = (typeof REDIRECT_OPTION_VALUES)[number];
export const redirectMode = (option: RedirectOption | undefined): RedirectMode =>
  option === undefined || option === 'off' ? 'follow' : option;

/** The kernel's redirect_max: the longest absolute redirect it writes (longer moves get EXDEV). */
export const REDIRECT_MAX = 256;

/**
 * The redirect a directory carries, checked as the kernel checks it: undefined when it has
 * none; EINVAL for an empty value, a relative one with a '/', or an absolute one with an empty
 * component (the kernel refuses to look such a directory up).
 */
export function readRedirect(dirHostPath: string): string | undefined {
  const raw = host.getxattr(dirHostPath, REDIRECT_XATTR);
  if (raw === undefined) return undefined;
  const value = raw.toString();
  const valid = value.startsWith('/') ? value.length > 1 && !value.slice(1).split('/').includes('') : value !== '' && !value.includes('/');
  if (!valid) throw new FsError('EINVAL', dirHostPath, `invalid redirect ${JSON.stringify(value)}`);
  return value;
}

export function writeRedirect(dirHostPath: string, redirect: string): void {
  host.setxattr(dirHostPath, REDIRECT_XATTR, Buffer.from(redirect));
}

/**
 * Where a name is looked up in the lower layers (the kernel's ovl_lookup_data name): a name in
 * the parent's lower copies, or an absolute path from the lower roots once a redirect says so.
 */
export interface LowerName {
  name: string;
  /** A whiteout, a non-directory or an opaque directory ended the merge. */
  stop: boolean;
  /** A redirect was applied on the way. */
  redirected: boolean;
}

/**
 * Applies a redirect found on the directory at component `prelen` of an absolute walk (or on
 * the looked-up directory itself, prelen 0): a relative one replaces that component, an
 * absolute one the whole path and resumes a merge an opaque ancestor had stopped.
 */
export function applyRedirect(want: LowerName, redirect: string, prelen: number, post: string): void {
  want.redirected = true;
  if (redirect.startsWith('/')) {
    want.name = redirect + post;
    want.stop = false;
  } else {
    want.name = want.name.slice(0, prelen) + redirect + post;
  }
}
