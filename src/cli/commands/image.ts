// layerfs image create|ls|inspect|rm|import|export (OCI layouts and oci-archives), and the docker-style shortcuts images, rmi, inspect.
import type { CommandModule } from 'yargs';
import { createImage, deleteImage, listImages, normalizeTag, resolveImage, untag, type Image } from '../../store/images';
import { listLayers, removeLayers, resolveLayer } from '../../store/layers';
import { imageOf, listContainers, mountOf, resolveContainer, upperOf, workOf, type Container } from '../../store/containers';
import { StoreError, type Store } from '../../store/store';
import { humanSize, treeSize } from '../../store/sizes';
import { exportOci, importOci, type OciFormat } from '../../store/oci';
import type { CliDeps } from '../cli';
import { ago, openStore, runStore, shortId, table, ttyProgress, withJson, withStore, type StoreArgs } from './store-common';

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

type Setter = (c: number) => void;

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

const createSpec = (deps: CliDeps, setCode: Setter) => ({
  command: 'create <name> <layers..>',
  describe: 'make an image NAME[:TAG] from stored layers, given BOTTOM FIRST (the order of a Dockerfile: base layer first, top-most last)',
  builder: (y: any) =>
    y
      .positional('name', { type: 'string', demandOption: true, describe: 'NAME[:TAG] (tag defaults to latest)' })
      .positional('layers', { type: 'string', array: true, demandOption: true, describe: 'layer digests or unique prefixes, bottom first' }),
  handler: (a: ImageArgs) =>
    runStore(deps, setCode, async () => {
      const { store } = openStore(a, true);
      normalizeTag(a.name!);
      await store.withLock('image create', () => {
        const layers = a.layers!.map((r) => resolveLayer(store, r));
        const { image, untagged } = createImage(store, a.name!, layers);
        if (untagged) deps.err(`layerfs: ${normalizeTag(a.name!)} moved from image ${shortId(untagged)} to ${shortId(image.Id)}`);
        deps.out(image.Id);
      });
    }),
});

const listSpec = (deps: CliDeps, setCode: Setter, command: string, aliases: string[] = []) => ({
  command,
  aliases,
  describe: 'list images (SIZE counts each of its layers, shared or not)',
  builder: (y: any) => withJson(y).option('quiet', { alias: 'q', type: 'boolean', describe: 'only image ids' }),
  handler: (a: ImageArgs) =>
    runStore(deps, setCode, () => {
      const { store } = openStore(a, false);
      const images = listImages(store);
      if (a.json) return deps.out(JSON.stringify(images.map((i) => ({ ...i, Size: imageSize(store, i) })), null, 2));
      if (a.quiet) return images.forEach((i) => deps.out(shortId(i.Id)));
      const rows: string[][] = [];
      for (const i of images) {
        const tags = i.RepoTags.length > 0 ? i.RepoTags : ['<none>:<none>'];
        for (const t of tags) {
          const k = t.lastIndexOf(':');
          rows.push([t.slice(0, k), t.slice(k + 1), shortId(i.Id), ago(i.Created), humanSize(imageSize(store, i))]);
        }
      }
      table(['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE'], rows).forEach((l) => deps.out(l));
    }),
});

