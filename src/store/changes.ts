// `layerfs diff`: what a container changed, read from its upper directory against the image's
// merged view, as `docker diff` prints it (A added, C changed, D deleted).
//
// Rules (docs/instructor-walkthrough.md, "diff"):
// - an object in upper that the image does not show: A; one the image shows: C — except a
//   directory whose mode, owner and mtime are unchanged (copied up only to hold a change below);
// - a whiteout (0/0 device, or .wh.NAME): D for the name;
// - an opaque directory (its image contents hidden: rm -r then mkdir): C for the directory when
//   the image shows it, and D for each child the image shows there that upper does not hold again
//   (directories below it hide the image's contents too, so the same applies to them).
//   (Docker's overlay2 reports such a directory as D, then its new children; layerfs reports what
//   a process inside the container sees change.)
// - every directory above a change is reported (C when it is not itself A), except /; docker
//   does this for the parent of an A or D, and for a directory whose mtime changed.
import { lstatSync, readdirSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import * as host from '../host/fs';

export type Kind = 'A' | 'C' | 'D';
export interface Change {
  Kind: Kind;
  Path: string;
}

const OPAQUE_XATTRS = ['trusted.overlay.opaque', 'user.overlay.opaque', 'user.fuseoverlayfs.opaque'];
const isWhiteoutStat = (st: Stats): boolean => st.isCharacterDevice() && st.rdev === 0;
const opaque = (p: string): boolean =>
  OPAQUE_XATTRS.some((x) => host.getxattr(p, x)?.toString() === 'y') || host.exists(join(p, '.wh..wh..opq'));

function lst(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}

/** The merged view of read-only layers (top-most first), kernel or OCI whiteouts. */
export class ImageView {
  constructor(private readonly layers: string[]) {}

  /** The layers that contribute to the directory at rel ('' for /), top-most first; undefined when it is not a directory there. */
  private dirLayers(rel: string): string[] | undefined {
    let candidates = this.layers;
    const parts = rel === '' ? [] : rel.split('/');
    for (let i = 0; i < parts.length; i++) {
      const p = parts.slice(0, i + 1).join('/');
      const name = parts[i]!;
      const next: string[] = [];
      let top: Stats | undefined;
      for (const L of candidates) {
        const dir = join(L, ...parts.slice(0, i));
        if (lst(join(dir, `.wh.${name}`))) break;
        const st = lst(join(L, p));
        if (st === undefined) {
          if (lst(join(dir, '.wh..wh..opq')) || (i > 0 && opaque(dir))) break;
          continue;
        }
        if (isWhiteoutStat(st)) break;
        top ??= st;
        if (!st.isDirectory()) break;
        if (!top.isDirectory()) break;
        next.push(L);
        if (opaque(join(L, p))) break;
      }
      if (top === undefined || !top.isDirectory()) return undefined;
      candidates = next;
    }
    return candidates;
  }

  /** The object the image shows at rel, or undefined. */
  stat(rel: string): Stats | undefined {
    const i = rel.lastIndexOf('/');
    const parent = i < 0 ? '' : rel.slice(0, i);
    const name = rel.slice(i + 1);
    const layers = this.dirLayers(parent);
    if (layers === undefined) return undefined;
    for (const L of layers) {
      if (lst(join(L, parent, `.wh.${name}`))) return undefined;
      const st = lst(join(L, parent, name));
      if (st !== undefined) return isWhiteoutStat(st) ? undefined : st;
    }
    return undefined;
  }

  /** The names the image shows in the directory rel. */
  list(rel: string): string[] {
    const layers = this.dirLayers(rel);
    if (layers === undefined) return [];
    const decided = new Map<string, boolean>();
    for (const L of layers) {
      let names: string[];
      try {
        names = readdirSync(join(L, rel));
      } catch {
        continue;
      }
      for (const n of names) {
        if (n === '.wh..wh..opq') continue;
        if (n.startsWith('.wh.')) {
          if (!decided.has(n.slice(4))) decided.set(n.slice(4), false);
          continue;
        }
        if (decided.has(n)) continue;
        const st = lst(join(L, rel, n));
        decided.set(n, st !== undefined && !isWhiteoutStat(st));
      }
    }
    return [...decided].filter(([, v]) => v).map(([n]) => n);
  }
}

/** The changes of an upper directory over the image layers (top-most first), sorted by path. */
export function changes(upper: string, layers: string[]): Change[] {
  const image = new ImageView(layers);
  const out = new Map<string, Kind>();
  const add = (rel: string, kind: Kind): void => {
    out.set('/' + rel, kind);
  };
  const walk = (rel: string, hidden: boolean): void => {
    const dir = join(upper, rel);
    const names = readdirSync(dir).sort();
    const here = new Set(names);
    for (const name of names) {
      if (name === '.wh..wh..opq') continue;
      const r = rel === '' ? name : `${rel}/${name}`;
      const st = lstatSync(join(upper, r));
      if (name.startsWith('.wh.')) {
        const gone = rel === '' ? name.slice(4) : `${rel}/${name.slice(4)}`;
        if (!here.has(name.slice(4)) && image.stat(gone)) add(gone, 'D');
        continue;
      }
      if (isWhiteoutStat(st)) {
        if (image.stat(r)) add(r, 'D');
        continue;
      }
      const below = image.stat(r);
      if (!st.isDirectory()) {
        add(r, below ? 'C' : 'A');
        continue;
      }
      // below an opaque directory nothing of the image shows through: every directory acts opaque
      const isOpaque = hidden || opaque(join(upper, r));
      if (!below) add(r, 'A');
      else if (!below.isDirectory() || isOpaque || below.mode !== st.mode || below.uid !== st.uid || below.gid !== st.gid || below.mtimeMs !== st.mtimeMs) add(r, 'C');
      if (isOpaque && below?.isDirectory()) {
        const kept = new Set(readdirSync(join(upper, r)));
        for (const child of image.list(r)) if (!kept.has(child)) add(`${r}/${child}`, 'D');
      }
      walk(r, isOpaque);
    }
  };
  walk('', false);
  // the directories holding a change are changed too
  for (const p of [...out.keys()]) {
    for (let i = p.lastIndexOf('/'); i > 0; i = p.lastIndexOf('/', i - 1)) if (!out.has(p.slice(0, i))) out.set(p.slice(0, i), 'C');
  }
  return [...out].map(([Path, Kind]) => ({ Kind, Path })).sort((a, b) => (a.Path < b.Path ? -1 : a.Path > b.Path ? 1 : 0));
}
