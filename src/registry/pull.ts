// layerfs pull: a manifest (or an index, then this platform's manifest), its config, and each layer
// the store does not hold yet, verified while it streams (download.ts) and stored as `layer import`
// would store it, keeping the blob so a push or an export sends the same digest. Layers are fetched
// under a per-layer lock (ROOT/locks/layer-HEX): two pulls sharing a layer, in one process or two,
// fetch it once; the store lock is taken only to publish. The image is tagged when all are stored.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createImage, normalizeTag, type Image } from '../store/images';
import { layerDir, resolveLayer } from '../store/layers';
import { keepConfig, layerLockName, MT, noteRepository, ociArch, storeLayerBlob, type Descriptor, type OciConfig, type OciIndex, type OciManifest } from '../store/oci';
import type { Store } from '../store/store';
import { RegistryClient, type ClientOptions, type FetchedManifest } from './client';
import { downloadBlob } from './download';
import { RegistryError } from './errors';
import { inPool } from './pool';
import { quietReporter, type Reporter } from './progress';
import { formatReference, manifestRef, parseReference, type Reference } from './reference';

export interface PullOptions extends ClientOptions {
  /** the local NAME[:TAG] (default: the reference, Docker Hub's in docker's short form: "alpine:3") */
  tag?: string;
  /** OS/ARCH[/VARIANT] to choose from an image index (default linux/ and this machine's architecture) */
  platform?: string;
  reporter?: Reporter;
  /** layers downloaded at the same time (default 3) */
  jobs?: number;
}

export interface PullResult {
  image: Image;
  tag: string;
  /** the manifest pulled (the platform's, when the reference names an index) */
  manifest: { digest: string; mediaType: string };
  /** bottom first: the layer (diffID), its blob, and whether the store had it already */
  layers: { id: string; digest: string; size: number; existed: boolean }[];
  /** the image the tag named before, if another */
  untagged?: string;
}

const GZIP_LAYERS = new Set<string>([MT.layerGzip, MT.dockerLayer]);
const TAR_LAYERS = new Set<string>([MT.layer]);
const CONFIGS = new Set<string>([MT.config, MT.dockerConfig]);
const DIGEST = /^sha256:[0-9a-f]{64}$/;

interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export function parsePlatform(text: string | undefined): Platform {
  if (text === undefined) return { os: 'linux', architecture: ociArch() };
  const [os, architecture, variant, ...extra] = text.split('/');
  if (!os || !architecture || extra.length > 0) throw new RegistryError(`invalid platform ${text}: use OS/ARCH[/VARIANT] (linux/amd64, linux/arm64/v8)`);
  return { os, architecture, ...(variant ? { variant } : {}) };
}

const showPlatform = (p: Descriptor['platform']): string => [p?.os, p?.architecture, p?.variant].filter(Boolean).join('/');

/** The manifest of an index for a platform; a variant is matched only when one is asked for. */
function choosePlatform(index: OciIndex, want: Platform, what: string): Descriptor {
  const fits = (index.manifests ?? []).filter((m) => m.platform?.os === want.os && m.platform?.architecture === want.architecture && (want.variant === undefined || m.platform?.variant === want.variant));
  const chosen = fits.find((m) => m.platform?.variant === undefined) ?? fits[0];
  if (chosen === undefined) {
    const has = (index.manifests ?? []).map((m) => showPlatform(m.platform)).filter(Boolean);
    throw new RegistryError(`${what} has no image for ${showPlatform(want)} (it has: ${has.join(', ') || 'none'})`);
  }
  return chosen;
}

/** The local name of a pulled image. */
function localTag(r: Reference, tag: string | undefined): string {
  if (tag === undefined && r.tag === undefined) throw new RegistryError(`${formatReference(r)} names no tag: give the local image a name with the tag option`);
  const name = tag ?? formatReference({ registry: r.registry, repository: r.repository, tag: r.tag! });
  try {
    return normalizeTag(name);
  } catch {
    throw new RegistryError(`${name} cannot be a local image name: give one with the tag option (NAME[:TAG])`);
  }
}

/** The manifest's layers and config, checked as an import checks a layout's. */
function checkImage(m: FetchedManifest, config: OciConfig, what: string): string[] {
  const manifest = m.json as unknown as OciManifest;
  const diffIds = config.rootfs?.diff_ids;
  if (config.rootfs?.type !== 'layers' || !Array.isArray(diffIds)) throw new RegistryError(`${what}: the image config has no rootfs.diff_ids`);
  if (diffIds.length !== manifest.layers.length) throw new RegistryError(`refused: ${what}: the manifest lists ${manifest.layers.length} layers, the config's rootfs.diff_ids ${diffIds.length}`);
  if (diffIds.length === 0) throw new RegistryError(`${what} has no layers`);
  for (const d of diffIds) if (typeof d !== 'string' || !DIGEST.test(d)) throw new RegistryError(`${what}: the image config has a diff_id that is not a sha256 digest: ${String(d)}`);
  if (config.os !== undefined && config.os !== 'linux') throw new RegistryError(`${what} is an image for ${config.os}, not linux`);
  return diffIds;
}

