// OCI image layouts (a directory with oci-layout, index.json and blobs/sha256/…) and oci-archive
// tarballs (the same layout in a tar: umoci, skopeo, `podman save --format oci-archive`).
//
// Import: the manifest and config are read and checked against their digests, every layer blob
// against its digest and size, and the sha256 of its uncompressed tar stream against the config's
// rootfs.diff_ids (gzip blobs are decompressed: their digest is not the diffID). Only when all
// match are the layers stored (as `layer import` of the blob: the store's layer id is the diffID,
// `.wh.` markers become kernel whiteouts) and the image created, tagged from the index annotation
// org.opencontainers.image.ref.name or --tag.
//
// Export: each layer as its canonical tar (OCI whiteouts), optionally gzip-compressed, a config
// (architecture, os, rootfs.diff_ids of the written tars, history), a manifest and an index entry
// named by org.opencontainers.image.ref.name; into a layout directory (added to an existing one)
// or an oci-archive tarball (written aside, then renamed).
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, copyFileSync, createReadStream, linkSync, createWriteStream, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { extractTarball, sniff } from './archive';
import { createImage, normalizeTag, ociConfigFile, type Image } from './images';
import { exportLayer, hexOf, importLayer, layerDir, listLayers, resolveLayer, type Layer, type Progress } from './layers';
import { StoreError, writeJsonAtomic, type Store } from './store';

export const MT = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;
export const REF_NAME = 'org.opencontainers.image.ref.name';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { architecture?: string; os?: string; variant?: string };
}
export interface OciIndex {
  schemaVersion: number;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}
export interface OciManifest {
  schemaVersion: number;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}
export interface OciConfig {
  created?: string;
  architecture: string;
  os: string;
  config?: Record<string, unknown>;
  rootfs: { type: string; diff_ids: string[] };
  history?: { created?: string; created_by?: string; comment?: string; empty_layer?: boolean }[];
}

const silent: Progress = { phase: () => undefined, bytes: () => undefined };

