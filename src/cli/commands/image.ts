// layerfs image create|ls|inspect|rm|import|export (OCI layouts and oci-archives), also run by the
// docker-style shortcuts images, rmi, inspect.
import { createImage, deleteImage, listImages, normalizeTag, resolveImage, untag, type Image } from '../../store/images';
import { listLayers, removeLayers, resolveLayer } from '../../store/layers';
import { imageOf, listContainers, mountOf, resolveContainer, upperOf, workOf, type Container } from '../../store/containers';
import { StoreError, type Store } from '../../store/store';
import { humanSize, treeSize } from '../../store/sizes';
import { exportOci, importOci, type OciFormat } from '../../store/oci';
import { UsageError, type CliDeps } from '../deps';
import type { Args } from '../spec';
import { ago, eachRef, openStore, shortId, table, ttyProgress, type StoreArgs } from './store-common';

interface ImageArgs extends StoreArgs {
  name?: string;
  layers?: string[];
  image?: string;
  images?: string[];
  quiet?: boolean;
  target?: string[];
  path?: string;
  tag?: string;
  ref?: string;
  output?: string;
  format?: OciFormat;
  gzip?: boolean;
}

/** An image's size: its layers' sizes (each layer counted once). */
export function imageSize(store: Store, image: Image): number {
  const sizes = new Map(listLayers(store).map((l) => [l.Id, l.Size]));
  return [...new Set(image.Layers)].reduce((s, l) => s + (sizes.get(l) ?? 0), 0);
}

/** docker inspect's shape for an image. */
export function inspectImage(store: Store, image: Image): object {
  return {
    Id: image.Id,
    RepoTags: image.RepoTags,
    Parent: image.Parent ?? '',
    Comment: image.Comment ?? '',
    Created: image.Created,
    Size: imageSize(store, image),
    RootFS: { Type: 'layers', Layers: image.Layers },
    GraphDriver: { Name: 'layerfs', Data: { LowerDirs: [...image.Layers].reverse().map((l) => `${store.layersDir}/${l.replace(/^sha256:/, '')}/diff`) } },
  };
}

export function inspectContainer(store: Store, c: Container): object {
  const mnt = mountOf(store, c);
  return {
    Id: c.Id,
    Name: c.Name,
    Created: c.Created,
    Image: c.Image,
    Config: { Image: c.ImageRef },
    State: { Status: mnt ? 'mounted' : 'created', Mounted: mnt !== undefined, Mountpoint: mnt ?? '' },
    Mounts: c.Volumes.map((v) => ({ Type: 'bind', Source: v.Source, Destination: v.Destination, RW: true })),
    GraphDriver: {
      Name: 'layerfs',
      Data: {
        LowerDir: [...imageOf(store, c).Layers].reverse().map((l) => `${store.layersDir}/${l.replace(/^sha256:/, '')}/diff`).join(':'),
        UpperDir: upperOf(store, c),
        WorkDir: workOf(store, c),
        MergedDir: mnt ?? '',
      },
    },
    SizeRw: treeSize(upperOf(store, c)),
  };
}

type Run = (a: Args, deps: CliDeps) => Promise<number>;

export const create: Run = async (a, deps) => {
  const { name, layers } = a as ImageArgs;
  const { store } = openStore(a, true);
  normalizeTag(name!);
  await store.withLock('image create', () => {
    const resolved = layers!.map((r) => resolveLayer(store, r));
    const { image, untagged } = createImage(store, name!, resolved);
    if (untagged) deps.err(`layerfs: ${normalizeTag(name!)} moved from image ${shortId(untagged)} to ${shortId(image.Id)}`);
    deps.out(image.Id);
  });
  return 0;
};

export const list: Run = async (a, deps) => {
  const { store } = openStore(a, false);
  const images = listImages(store);
  if (a.json === true) deps.out(JSON.stringify(images.map((i) => ({ ...i, Size: imageSize(store, i) })), null, 2));
  else if (a.quiet === true) images.forEach((i) => deps.out(shortId(i.Id)));
  else {
    const rows: string[][] = [];
    for (const i of images) {
      const tags = i.RepoTags.length > 0 ? i.RepoTags : ['<none>:<none>'];
      for (const t of tags) {
        const k = t.lastIndexOf(':');
        rows.push([t.slice(0, k), t.slice(k + 1), shortId(i.Id), ago(i.Created), humanSize(imageSize(store, i))]);
      }
    }
    table(['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE'], rows).forEach((l) => deps.out(l));
  }
  return 0;
};

