// The layer stack of one mount: upper (index 0), lowers 1..n top-down, and the work area.
// Validates a stack the way mount -t overlay does before anything is touched.
import { join, resolve, sep } from 'node:path';
import * as host from '../host/fs';
import { redirectMode, type RedirectMode, type RedirectOption } from './redirect';

export const UPPER = 0;

export interface LayerStackOptions {
  lowers: string[];
  upper?: string | undefined;
  work?: string | undefined;
  /** The redirect_dir mount option (default: follow, as the kernel's off does). */
  redirectDir?: RedirectOption | undefined;
}

export class LayerStack {
  /** Host roots by layer index: [upper or '', lower1, ..., lowerN]. */
  readonly roots: string[];
  /** The private directory where objects are built before they are renamed into upper. */
  readonly workTmp: string | undefined;

  /** What renamed directories do with redirects (redirect.ts). */
  readonly redirectDir: RedirectMode;

  constructor(readonly lowers: string[], readonly upper: string | undefined, readonly work: string | undefined, redirectDir?: RedirectOption) {
    this.redirectDir = redirectMode(redirectDir);
    this.roots = [upper ?? '', ...lowers];
    this.workTmp = work === undefined ? undefined : join(work, 'work');
  }

  get writable(): boolean {
    return this.upper !== undefined;
  }

  get count(): number {
    return this.roots.length;
  }

  /** Host path of an overlay path (always absolute, '/' for the root) in one layer. */
  hostPath(layer: number, path: string): string {
    return path === '/' ? this.roots[layer]! : this.roots[layer]! + path;
  }

  label(layer: number): string {
    return layer === UPPER ? 'upper' : `lower:${layer}`;
  }
}

export class LayerConfigError extends Error {}

const within = (child: string, parent: string): boolean => child === parent || child.startsWith(parent + sep);

/**
 * The real path of a layer directory. A layer root may be a symlink (podman's lowerdir entries
 * are); it is resolved once here, and nothing below a root is ever followed.
 */
function layerDir(what: string, path: string): string {
  let real: string;
  try {
    real = host.realpath(resolve(path));
  } catch {
    throw new LayerConfigError(`${what} ${resolve(path)} does not exist`);
  }
  if (!host.isDir(host.mustLstat(real))) throw new LayerConfigError(`${what} ${resolve(path)} is not a directory`);
  return real;
}

/**
 * Checks a stack as the kernel would at mount time and returns it with absolute paths.
 * Throws LayerConfigError with a one-line message; touches nothing on disk.
 */
export function validateStack(opts: LayerStackOptions): LayerStack {
  if (opts.lowers.length === 0) throw new LayerConfigError('at least one lower layer is required');
  const lowers = opts.lowers.map((l) => layerDir('lower layer', l));
  const dup = lowers.find((l, i) => lowers.indexOf(l) !== i);
  if (dup !== undefined) throw new LayerConfigError(`lower layer ${dup} is given twice`);
  if ((opts.upper === undefined) !== (opts.work === undefined)) {
    throw new LayerConfigError(opts.upper === undefined ? 'workdir needs an upperdir' : 'upperdir needs a workdir');
  }
  if (opts.upper === undefined || opts.work === undefined) return new LayerStack(lowers, undefined, undefined, opts.redirectDir);
  const upper = layerDir('upperdir', opts.upper);
  const work = layerDir('workdir', opts.work);
  if (within(work, upper) || within(upper, work)) {
    throw new LayerConfigError('upperdir and workdir must not be inside one another');
  }
  for (const l of lowers) {
    if (within(l, upper) || within(upper, l)) throw new LayerConfigError(`lower layer ${l} overlaps upperdir ${upper}`);
  }
  if (host.mustLstat(upper).dev !== host.mustLstat(work).dev) {
    throw new LayerConfigError('upperdir and workdir must be on the same filesystem');
  }
  const foreign = host.readdir(work).filter((e) => e.name !== 'work' && e.name !== 'index');
  if (foreign.length > 0) {
    throw new LayerConfigError(`workdir ${work} holds foreign files (${foreign[0]!.name}); it must be empty`);
  }
  return new LayerStack(lowers, upper, work, opts.redirectDir);
}

/**
 * Prepares the work area at mount: leftovers of an interrupted copy-up are removed, so the
 * upper directory only ever sees whole objects. Returns how many leftovers were removed.
 */
export function prepareWorkdir(stack: LayerStack): number {
  if (stack.workTmp === undefined) return 0;
  const tmp = stack.workTmp;
  if (!host.exists(tmp)) {
    host.mkdir(tmp, 0o700);
    return 0;
  }
  const left = host.readdir(tmp);
  for (const e of left) host.rmTree(join(tmp, e.name));
  return left.length;
}

export function assertNotInLayers(stack: LayerStack, mountpoint: string): void {
  const mnt = resolve(mountpoint);
  for (const root of stack.roots) {
    if (root !== '' && (within(mnt, root) || within(root, mnt))) {
      throw new LayerConfigError(`mountpoint ${mnt} overlaps layer ${root}`);
    }
  }
  if (stack.work !== undefined && (within(mnt, stack.work) || within(stack.work, mnt))) {
    throw new LayerConfigError(`mountpoint ${mnt} overlaps workdir ${stack.work}`);
  }
}