/** GOARCH of this machine, as OCI configs name architectures. */
export function ociArch(arch: string = process.arch): string {
  const map: Record<string, string> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', loong64: 'loong64', mips: 'mips', mipsel: 'mipsle' };
  return map[arch] ?? arch;
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** The file of a blob in a layout; only sha256 digests are read. */
function blobPath(layout: string, d: Descriptor, what: string): string {
  if (typeof d?.digest !== 'string') throw new StoreError(`${what}: the descriptor has no digest`);
  if (!DIGEST.test(d.digest)) {
    const algo = d.digest.split(':')[0];
    throw new StoreError(`${what}: digest ${d.digest} is not a sha256 digest (${algo === d.digest ? 'malformed' : `${algo} is not supported`})`);
  }
  return join(layout, 'blobs', 'sha256', hexOf(d.digest));
}

/** A JSON blob, checked against its descriptor's digest and size. */
function readJsonBlob<T>(layout: string, d: Descriptor, what: string): T {
  const p = blobPath(layout, d, what);
  let data: Buffer;
  try {
    data = readFileSync(p);
  } catch {
    throw new StoreError(`${what} ${d.digest} is missing from the layout (no ${p})`);
  }
  const sha = `sha256:${createHash('sha256').update(data).digest('hex')}`;
  if (sha !== d.digest) throw new StoreError(`${what} ${d.digest} is damaged: its content hashes to ${sha}`);
  if (typeof d.size === 'number' && d.size !== data.length) throw new StoreError(`${what} ${d.digest} has ${data.length} bytes, its descriptor says ${d.size}`);
  try {
    return JSON.parse(data.toString('utf8')) as T;
  } catch {
    throw new StoreError(`${what} ${d.digest} is not valid JSON`);
  }
}


const counting = (hash: ReturnType<typeof createHash>, onBytes?: (n: number) => void): Transform =>
  new Transform({
    transform(chunk: Buffer, _e, cb) {
      hash.update(chunk);
      onBytes?.(chunk.length);
      cb(null, chunk);
    },
  });

const sink = (): Writable => new Writable({ write: (_c, _e, cb) => cb() });

/**
 * Checks a layer blob in one read: its sha256 and size against the descriptor, and the sha256 of
 * its uncompressed stream against the config's diffID.
 */
export async function verifyLayerBlob(layout: string, d: Descriptor, diffId: string, what: string, onBytes?: (n: number) => void): Promise<string> {
  const p = blobPath(layout, d, what);
  let size: number;
  try {
    size = statSync(p).size;
  } catch {
    throw new StoreError(`${what} ${d.digest} is missing from the layout (no ${p})`);
  }
  if (typeof d.mediaType === 'string' && /zstd/.test(d.mediaType)) throw new StoreError(`${what} is zstd-compressed (${d.mediaType}): not supported, plain and gzip layers are read`);
  if (typeof d.mediaType === 'string' && !/(tar|rootfs)/.test(d.mediaType)) throw new StoreError(`${what} has media type ${d.mediaType}, which is not a layer tarball`);
  const kind = size === 0 ? 'tar' : sniff(p);
  if (kind !== 'gzip' && kind !== 'tar') throw new StoreError(`${what} is compressed with ${kind}: not supported, plain and gzip layers are read`);
  if (typeof d.size === 'number' && d.size !== size) throw new StoreError(`${what} ${d.digest} has ${size} bytes, its descriptor says ${d.size}`);
  const blobHash = createHash('sha256');
  const diffHash = createHash('sha256');
  try {
    if (kind === 'gzip') await pipeline(createReadStream(p), counting(blobHash, onBytes), createGunzip(), counting(diffHash), sink());
    else await pipeline(createReadStream(p), counting(blobHash, onBytes), counting(diffHash), sink());
  } catch (err) {
    throw new StoreError(`${what} ${d.digest} cannot be read: ${(err as Error).message}`);
  }
  const blob = `sha256:${blobHash.digest('hex')}`;
  if (blob !== d.digest) throw new StoreError(`${what} ${d.digest} is damaged: its content hashes to ${blob}`);
  const diff = `sha256:${diffHash.digest('hex')}`;
  if (diff !== diffId) {
    throw new StoreError(`refused: ${what} ${d.digest.slice(0, 19)} does not match the image config: its ${kind === 'gzip' ? 'uncompressed ' : ''}tar stream hashes to ${diff}, rootfs.diff_ids says ${diffId}`);
  }
  return diff;
}

export interface Candidate {
  manifest: Descriptor;
  /** the org.opencontainers.image.ref.name of the index entry naming it */
  ref?: string;
}

const isIndex = (mt: string | undefined): boolean => mt === MT.index || mt === MT.dockerList;
const isManifest = (mt: string | undefined): boolean => mt === MT.manifest || mt === MT.dockerManifest;

/** The image manifests a layout's index names; nested indexes are entered, keeping this platform's (linux/ARCH) entry. */
export function listCandidates(layout: string, arch = ociArch()): Candidate[] {
  const index = readIndex(layout);
  const out: Candidate[] = [];
  const walk = (idx: OciIndex, ref: string | undefined, depth: number): void => {
    if (!Array.isArray(idx.manifests)) throw new StoreError(`${layout}: an index has no manifests list`);
    const platformed = idx.manifests.filter((m) => m.platform !== undefined);
    for (const m of idx.manifests) {
      const name = m.annotations?.[REF_NAME] ?? ref;
      if (isIndex(m.mediaType)) {
        if (depth > 4) throw new StoreError(`${layout}: indexes nested too deep`);
        walk(readJsonBlob<OciIndex>(layout, m, 'image index'), name, depth + 1);
      } else if (isManifest(m.mediaType)) {
        // a multi-platform index: only this machine's image
        if (depth > 0 && platformed.length > 0 && (m.platform?.os !== 'linux' || m.platform?.architecture !== arch)) continue;
        out.push({ manifest: m, ...(name !== undefined ? { ref: name } : {}) });
      }
    }
  };
  walk(index, undefined, 0);
  return out;
}

export function readIndex(layout: string): OciIndex {
  const marker = join(layout, 'oci-layout');
  if (!existsSync(marker)) throw new StoreError(`${layout} is not an OCI image layout (it has no oci-layout file)`);
  let version: unknown;
  try {
    version = (JSON.parse(readFileSync(marker, 'utf8')) as { imageLayoutVersion?: unknown }).imageLayoutVersion;
  } catch {
    throw new StoreError(`${layout}: oci-layout is not valid JSON`);
  }
  if (typeof version !== 'string' || !/^1\./.test(version)) throw new StoreError(`${layout}: unsupported image layout version ${String(version)} (1.x is read)`);
  let index: OciIndex;
  try {
    index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as OciIndex;
  } catch (err) {
    throw new StoreError(`${layout}: cannot read index.json (${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : 'not valid JSON'})`);
  }
  return index;
}

/** Picks the image to import: by --ref, or the only one. */
export function chooseCandidate(layout: string, cands: Candidate[], ref: string | undefined, shown = layout): Candidate {
  const refs = [...new Set(cands.map((c) => c.ref ?? '<unnamed>'))];
  if (ref !== undefined) {
    const byRef = cands.filter((c) => c.ref === ref);
    if (byRef.length === 0) throw new StoreError(`${shown} has no image named ${ref} (it has: ${refs.join(', ') || 'none'})`);
    if (byRef.length > 1) throw new StoreError(`${shown} has ${byRef.length} images named ${ref}`);
    return byRef[0]!;
  }
  if (cands.length === 0) throw new StoreError(`${shown} holds no image (for linux/${ociArch()})`);
  if (cands.length > 1) throw new StoreError(`${shown} holds ${cands.length} images (${refs.join(', ')}): choose one with --ref NAME`);
  return cands[0]!;
}

/**
 * The layerfs tag of an imported image: --tag, else the ref name: a full NAME:TAG (skopeo, podman)
 * as it is, a bare tag (umoci: "v1") under the layout's name (DIR or ARCHIVE without .tar).
 */
export function tagFor(ref: string | undefined, tag: string | undefined, source: string): string {
  if (tag !== undefined) return normalizeTag(tag);
  if (ref === undefined) throw new StoreError(`the image in ${source} has no name (no ${REF_NAME} annotation): give it one with --tag NAME[:TAG]`);
  let candidate: string;
  const ref0 = ref.replace(/@sha256:[0-9a-f]+$/, '');
  if (ref0.includes(':') || ref0.includes('/')) candidate = ref0;
  else {
    const name = basename(resolve(source)).replace(/\.(oci-archive|oci|tar)$/i, '').replace(/\.tar$/i, '').toLowerCase().replace(/[^a-z0-9._\-/]+/g, '-').replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '');
    candidate = `${name || 'image'}:${ref0}`;
  }
  try {
    return normalizeTag(candidate);
  } catch {
    throw new StoreError(`the image's name ${ref} (${REF_NAME}) is not a valid layerfs NAME[:TAG]: give one with --tag NAME[:TAG]`);
  }
}

