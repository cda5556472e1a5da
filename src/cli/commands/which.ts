// layerfs which: where a path of a mounted view comes from — the container layer (and whether it
// was copied up), which lower layer, or a volume — and what it hides: the instructor's "why do I
// see this version of the file". Reads the layers directly; the mount itself is not touched.
import { resolve } from 'node:path';
import { LayerStack, UPPER } from '../../overlay/layers';
import { Namei } from '../../overlay/namei';
import { Volumes } from '../../overlay/volumes';
import { isDir } from '../../host/fs';
import { FSTYPE, listMounts } from '../../daemon/mounts';
import { readState } from '../../daemon/runtime';
import { CommandError, type CliDeps } from '../deps';
import type { Args } from '../spec';

export interface Origin {
  path: string;
  /** 'upper', 'lower:N', 'volume' or 'none'. */
  layer: string;
  hostPath?: string;
  /** In upper while a lower layer holds the name too: copied up, or replaced. */
  copiedUp?: boolean;
  /** Deleted in the view by a whiteout. */
  whitedOut?: boolean;
  /** Lower copies below the one shown, top-down: hidden by it, or merged into it (directories). */
  hides: { layer: string; hostPath: string; merged: boolean }[];
}

/** Explains one path of a mounted layerfs view. */
export function explain(mnt: string, rel: string): Origin {
  const state = readState(mnt);
  if (state === undefined) throw new Error(`no state for the mount at ${mnt}`);
  const volume = new Volumes(state.volumes ?? []).match(rel);
  if (volume !== undefined) return { path: rel, layer: 'volume', hostPath: volume.hostPath, hides: [] };
  const stack = new LayerStack(state.lowers, state.upper, state.work);
  const namei = new Namei(stack, state.format);
  const entry = namei.lookup(rel);
  const hides: Origin['hides'] = [];
  if (rel !== '/') {
    const merged = entry !== undefined && isDir(entry.stat) ? namei.dir(rel).lowers : [];
    for (const layer of namei.lowerCopies(rel)) {
      if (layer === entry?.layer) continue;
      hides.push({ layer: stack.label(layer), hostPath: stack.hostPath(layer, rel), merged: merged.includes(layer) });
    }
  }
  const whitedOut = entry === undefined && hides.length > 0;
  if (entry === undefined) return { path: rel, layer: 'none', whitedOut, hides };
  return {
    path: rel, layer: stack.label(entry.layer), hostPath: entry.hostPath,
    copiedUp: entry.layer === UPPER && entry.lowerBelow, hides,
  };
}

/** A store layer (layers/<sha256>/diff) is named by its digest, as docker inspect would. */
function layerName(layer: string, hostPath: string | undefined): string {
  const digest = /\/layers\/([0-9a-f]{64})\/diff(\/|$)/.exec(hostPath ?? '')?.[1];
  return digest === undefined ? `${layer} ${hostPath}` : `${layer} (image layer sha256:${digest.slice(0, 12)}) ${hostPath}`;
}

function describe(o: Origin): string[] {
  const lines: string[] = [];
  if (o.layer === 'volume') lines.push(`${o.path}: volume ${o.hostPath} (outside the layers; survives the container)`);
  else if (o.layer === 'none') lines.push(o.whitedOut ? `${o.path}: deleted (a whiteout in the upper layer hides it)` : `${o.path}: no such file in the view`);
  else if (o.layer === 'upper') lines.push(`${o.path}: upper (container) layer ${o.hostPath}${o.copiedUp ? ', copied up or replaced' : ', created in the container'}`);
  else lines.push(`${o.path}: ${layerName(o.layer, o.hostPath)}`);
  for (const h of o.hides) lines.push(`  ${h.merged ? 'merged with' : 'hides'} ${layerName(h.layer, h.hostPath)}`);
  return lines;
}

export function run(a: Args, deps: CliDeps): number {
  const abs = resolve(a.path as string);
  const mnt = listMounts()
    .filter((m) => m.fstype === FSTYPE && (abs === m.mountpoint || abs.startsWith(m.mountpoint + '/')))
    .sort((x, y) => y.mountpoint.length - x.mountpoint.length)[0]?.mountpoint;
  if (mnt === undefined) throw new CommandError(`${abs} is not inside a layerfs mount`);
  const origin = explain(mnt, abs === mnt ? '/' : abs.slice(mnt.length));
  if (a.json === true) deps.out(JSON.stringify(origin));
  else describe(origin).forEach((l) => deps.out(l));
  return origin.layer === 'none' ? 1 : 0;
}