const inspectSpec = (deps: CliDeps, setCode: Setter, command: string, what: 'image' | 'any') => ({
  command,
  describe: what === 'image' ? 'show an image as JSON (Id, RepoTags, Created, Size, RootFS)' : 'show images or containers as JSON, like docker inspect',
  builder: (y: any) => y.positional('target', { type: 'string', array: true, demandOption: true }),
  handler: (a: ImageArgs) =>
    runStore(deps, setCode, () => {
      const { store } = openStore(a, false);
      const out: object[] = [];
      let code = 0;
      for (const ref of a.target!) {
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
    }),
});

const rmSpec = (deps: CliDeps, setCode: Setter, command: string) => ({
  command,
  describe: 'remove images; refused while a container uses one; frees the layers no other image uses',
  builder: (y: any) => y.positional('images', { type: 'string', array: true, demandOption: true }),
  handler: (a: ImageArgs) =>
    runStore(deps, setCode, async () => {
      const { store } = openStore(a, true);
      let code = 0;
      await store.withLock('rmi', () => {
        for (const ref of a.images!) {
          try {
            removeImage(store, ref, deps);
          } catch (err) {
            if (!(err instanceof StoreError)) throw err;
            deps.err(`layerfs: ${err.message}`);
            code = 1;
          }
        }
      });
      return code;
    }),
});

const importSpec = (deps: CliDeps, setCode: Setter) => ({
  command: 'import <path>',
  describe: 'store an image from an OCI image layout directory or an oci-archive tarball (umoci, skopeo, podman save --format oci-archive); prints its id',
  builder: (y: any) =>
    y
      .positional('path', { type: 'string', demandOption: true, describe: 'a layout DIR (oci-layout, index.json, blobs/) or an oci-archive TARBALL' })
      .option('ref', { type: 'string', describe: 'which image of the index, by its org.opencontainers.image.ref.name (needed when it holds several)' })
      .option('tag', { type: 'string', describe: 'NAME[:TAG] to give it (default: its ref name; a bare tag like umoci\'s "v1" goes under the layout\'s file name)' }),
  handler: (a: ImageArgs) =>
    runStore(deps, setCode, async () => {
      const { store } = openStore(a, true);
      const progress = ttyProgress(`importing ${a.path}`);
      try {
        const r = await importOci(store, a.path!, { ...(a.ref !== undefined ? { ref: a.ref } : {}), ...(a.tag !== undefined ? { tag: a.tag } : {}), progress });
        progress.done();
        const shared = r.layers.filter((l) => l.existed).length;
        deps.err(`Loaded image: ${r.tag} (${r.layers.length} layer${r.layers.length === 1 ? '' : 's'}${shared > 0 ? `, ${shared} already stored` : ''})`);
        if (r.untagged) deps.err(`layerfs: ${r.tag} moved from image ${shortId(r.untagged)} to ${shortId(r.image.Id)}`);
        deps.out(r.image.Id);
      } finally {
        progress.done();
      }
    }),
});

const exportSpec = (deps: CliDeps, setCode: Setter) => ({
  command: 'export <image>',
  describe: 'write an image as an oci-archive tarball or an OCI image layout directory (loads with umoci, skopeo, podman); prints the manifest digest',
  builder: (y: any) =>
    y
      .positional('image', { type: 'string', demandOption: true, describe: 'NAME[:TAG] or image id' })
      .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'the archive FILE (PATH.tar) or layout DIR (added to an existing layout)' })
      .option('format', { type: 'string', choices: ['oci-archive', 'oci-dir'], describe: 'default: oci-archive when PATH ends in .tar or is a file, else oci-dir' })
      .option('ref', { type: 'string', describe: 'the org.opencontainers.image.ref.name to write (default: the image\'s NAME:TAG)' })
      .option('gzip', { type: 'boolean', describe: 'gzip-compress the layer blobs (their diffIDs stay those of the uncompressed tars)' }),
  handler: (a: ImageArgs) =>
    runStore(deps, setCode, async () => {
      const { store } = openStore(a, false);
      const image = resolveImage(store, a.image!);
      const progress = ttyProgress(`exporting ${a.image}`);
      try {
        const r = await exportOci(store, image, a.output!, {
          requested: a.image!,
          gzip: a.gzip === true,
          progress,
          ...(a.format !== undefined ? { format: a.format } : {}),
          ...(a.ref !== undefined ? { ref: a.ref } : {}),
        });
        progress.done();
        for (const w of r.rewritten) deps.err(`layerfs: note: layer ${shortId(w.layer)} is written as a canonical tar, its diffID in the export is ${shortId(w.diffId)}`);
        deps.err(`Exported ${a.image} as ${r.format === 'oci-archive' ? 'oci-archive' : 'oci'}:${r.path}:${r.ref}`);
        deps.out(r.manifest.digest);
      } finally {
        progress.done();
      }
    }),
});

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

export function imageCommand(deps: CliDeps, setCode: Setter): CommandModule<object, ImageArgs> {
  return {
    command: 'image <command>',
    describe: 'create, list, inspect, remove, import and export (OCI) images',
    builder: (y) =>
      withStore(y)
        .command(createSpec(deps, setCode) as never)
        .command(listSpec(deps, setCode, 'ls', ['list']) as never)
        .command(inspectSpec(deps, setCode, 'inspect <target..>', 'image') as never)
        .command(rmSpec(deps, setCode, 'rm <images..>') as never)
        .command(importSpec(deps, setCode) as never)
        .command(exportSpec(deps, setCode) as never)
        .demandCommand(1, 'say which image command to run (layerfs image --help)') as never,
    handler: () => undefined,
  };
}

/** Top-level docker-style shortcuts: images, rmi, inspect. */
export function imageShortcuts(deps: CliDeps, setCode: Setter): CommandModule<object, ImageArgs>[] {
  const wrap = (spec: ReturnType<typeof listSpec>): CommandModule<object, ImageArgs> => ({ ...spec, builder: (y) => spec.builder(withStore(y)) as never });
  return [
    wrap(listSpec(deps, setCode, 'images')),
    wrap(rmSpec(deps, setCode, 'rmi <images..>') as never),
    wrap(inspectSpec(deps, setCode, 'inspect <target..>', 'any') as never),
  ];
}