/** Where a layer imported from OCI keeps its original blob, so that an export gives the same digests. */
export const keptBlob = (store: Store, id: string): { blob: string; desc: string } => ({
  blob: join(layerDir(store, id), 'oci-blob'),
  desc: join(layerDir(store, id), 'oci-blob.json'),
});

/** What oci-blob.json holds: the blob's descriptor, and the registry repositories known to have it. */
export interface KeptBlob extends Descriptor {
  /** "HOST/REPOSITORY" where this blob was pulled from or pushed to: a push may mount it from there */
  repositories?: string[];
}

/** Keeps a verified layer blob beside the layer (moved when it is a private staging copy, else copied). */
export function keepBlob(store: Store, id: string, file: string, d: Descriptor, mayMove: boolean): void {
  const k = keptBlob(store, id);
  if (existsSync(k.desc)) return;
  const tmp = `${k.blob}.${process.pid}.tmp`;
  if (mayMove) renameSync(file, tmp);
  else copyFileSync(file, tmp);
  renameSync(tmp, k.blob);
  writeJsonAtomic(k.desc, { mediaType: d.mediaType ?? MT.layer, digest: d.digest, size: statSync(k.blob).size });
}

/** A layer's kept original blob, if it has one. */
export function readKept(store: Store, id: string): KeptBlob | undefined {
  const k = keptBlob(store, id);
  if (!existsSync(k.desc) || !existsSync(k.blob)) return undefined;
  const d = store.readJson<KeptBlob>(k.desc);
  return statSync(k.blob).size === d.size ? d : undefined;
}

/** Notes that a registry repository holds a layer's kept blob (a hint: a lost update only costs an upload). */
export function noteRepository(store: Store, id: string, digest: string, repository: string): void {
  const d = readKept(store, id);
  if (d === undefined || d.digest !== digest || d.repositories?.includes(repository)) return;
  writeJsonAtomic(keptBlob(store, id).desc, { ...d, repositories: [...(d.repositories ?? []), repository] });
}