/** inspect: images only (`image inspect`), or images then containers (`inspect`). */
const inspect = (what: 'image' | 'any'): Run => async (a, deps) => {
  const { store } = openStore(a, false);
  const out: object[] = [];
  let code = 0;
  for (const ref of (a as ImageArgs).target!) {
    try {
      out.push(inspectImage(store, resolveImage(store, ref)));
      continue;
    } catch (err) {
      if (what === 'image') {
        deps.err(`layerfs: ${(err as Error).message}`);
        code = 1;
        continue;
      }
    }
    try {
      out.push(inspectContainer(store, resolveContainer(store, ref)));
    } catch {
      deps.err(`layerfs: no such image or container: ${ref}`);
      code = 1;
    }
  }
  deps.out(JSON.stringify(out, null, 2));
  return code;
};
export const inspectImages = inspect('image');
export const inspectAny = inspect('any');

export const remove: Run = async (a, deps) => {
  const { store } = openStore(a, true);
  return store.withLock('rmi', () => eachRef((a as ImageArgs).images!, deps, (ref) => removeImage(store, ref, deps)));
};

export const importImage: Run = async (a, deps) => {
  const { path, ref, tag } = a as ImageArgs;
  const { store } = openStore(a, true);
  const progress = ttyProgress(`importing ${path}`);
  try {
    const r = await importOci(store, path!, { ...(ref !== undefined ? { ref } : {}), ...(tag !== undefined ? { tag } : {}), progress });
    progress.done();
    const shared = r.layers.filter((l) => l.existed).length;
    deps.err(`Loaded image: ${r.tag} (${r.layers.length} layer${r.layers.length === 1 ? '' : 's'}${shared > 0 ? `, ${shared} already stored` : ''})`);
    if (r.untagged) deps.err(`layerfs: ${r.tag} moved from image ${shortId(r.untagged)} to ${shortId(r.image.Id)}`);
    deps.out(r.image.Id);
    return 0;
  } finally {
    progress.done();
  }
};

export const exportImage: Run = async (a, deps) => {
  const { image: ref, output, format, gzip } = a as ImageArgs;
  if (output === undefined) throw new UsageError('image export needs --output PATH (-o)');
  const { store } = openStore(a, false);
  const image = resolveImage(store, ref!);
  const progress = ttyProgress(`exporting ${ref}`);
  try {
    const r = await exportOci(store, image, output, {
      requested: ref!, gzip: gzip === true, progress,
      ...(format !== undefined ? { format } : {}),
      ...((a as ImageArgs).ref !== undefined ? { ref: (a as ImageArgs).ref! } : {}),
    });
    progress.done();
    for (const w of r.rewritten) deps.err(`layerfs: note: layer ${shortId(w.layer)} is written as a canonical tar, its diffID in the export is ${shortId(w.diffId)}`);
    deps.err(`Exported ${ref} as ${r.format === 'oci-archive' ? 'oci-archive' : 'oci'}:${r.path}:${r.ref}`);
    deps.out(r.manifest.digest);
    return 0;
  } finally {
    progress.done();
  }
};

function removeImage(store: Store, ref: string, deps: CliDeps): void {
  const image = resolveImage(store, ref);
  let tag: string | undefined;
  try {
    tag = normalizeTag(ref);
  } catch {
    tag = undefined;
  }
  // by one of several tags: only that name goes, like docker
  if (tag !== undefined && image.RepoTags.includes(tag) && image.RepoTags.length > 1) {
    untag(store, tag);
    deps.out(`Untagged: ${tag}`);
    return;
  }
  const users = listContainers(store).filter((c) => c.Image === image.Id);
  if (users.length > 0) {
    const names = users.map((c) => `${c.Name} (${c.Id.slice(0, 12)})`).join(', ');
    throw new StoreError(`cannot remove image ${ref}: ${users.length > 1 ? 'containers' : 'container'} ${names} ${users.length > 1 ? 'use' : 'uses'} it (layerfs rm ${users.length > 1 ? 'them' : 'it'} first)`);
  }
  const freed = deleteImage(store, image);
  image.RepoTags.forEach((t) => deps.out(`Untagged: ${t}`));
  deps.out(`Deleted: ${image.Id}`);
  removeLayers(store, freed);
  freed.forEach((l) => deps.out(`Deleted: ${l}`));
}
