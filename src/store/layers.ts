// Layers: immutable directory trees addressed by the sha256 of their canonical tar stream
// (Docker's diffID). Stored once per digest, in the kernel's whiteout format, published by one
// rename of a finished staging directory: a killed import never leaves a listed half layer.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { Writable } from 'node:stream';
import { digestOfTree, extractTarball, toKernel, toOci, writeTree } from './archive';
import { StoreError, writeJsonAtomic, type Store } from './store';
import { treeSize } from './sizes';

const run = promisify(execFile);

export interface Layer {
  /** "sha256:<hex>" */
  Id: string;
  Size: number;
  Created: string;
  /** what it was made from: "dir:PATH", "tar:PATH" or "commit:CONTAINER" */
  Source: string;
}

export const hexOf = (id: string): string => id.replace(/^sha256:/, '');

export const layerDir = (store: Store, id: string): string => join(store.layersDir, hexOf(id));
/** The directory an overlay mounts as this layer. */
export const layerDiff = (store: Store, id: string): string => join(layerDir(store, id), 'diff');

export function listLayers(store: Store): Layer[] {
  if (!existsSync(store.layersDir)) return [];
  return readdirSync(store.layersDir)
    .filter((h) => /^[0-9a-f]{64}$/.test(h) && existsSync(join(store.layersDir, h, 'layer.json')))
    .map((h) => store.readJson<Layer>(join(store.layersDir, h, 'layer.json')));
}

/** A layer by full digest, "sha256:" digest or unique hex prefix; a one-line StoreError otherwise. */
export function resolveLayer(store: Store, ref: string): Layer {
  const want = hexOf(ref).toLowerCase();
  if (!/^[0-9a-f]+$/.test(want)) throw new StoreError(`${ref} is not a layer digest (sha256:HEX or a hex prefix)`);
  const all = listLayers(store).filter((l) => hexOf(l.Id).startsWith(want));
  if (all.length === 0) throw new StoreError(`no such layer: ${ref}`);
  if (all.length > 1) throw new StoreError(`layer prefix ${ref} is ambiguous (${all.map((l) => hexOf(l.Id).slice(0, 12)).join(', ')})`);
  return all[0]!;
}

export interface Progress {
  phase(text: string): void;
  bytes(n: number): void;
}
const silent: Progress = { phase: () => undefined, bytes: () => undefined };

export interface ImportResult {
  layer: Layer;
  existed: boolean;
}

/**
 * Publishes a finished staging directory (holding diff/ in kernel format) as layer `hex`, under
 * the store lock; if the digest is already stored the staging copy is dropped.
 */
async function publish(store: Store, staging: string, hex: string, source: string): Promise<ImportResult> {
  return store.withLock(`layer import ${source}`, () => {
    const dest = join(store.layersDir, hex);
    if (existsSync(join(dest, 'layer.json'))) {
      store.discard(staging);
      return { layer: store.readJson<Layer>(join(dest, 'layer.json')), existed: true };
    }
    store.discard(dest); // a directory without layer.json is never listed: leftover, replace it
    const layer: Layer = { Id: `sha256:${hex}`, Size: treeSize(join(staging, 'diff')), Created: new Date().toISOString(), Source: source };
    writeJsonAtomic(join(staging, 'layer.json'), layer);
    mkdirSync(store.layersDir, { recursive: true });
    renameSync(staging, dest);
    return { layer, existed: false };
  });
}

/** Copies a tree into a new staging diff/ with everything (owners, modes, ns times, xattrs, hard links, devices). */
async function copyTree(from: string, staging: string): Promise<string> {
  const diff = join(staging, 'diff');
  try {
    await run('cp', ['-a', '--no-target-directory', from, diff]);
  } catch (err) {
    const msg = ((err as { stderr?: string }).stderr ?? (err as Error).message).trim().split('\n')[0];
    throw new StoreError(`cannot copy ${from}: ${msg}`);
  }
  return diff;
}

/** Imports a copy of a directory (kernel or OCI whiteouts) as a layer. */
export async function importDir(store: Store, dir: string, source: string, progress: Progress = silent): Promise<ImportResult> {
  const staging = store.stagingDir();
  try {
    progress.phase('copying');
    const diff = await copyTree(dir, staging);
    progress.phase('hashing');
    toOci(diff);
    const hex = await digestOfTree(diff, (n) => progress.bytes(n));
    toKernel(diff);
    return await publish(store, staging, hex, source);
  } catch (err) {
    store.discard(staging);
    throw err;
  }
}

/** Imports a layer from a directory or a plain/gzip tarball. */
export async function importLayer(store: Store, src: string, progress: Progress = silent): Promise<ImportResult> {
  const path = resolve(src);
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new StoreError(`${src} does not exist`);
  }
  if (st.isDirectory()) return importDir(store, path, `dir:${path}`, progress);
  if (!st.isFile()) throw new StoreError(`${src} is neither a directory nor a tarball`);
  const staging = store.stagingDir();
  try {
    const diff = join(staging, 'diff');
    mkdirSync(diff);
    progress.phase('extracting');
    const hex = await extractTarball(path, diff, (n) => progress.bytes(n));
    toKernel(diff);
    return await publish(store, staging, hex, `tar:${path}`);
  } catch (err) {
    store.discard(staging);
    throw err;
  }
}

/** Writes a layer as its canonical tar (OCI whiteouts): importing it again gives the same digest. */
export async function exportLayer(store: Store, layer: Layer, to: Writable): Promise<void> {
  const staging = store.stagingDir();
  try {
    // hard links, not a copy: only new marker files and directory inodes are created
    await run('cp', ['-al', '--no-target-directory', layerDiff(store, layer.Id), join(staging, 'diff')]);
    toOci(join(staging, 'diff'));
    await writeTree(join(staging, 'diff'), to);
  } finally {
    store.discard(staging);
  }
}

/** Removes layers (under the caller's lock). */
export function removeLayers(store: Store, ids: string[]): void {
  for (const id of ids) store.discard(layerDir(store, id));
}