/**
 * Stores a verified layer blob file as the layer diffId (extracting it) and keeps the blob beside
 * it. The blob and its diffId must have been checked already; the stored id is checked again.
 */
export async function storeLayerBlob(store: Store, file: string, d: Descriptor, diffId: string, source: string, mayMove: boolean, progress: Progress = silent): Promise<{ layer: Layer; existed: boolean }> {
  const r = await importLayer(store, file, progress);
  if (r.layer.Id !== diffId) throw new StoreError(`layer ${d.digest} changed while it was imported (stored as ${r.layer.Id}, expected ${diffId})`);
  let layer = r.layer;
  if (!r.existed) {
    layer = { ...r.layer, Source: source };
    writeJsonAtomic(join(layerDir(store, diffId), 'layer.json'), layer);
  }
  if (!r.existed || layer.Source.startsWith('tar:')) keepBlob(store, diffId, file, d, mayMove);
  return { layer, existed: r.existed };
}

/** The name of the lock held while a layer is pulled or its blob made (ROOT/locks/). */
export const layerLockName = (id: string): string => `layer-${hexOf(id)}`;

export interface LayerBlob {
  desc: KeptBlob;
  file: string;
  /** the sha256 of its uncompressed stream (the layer id, unless the layer came from a foreign tar) */
  diffId: string;
  /** removes a blob made only for this use (not kept) */
  release(): void;
}

/**
 * The blob a layer is sent as: its kept blob, else its canonical tar gzip-compressed, made once and
 * kept (so the next push or export sends the same digest) when its stream hashes to the layer id.
 */
export async function layerBlob(store: Store, layer: Layer): Promise<LayerBlob> {
  const kept = readKept(store, layer.Id);
  const none = (): void => undefined;
  if (kept !== undefined) return { desc: kept, file: keptBlob(store, layer.Id).blob, diffId: layer.Id, release: none };
  const staging = store.stagingDir();
  try {
    const b = await writeBlob(staging, (to) => exportLayer(store, layer, to), true);
    const file = join(staging, 'blobs', 'sha256', hexOf(b.digest));
    const desc = { mediaType: MT.layerGzip, digest: b.digest, size: b.size };
    if (b.diffId !== layer.Id) return { desc, file, diffId: b.diffId, release: () => store.discard(staging) };
    await store.withNamedLock(layerLockName(layer.Id), `keep blob ${b.digest}`, () => keepBlob(store, layer.Id, file, desc, true));
    store.discard(staging);
    return { desc: readKept(store, layer.Id)!, file: keptBlob(store, layer.Id).blob, diffId: layer.Id, release: none };
  } catch (err) {
    store.discard(staging);
    throw err;
  }
}

export interface OciImportOptions {
  /** which image of the index (its ref name) */
  ref?: string;
  /** the layerfs NAME[:TAG] to give it */
  tag?: string;
  progress?: Progress;
}

export interface OciImportResult {
  image: Image;
  tag: string;
  /** diffIDs bottom first, with whether each was already stored */
  layers: { id: string; existed: boolean }[];
  untagged?: string;
}

