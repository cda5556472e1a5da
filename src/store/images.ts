// Images: an ordered list of layers (bottom first, the order of a Dockerfile's instructions) and
// the tags naming it. The image id is the sha256 of its canonical config (its layer list), so the
// same layers under two names are one image with two tags, as with `docker tag`.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { hexOf, listLayers, type Layer } from './layers';
import { StoreError, writeJsonAtomic, type Store } from './store';

export interface ImageRecord {
  /** "sha256:<hex>" */
  Id: string;
  Created: string;
  /** layer digests, bottom first */
  Layers: string[];
  /** the image this one was committed from, if any */
  Parent?: string;
  Comment?: string;
}

export interface Image extends ImageRecord {
  RepoTags: string[];
}

export type Repositories = Record<string, string>;

/**
 * NAME[:TAG] with the tag defaulting to latest; names as Docker allows (lower case, digits, . _ - /),
 * optionally after a registry HOST[:PORT]/ as pulled images are named (127.0.0.1:5000/app:1).
 */
export function normalizeTag(ref: string): string {
  const m = /^((?:(?:localhost|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)(?::[0-9]+)?\/|[A-Za-z0-9-]+:[0-9]+\/)?[a-z0-9]+(?:[._\-/][a-z0-9]+)*)(?::([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?$/.exec(ref);
  if (!m) throw new StoreError(`invalid image name ${ref}: use [HOST[:PORT]/]NAME[:TAG] (lower-case letters, digits, . _ - /; tag up to 128 characters)`);
  return `${m[1]}:${m[2] ?? 'latest'}`;
}

export function readRepositories(store: Store): Repositories {
  if (!existsSync(store.repositoriesFile)) return {};
  return store.readJson<Repositories>(store.repositoriesFile);
}

const imageFile = (store: Store, id: string): string => join(store.imagesDir, `${hexOf(id)}.json`);

/**
 * ROOT/images/<hex>.oci-config: the image config an image was pulled with (its bytes as the
 * registry served them), so a push sends it back unchanged: same digests, Env/Cmd/history kept.
 */
export const ociConfigFile = (store: Store, id: string): string => join(store.imagesDir, `${hexOf(id)}.oci-config`);

export function listImages(store: Store): Image[] {
  if (!existsSync(store.imagesDir)) return [];
  const repos = readRepositories(store);
  const tagsOf = (id: string): string[] => Object.keys(repos).filter((t) => repos[t] === id).sort();
  return readdirSync(store.imagesDir)
    .filter((n) => /^[0-9a-f]{64}\.json$/.test(n))
    .map((n) => store.readJson<ImageRecord>(join(store.imagesDir, n)))
    .map((r) => ({ ...r, RepoTags: tagsOf(r.Id) }))
    .sort((a, b) => b.Created.localeCompare(a.Created));
}

/** An image by NAME[:TAG], full id, "sha256:" id or unique id prefix. */
export function resolveImage(store: Store, ref: string): Image {
  const images = listImages(store);
  let tag: string | undefined;
  try {
    tag = normalizeTag(ref);
  } catch {
    tag = undefined;
  }
  if (tag !== undefined) {
    const byTag = images.find((i) => i.RepoTags.includes(tag!));
    if (byTag) return byTag;
  }
  const hex = hexOf(ref).toLowerCase();
  if (/^[0-9a-f]+$/.test(hex)) {
    const byId = images.filter((i) => hexOf(i.Id).startsWith(hex));
    if (byId.length === 1) return byId[0]!;
    if (byId.length > 1) throw new StoreError(`image id prefix ${ref} is ambiguous`);
  }
  throw new StoreError(`no such image: ${ref}`);
}

export function imageId(layers: string[]): string {
  const config = JSON.stringify({ rootfs: { type: 'layers', diff_ids: layers } });
  return `sha256:${createHash('sha256').update(config).digest('hex')}`;
}

/**
 * Creates (or re-tags) the image made of these layers, bottom first. Call under the store lock.
 * The image file is written before the tag, so a kill in between leaves an untagged image.
 */
export function createImage(store: Store, tag: string, layers: Layer[], extra: { Parent?: string; Comment?: string } = {}): { image: Image; untagged?: string } {
  const name = normalizeTag(tag);
  const ids = layers.map((l) => l.Id);
  const id = imageId(ids);
  if (!existsSync(imageFile(store, id))) {
    const rec: ImageRecord = { Id: id, Created: new Date().toISOString(), Layers: ids, ...extra };
    writeJsonAtomic(imageFile(store, id), rec);
  }
  const repos = readRepositories(store);
  const previous = repos[name];
  repos[name] = id;
  writeJsonAtomic(store.repositoriesFile, repos);
  const image = listImages(store).find((i) => i.Id === id)!;
  return { image, untagged: previous !== undefined && previous !== id ? previous : undefined };
}

export function untag(store: Store, tag: string): void {
  const repos = readRepositories(store);
  delete repos[tag];
  writeJsonAtomic(store.repositoriesFile, repos);
}

/**
 * Deletes an image (its tags first), then the layers no remaining image uses, among those it
 * used. Returns the freed layer ids. Call under the store lock, after checking containers.
 */
export function deleteImage(store: Store, image: Image): string[] {
  const repos = readRepositories(store);
  for (const t of Object.keys(repos)) if (repos[t] === image.Id) delete repos[t];
  writeJsonAtomic(store.repositoriesFile, repos);
  rmSync(imageFile(store, image.Id), { force: true });
  rmSync(ociConfigFile(store, image.Id), { force: true });
  const stillUsed = new Set(listImages(store).flatMap((i) => i.Layers));
  const stored = new Set(listLayers(store).map((l) => l.Id));
  const freed = [...new Set(image.Layers)].filter((l) => !stillUsed.has(l) && stored.has(l));
  return freed;
}

/** Layers of an image top-most first, as an overlay's lowerdir lists them. */
export const topFirst = (image: ImageRecord): string[] => [...image.Layers].reverse();
