// layerfs push: each layer's blob (the one it was imported or pulled as, else its canonical tar
// gzip-compressed once and kept), the config the image was pulled with or one made as `image
// export` makes it, and a manifest: a pulled image pushes back to the manifest it was pulled as. A blob the repository has is not sent;
// one another repository of the registry is known to have is mounted from it; others are uploaded
// in one PUT up to chunkSize bytes, in chunks beyond.
import { resolveImage } from '../store/images';
import { resolveLayer } from '../store/layers';
import { imageConfig, layerBlob, MT, noteRepository, type Descriptor, type LayerBlob, type OciManifest } from '../store/oci';
import type { Store } from '../store/store';
import { RegistryClient, sha256, type ClientOptions } from './client';
import { RegistryError } from './errors';
import { inPool } from './pool';
import { quietReporter, type Reporter } from './progress';
import { formatReference, parseReference } from './reference';

export interface PushOptions extends ClientOptions {
  reporter?: Reporter;
  /** blobs larger than this are uploaded in chunks of this size (default 16 MiB) */
  chunkSize?: number;
  /** blobs uploaded at the same time (default 3) */
  jobs?: number;
  /** false: never mount a blob from another repository, upload it */
  mount?: boolean;
}

export type BlobOutcome = 'exists' | 'mounted' | 'pushed';

export interface PushResult {
  reference: string;
  /** the manifest stored */
  manifest: Descriptor;
  /** bottom first: the layer, its blob and what was done with it */
  layers: { id: string; digest: string; size: number; outcome: BlobOutcome }[];
  config: { digest: string; outcome: BlobOutcome };
}

/** Pushes a store image (NAME[:TAG] or id) to a registry reference HOST/REPOSITORY[:TAG]. */
export async function push(store: Store, image: string, reference: string, opts: PushOptions = {}): Promise<PushResult> {
  const r = parseReference(reference);
  if (r.digest !== undefined) throw new RegistryError(`push to a tag, not a digest (${reference})`);
  const chunkSize = opts.chunkSize ?? 16 << 20;
  if (!Number.isSafeInteger(chunkSize) || chunkSize < 1) throw new RegistryError(`invalid chunk size ${chunkSize}`);
  const img = resolveImage(store, image);
  const layers = img.Layers.map((id) => resolveLayer(store, id));
  const reporter = opts.reporter ?? quietReporter;
  const shown = formatReference(r);
  const client = new RegistryClient(r, ['pull', 'push'], opts);
  const blobs: LayerBlob[] = [];
  try {
    for (const l of layers) blobs.push(await layerBlob(store, l));
    const config = imageConfig(store, img, layers, blobs.map((b) => b.diffId));
    const configDesc: Descriptor = { mediaType: MT.config, digest: sha256(config), size: config.length };
    const manifest: OciManifest = { schemaVersion: 2, mediaType: MT.manifest, config: configDesc, layers: blobs.map((b) => ({ mediaType: b.desc.mediaType, digest: b.desc.digest, size: b.desc.size })) };
    const bytes = Buffer.from(JSON.stringify(manifest));
    reporter.begin(`pushing ${img.RepoTags[0] ?? image} to ${shown}`, [...manifest.layers, configDesc]);
    const send = async (d: Descriptor, source: string | Buffer, from?: string): Promise<BlobOutcome> => {
      try {
        const outcome = await sendBlob(client, d, source, from, { ...opts, chunkSize }, reporter);
        reporter.state(d.digest, outcome);
        return outcome;
      } catch (err) {
        reporter.state(d.digest, 'failed');
        throw err;
      }
    };
    const outcomes: BlobOutcome[] = [];
    await inPool(blobs, opts.jobs ?? 3, async (b, i) => {
      const known = opts.mount === false ? undefined : (b.desc.repositories ?? []).find((k) => k.startsWith(`${r.registry}/`) && k !== client.name);
      const from = known?.slice(r.registry.length + 1);
      outcomes[i] = await send(b.desc, b.file, from);
      noteRepository(store, layers[i]!.Id, b.desc.digest, client.name);
    });
    const configOutcome = await send(configDesc, config);
    const digest = await client.putManifest(r.tag!, MT.manifest, bytes);
    reporter.end(`pushed ${shown} (${digest})`);
    return {
      reference: shown,
      manifest: { mediaType: MT.manifest, digest, size: bytes.length },
      layers: blobs.map((b, i) => ({ id: layers[i]!.Id, digest: b.desc.digest, size: b.desc.size, outcome: outcomes[i]! })),
      config: { digest: configDesc.digest, outcome: configOutcome },
    };
  } finally {
    blobs.forEach((b) => b.release());
    client.close();
  }
}

/** Sends one blob unless the repository has it: mounted from a repository known to hold it, else uploaded. */
async function sendBlob(client: RegistryClient, d: Descriptor, source: string | Buffer, from: string | undefined, opts: { chunkSize: number }, reporter: Reporter): Promise<BlobOutcome> {
  if (await client.hasBlob(d.digest)) return 'exists';
  let upload: URL | undefined;
  if (from !== undefined) {
    const mounted = await client.mountBlob(d.digest, from);
    if (mounted === true) return 'mounted';
    upload = mounted; // the registry opened an upload instead
  }
  reporter.state(d.digest, 'uploading');
  await client.uploadBlob(d, source, { chunkSize: opts.chunkSize, onBytes: (n) => reporter.bytes(d.digest, n), ...(upload !== undefined ? { upload } : {}) });
  return 'pushed';
}