/** Imports one image of an OCI layout directory or oci-archive tarball. */
export async function importOci(store: Store, src: string, opts: OciImportOptions = {}): Promise<OciImportResult> {
  const path = resolve(src);
  const progress = opts.progress ?? silent;
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new StoreError(`${src} does not exist`);
  }
  if (opts.tag !== undefined) normalizeTag(opts.tag);
  let staging: string | undefined;
  try {
    let layout = path;
    if (st.isFile()) {
      staging = store.stagingDir();
      layout = join(staging, 'layout');
      mkdirSync(layout);
      progress.phase('unpacking the archive');
      await extractTarball(path, layout, (n) => progress.bytes(n)).catch((err: Error) => {
        throw new StoreError(`${src} is not an oci-archive: ${err.message}`);
      });
      if (!existsSync(join(layout, 'oci-layout'))) throw new StoreError(`${src} is not an oci-archive (the tarball has no oci-layout file)`);
    } else if (!st.isDirectory()) {
      throw new StoreError(`${src} is neither an OCI layout directory nor an oci-archive`);
    }
    const cand = chooseCandidate(layout, listCandidates(layout), opts.ref, src);
    const tag = tagFor(cand.ref, opts.tag, path);
    const manifest = readJsonBlob<OciManifest>(layout, cand.manifest, 'the manifest');
    if (manifest.mediaType !== undefined && !isManifest(manifest.mediaType)) throw new StoreError(`the manifest ${cand.manifest.digest} has media type ${manifest.mediaType}`);
    if (!manifest.config || !Array.isArray(manifest.layers)) throw new StoreError(`the manifest ${cand.manifest.digest} has no config or no layers list`);
    const config = readJsonBlob<OciConfig>(layout, manifest.config, 'the image config');
    const diffIds = config.rootfs?.diff_ids;
    if (config.rootfs?.type !== 'layers' || !Array.isArray(diffIds)) throw new StoreError(`the image config ${manifest.config.digest} has no rootfs.diff_ids`);
    if (diffIds.length !== manifest.layers.length) throw new StoreError(`refused: the manifest lists ${manifest.layers.length} layers, the config's rootfs.diff_ids ${diffIds.length}`);
    if (diffIds.length === 0) throw new StoreError(`the image in ${src} has no layers`);
    for (const d of diffIds) if (typeof d !== 'string' || !DIGEST.test(d)) throw new StoreError(`the image config has a diff_id that is not a sha256 digest: ${String(d)}`);
    if (config.os !== undefined && config.os !== 'linux') throw new StoreError(`the image is for ${config.os}, not linux`);
    // every layer is checked before any is stored: a bad image leaves nothing behind
    for (let i = 0; i < diffIds.length; i++) {
      progress.phase(`verifying layer ${i + 1}/${diffIds.length}`);
      await verifyLayerBlob(layout, manifest.layers[i]!, diffIds[i]!, `layer ${i + 1}/${diffIds.length}`, (n) => progress.bytes(n));
    }
    const shown = st.isFile() ? `oci-archive:${path}` : `oci:${path}`;
    return await store.withLock(`image import ${src}`, async () => {
      const stored = new Set(listLayers(store).map((l) => l.Id));
      const layers: Layer[] = [];
      const report: { id: string; existed: boolean }[] = [];
      for (let i = 0; i < diffIds.length; i++) {
        const id = diffIds[i]!;
        if (stored.has(id)) {
          layers.push(resolveLayer(store, id));
          report.push({ id, existed: true });
          continue;
        }
        progress.phase(`storing layer ${i + 1}/${diffIds.length}`);
        const d = manifest.layers[i]!;
        const r = await storeLayerBlob(store, blobPath(layout, d, 'layer'), d, id, `${shown}@${d.digest}`, staging !== undefined, progress);
        stored.add(id);
        layers.push(r.layer);
        report.push({ id, existed: r.existed });
      }
      const { image, untagged } = createImage(store, tag, layers);
      return { image, tag, layers: report, ...(untagged !== undefined ? { untagged } : {}) };
    });
  } finally {
    if (staging !== undefined) store.discard(staging);
  }
}

export type OciFormat = 'oci-archive' | 'oci-dir';

export interface OciExportOptions {
  format?: OciFormat;
  /** the org.opencontainers.image.ref.name to write (default: the tag the image was named by, or its first) */
  ref?: string;
  /** the tag the user named the image by, if any */
  requested?: string;
  gzip?: boolean;
  /** false: write every layer as a canonical tar, even those imported from OCI with their original blob */
  original?: boolean;
  progress?: Progress;
}

export interface OciExportResult {
  path: string;
  format: OciFormat;
  ref: string;
  manifest: Descriptor;
  config: OciConfig;
  /** layers whose written tar stream differs from the stored id (imported from a foreign tar) */
  rewritten: { layer: string; diffId: string }[];
}

/** The format of an export target: named with .tar, or an existing file, is an archive; else a layout directory. */
export function formatFor(out: string): OciFormat {
  if (/\.tar$/i.test(out)) return 'oci-archive';
  try {
    if (statSync(out).isFile()) return 'oci-archive';
  } catch {
    /* missing */
  }
  return 'oci-dir';
}