/** The manifest's descriptors, with media types layerfs can read. */
function checkManifest(m: FetchedManifest, what: string): OciManifest {
  const manifest = m.json as unknown as OciManifest;
  if (manifest.schemaVersion !== 2 || typeof manifest.config !== 'object' || !Array.isArray(manifest.layers)) throw new RegistryError(`${what}: the manifest has no config or no layers list`);
  const descs = [manifest.config, ...manifest.layers];
  for (const d of descs) {
    if (typeof d?.digest !== 'string' || !DIGEST.test(d.digest)) throw new RegistryError(`${what}: a descriptor's digest ${String(d?.digest)} is not a sha256 digest`);
    if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) throw new RegistryError(`${what}: the descriptor of ${d.digest} has no valid size`);
  }
  if (!CONFIGS.has(manifest.config.mediaType)) throw new RegistryError(`${what}: the config has media type ${manifest.config.mediaType}, not an image config`);
  for (const d of manifest.layers) {
    if (GZIP_LAYERS.has(d.mediaType) || TAR_LAYERS.has(d.mediaType)) continue;
    if (/zstd/.test(d.mediaType ?? '')) throw new RegistryError(`${what}: layer ${d.digest} is zstd-compressed (${d.mediaType}): not supported, plain and gzip layers are read`);
    if (/foreign|nondistributable/.test(d.mediaType ?? '')) throw new RegistryError(`${what}: layer ${d.digest} is a foreign layer (${d.mediaType}) kept outside the registry: not supported`);
    throw new RegistryError(`${what}: layer ${d.digest} has media type ${d.mediaType}, which is not a layer tarball`);
  }
  return manifest;
}

const stored = (store: Store, id: string): boolean => existsSync(join(layerDir(store, id), 'layer.json'));

/** Pulls an image from a registry into the store and tags it. */
export async function pull(store: Store, reference: string, opts: PullOptions = {}): Promise<PullResult> {
  const r = parseReference(reference);
  const tag = localTag(r, opts.tag);
  const want = parsePlatform(opts.platform);
  const reporter = opts.reporter ?? quietReporter;
  const shown = formatReference(r);
  store.check(true);
  const client = new RegistryClient(r, ['pull'], opts);
  try {
    let m = await client.getManifest(manifestRef(r));
    if (m.mediaType === MT.index || m.mediaType === MT.dockerList) {
      const chosen = choosePlatform(m.json as unknown as OciIndex, want, shown);
      m = await client.getManifest(chosen.digest);
      if (m.mediaType === MT.index || m.mediaType === MT.dockerList) throw new RegistryError(`${shown}: the index for ${showPlatform(chosen.platform)} names another index`);
    }
    const manifest = checkManifest(m, shown);
    const config = await client.getJsonBlob<OciConfig>(manifest.config, 'the image config');
    const diffIds = checkImage(m, config.json, shown);
    reporter.begin(`pulling ${shown}`, manifest.layers);
    const existed: boolean[] = [];
    await inPool(manifest.layers, opts.jobs ?? 3, async (d, i) => {
      const id = diffIds[i]!;
      try {
        existed[i] = stored(store, id) || (await store.withNamedLock(layerLockName(id), `pull ${shown}`, () => fetchLayer(store, client, d, id, reporter), { waiting: () => reporter.state(d.digest, 'waiting') }));
      } catch (err) {
        reporter.state(d.digest, 'failed');
        throw err;
      }
      if (existed[i]) reporter.state(d.digest, 'exists');
      noteRepository(store, id, d.digest, client.name);
    });
    const made = await store.withLock(`pull ${shown}`, () => {
      const res = createImage(store, tag, diffIds.map((id) => resolveLayer(store, id)));
      keepConfig(store, res.image, config.bytes);
      return res;
    });
    reporter.end(`pulled ${shown} as ${tag} (${m.digest})`);
    return {
      image: made.image,
      tag,
      manifest: { digest: m.digest, mediaType: m.mediaType },
      layers: manifest.layers.map((d, i) => ({ id: diffIds[i]!, digest: d.digest, size: d.size, existed: existed[i]! })),
      ...(made.untagged !== undefined ? { untagged: made.untagged } : {}),
    };
  } finally {
    client.close();
  }
}

/** Downloads, verifies and stores one layer (under its lock); true when another pull stored it meanwhile. */
async function fetchLayer(store: Store, client: RegistryClient, d: Descriptor, id: string, reporter: Reporter): Promise<boolean> {
  if (stored(store, id)) return true;
  const staging = store.stagingDir();
  try {
    const file = join(staging, 'blob');
    reporter.state(d.digest, 'downloading');
    await downloadBlob(client, d, file, { diffId: id, gzip: GZIP_LAYERS.has(d.mediaType), onBytes: (n) => reporter.bytes(d.digest, n) });
    reporter.state(d.digest, 'storing');
    await storeLayerBlob(store, file, d, id, `docker://${client.name}@${d.digest}`, true);
    reporter.state(d.digest, 'stored');
    return false;
  } finally {
    store.discard(staging);
  }
}