/** Valid as an index ref name (OCI image-layout: components of [A-Za-z0-9]+ joined by - . _ : @ / + or --). */
export const validRefName = (r: string): boolean => /^[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*(?:\/[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*)*$/.test(r);

/** Writes a blob into a layout (hashing it, and its uncompressed stream when gzip is set). */
export async function writeBlob(layout: string, write: (to: Writable) => Promise<void>, gzip: boolean): Promise<{ digest: string; size: number; diffId: string }> {
  const dir = join(layout, 'blobs', 'sha256');
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  const blobHash = createHash('sha256');
  const diffHash = createHash('sha256');
  let size = 0;
  const file = createWriteStream(tmp, { mode: 0o644 });
  const tail = counting(blobHash, (n) => (size += n));
  const head = counting(diffHash);
  try {
    const done = gzip ? pipeline(head, createGzip(), tail, file) : pipeline(head, tail, file);
    await Promise.all([write(head), done]);
    const digest = `sha256:${blobHash.digest('hex')}`;
    const dest = join(dir, hexOf(digest));
    renameSync(tmp, dest);
    return { digest, size, diffId: `sha256:${diffHash.digest('hex')}` };
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** Writes a JSON blob: a value, or bytes already serialized (a kept config). */
function writeJsonBlob(layout: string, value: unknown, mediaType: string): Descriptor {
  const data = Buffer.isBuffer(value) ? value : Buffer.from(JSON.stringify(value));
  const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
  const dir = join(layout, 'blobs', 'sha256');
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  const fd = openSync(tmp, 'w', 0o644);
  try {
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, join(dir, hexOf(digest)));
  return { mediaType, digest, size: data.length };
}

/** The image's config: what a runtime and podman/skopeo need (architecture, os, rootfs, history). */
export function makeConfig(image: Image, layers: Layer[], diffIds: string[]): OciConfig {
  const history = layers.map((l, i) => ({
    created: l.Created,
    created_by: `layerfs ${l.Source}`,
    ...(i === layers.length - 1 && image.Comment !== undefined ? { comment: image.Comment } : {}),
  }));
  return {
    created: image.Created,
    architecture: ociArch(),
    os: 'linux',
    config: {},
    rootfs: { type: 'layers', diff_ids: diffIds },
    history,
  };
}

/** Keeps the config an image came with (call under the store lock, after createImage). */
export function keepConfig(store: Store, image: Image, bytes: Buffer): void {
  const file = ociConfigFile(store, image.Id);
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(tmp, bytes, { mode: 0o644 });
  renameSync(tmp, file);
}

/**
 * The config to send an image with: the one it came with when its layers are still those
 * (diffIds), else one made from the store's records (makeConfig).
 */
export function imageConfig(store: Store, image: Image, layers: Layer[], diffIds: string[]): Buffer {
  try {
    const bytes = readFileSync(ociConfigFile(store, image.Id));
    const kept = JSON.parse(bytes.toString('utf8')) as OciConfig;
    if (JSON.stringify(kept.rootfs?.diff_ids) === JSON.stringify(diffIds)) return bytes;
  } catch {
    /* none kept, or unreadable: make one */
  }
  return Buffer.from(JSON.stringify(makeConfig(image, layers, diffIds)));
}

/** The ref name an export is written under. */
export function exportRef(image: Image, opts: { ref?: string; requested?: string }): string {
  let ref = opts.ref;
  if (ref === undefined) {
    let asked: string | undefined;
    try {
      asked = opts.requested !== undefined ? normalizeTag(opts.requested) : undefined;
    } catch {
      asked = undefined;
    }
    ref = asked !== undefined && image.RepoTags.includes(asked) ? asked : image.RepoTags[0];
  }
  if (ref === undefined) throw new StoreError(`image ${hexOf(image.Id).slice(0, 12)} has no tag: name the export with --ref NAME`);
  if (!validRefName(ref)) throw new StoreError(`invalid ref name ${ref}: use letters, digits and - . _ : @ / +`);
  return ref;
}

/** Writes an image as an OCI layout directory (added to an existing one) or an oci-archive tarball. */
export async function exportOci(store: Store, image: Image, out: string, opts: OciExportOptions = {}): Promise<OciExportResult> {
  const path = resolve(out);
  const format = opts.format ?? formatFor(path);
  const progress = opts.progress ?? silent;
  const ref = exportRef(image, opts);
  const layers = image.Layers.map((id) => resolveLayer(store, id));
  let layout: string;
  let staging: string | undefined;
  if (format === 'oci-dir') {
    layout = path;
    if (existsSync(path)) {
      if (!statSync(path).isDirectory()) throw new StoreError(`${out} exists and is not a directory (an oci-dir export writes a layout directory)`);
      if (!existsSync(join(path, 'oci-layout')) && readdirSync(path).length > 0) throw new StoreError(`${out} is neither empty nor an OCI image layout: refusing to write into it`);
      if (existsSync(join(path, 'oci-layout'))) readIndex(path);
    }
    mkdirSync(path, { recursive: true });
  } else {
    if (existsSync(path) && statSync(path).isDirectory()) throw new StoreError(`${out} is a directory (an oci-archive export writes a file; use --format oci-dir for a layout)`);
    if (!existsSync(dirname(path))) throw new StoreError(`cannot write ${out}: ${dirname(path)} does not exist`);
    staging = store.stagingDir();
    layout = join(staging, 'layout');
    mkdirSync(layout);
  }
  try {
    const descs: Descriptor[] = [];
    const diffIds: string[] = [];
    const rewritten: { layer: string; diffId: string }[] = [];
    for (let i = 0; i < layers.length; i++) {
      progress.phase(`writing layer ${i + 1}/${layers.length}`);
      const l = layers[i]!;
      const kept = opts.original === false ? undefined : readKept(store, l.Id);
      if (kept !== undefined) {
        const dest = join(layout, 'blobs', 'sha256', hexOf(kept.digest));
        mkdirSync(dirname(dest), { recursive: true });
        if (!existsSync(dest)) {
          const tmp = `${dest}.${process.pid}.tmp`;
          // a link into the private staging of an archive; a copy into a directory the user owns
          try {
            if (format !== 'oci-archive') throw new Error('copy');
            linkSync(keptBlob(store, l.Id).blob, tmp);
          } catch {
            copyFileSync(keptBlob(store, l.Id).blob, tmp);
          }
          renameSync(tmp, dest);
        }
        descs.push({ mediaType: kept.mediaType, digest: kept.digest, size: kept.size });
        diffIds.push(l.Id);
        continue;
      }
      const b = await writeBlob(layout, (to) => exportLayer(store, l, to), opts.gzip === true);
      descs.push({ mediaType: opts.gzip ? MT.layerGzip : MT.layer, digest: b.digest, size: b.size });
      diffIds.push(b.diffId);
      if (b.diffId !== l.Id) rewritten.push({ layer: l.Id, diffId: b.diffId });
    }
    const configBytes = imageConfig(store, image, layers, diffIds);
    const config = JSON.parse(configBytes.toString('utf8')) as OciConfig;
    const configDesc = writeJsonBlob(layout, configBytes, MT.config);
    const manifest: OciManifest = { schemaVersion: 2, mediaType: MT.manifest, config: configDesc, layers: descs };
    const manifestDesc = writeJsonBlob(layout, manifest, MT.manifest);
    const entry: Descriptor = { ...manifestDesc, annotations: { [REF_NAME]: ref } };
    const index: OciIndex = existsSync(join(layout, 'index.json')) ? readIndex(layout) : { schemaVersion: 2, mediaType: MT.index, manifests: [] };
    index.manifests = [...(index.manifests ?? []).filter((m) => m.annotations?.[REF_NAME] !== ref), entry];
    if (!existsSync(join(layout, 'oci-layout'))) writeJsonAtomic(join(layout, 'oci-layout'), { imageLayoutVersion: '1.0.0' });
    writeJsonAtomic(join(layout, 'index.json'), index);
    if (format === 'oci-archive') {
      progress.phase('writing the archive');
      const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
      try {
        await tarLayout(layout, tmp);
        renameSync(tmp, path);
      } catch (err) {
        rmSync(tmp, { force: true });
        throw err;
      }
    }
    return { path, format, ref, manifest: manifestDesc, config, rewritten };
  } finally {
    if (staging !== undefined) store.discard(staging);
  }
}

/** An oci-archive: the layout's files in a plain tar, oci-layout first, numeric root owners. */
async function tarLayout(layout: string, file: string): Promise<void> {
  const args = ['--create', `--file=${file}`, '--format=posix', '--sort=name', '--numeric-owner', '--owner=0', '--group=0',
    '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime', '-C', layout, 'oci-layout', 'index.json', 'blobs'];
  await new Promise<void>((res, rej) => {
    const child = spawn('tar', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', rej);
    child.on('close', (code) => (code === 0 ? res() : rej(new StoreError(`tar failed: ${stderr.trim().split('\n')[0] ?? `exit ${code}`}`))));
  });
}
