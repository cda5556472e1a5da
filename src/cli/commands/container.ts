// layerfs container create|ls|mount|umount|rm|diff|commit, also run by the docker-style shortcuts
// create, ps, rm, diff, commit. A container is "up" while its overlay is mounted.
import { resolve } from 'node:path';
import { changes } from '../../store/changes';
import {
  containerDir, createContainer, imageOf, listContainers, mountArgs, mountOf, resolveContainer, spawnMount, upperOf, type Container,
} from '../../store/containers';
import { createImage, normalizeTag, topFirst } from '../../store/images';
import { importDir, layerDiff, resolveLayer } from '../../store/layers';
import { StoreError, type Store } from '../../store/store';
import { humanSize, treeSize } from '../../store/sizes';
import type { CliDeps } from '../deps';
import type { Args } from '../spec';
import { umount } from './umount';
import { imageSize } from './image';
import { ago, eachRef, openStore, table, ttyProgress, type StoreArgs } from './store-common';

interface ContainerArgs extends StoreArgs {
  image?: string;
  name?: string;
  volume?: string[];
  container?: string;
  containers?: string[];
  mountpoint?: string;
  all?: boolean;
  size?: boolean;
  quiet?: boolean;
  force?: boolean;
  lazy?: boolean;
  message?: string;
}

type Run = (a: Args, deps: CliDeps) => Promise<number>;
const argsOf = (a: Args): ContainerArgs => a as ContainerArgs;

export const create: Run = async (a, deps) => {
  const { image, name, volume } = argsOf(a);
  const { store } = openStore(a, true);
  const c = await store.withLock('create', () => createContainer(store, image!, { name, volumes: volume ?? [] }));
  deps.out(c.Id);
  return 0;
};

export const list: Run = async (a, deps) => {
  const { all, size, json, quiet } = argsOf(a);
  const { store } = openStore(a, false);
  const rows = listContainers(store)
    .map((c) => ({ c, mnt: mountOf(store, c) }))
    .filter(({ mnt }) => all || mnt !== undefined);
  const sized = rows.map(({ c, mnt }) => {
    if (!size && !json) return { c, mnt, rw: 0, virtual: 0 };
    const rw = treeSize(upperOf(store, c));
    return { c, mnt, rw, virtual: rw + imageSize(store, imageOf(store, c)) };
  });
  if (json) {
    deps.out(JSON.stringify(sized.map(({ c, mnt, rw, virtual }) => ({
      Id: c.Id, Names: [c.Name], Image: c.ImageRef, ImageID: c.Image, Created: c.Created,
      State: mnt ? 'mounted' : 'created', Mountpoint: mnt ?? null, SizeRw: rw, SizeRootFs: virtual, Mounts: c.Volumes,
    })), null, 2));
    return 0;
  }
  if (quiet) {
    sized.forEach(({ c }) => deps.out(c.Id.slice(0, 12)));
    return 0;
  }
  const headers = ['CONTAINER ID', 'IMAGE', 'CREATED', 'STATUS', 'NAMES'];
  if (size) headers.push('SIZE');
  const lines = table(headers, sized.map(({ c, mnt, rw, virtual }) => {
    const row = [c.Id.slice(0, 12), c.ImageRef, ago(c.Created), mnt ? `Mounted on ${mnt}` : 'Created', c.Name];
    if (size) row.push(`${humanSize(rw)} (virtual ${humanSize(virtual)})`);
    return row;
  }));
  lines.forEach((l) => deps.out(l));
  return 0;
};

export const mount: Run = async (a, deps) => {
  const { container, mountpoint } = argsOf(a);
  const { store } = openStore(a, true);
  return store.withLock('container mount', async () => {
    const c = resolveContainer(store, container!);
    const mnt = mountOf(store, c);
    if (mnt !== undefined) throw new StoreError(`container ${c.Name} is already mounted on ${mnt}`);
    const r = await spawnMount(mountArgs(store, c, resolve(mountpoint!)));
    r.stderr.split('\n').filter(Boolean).forEach((l) => deps.err(l));
    return r.code;
  });
};

/** Unmounts a container; with lazy, detaches a busy one. Returns the umount exit code. */
async function unmountContainer(store: Store, c: Container, lazy: boolean, deps: CliDeps): Promise<number> {
  const mnt = mountOf(store, c);
  if (mnt === undefined) return 0;
  return umount(mnt, lazy, deps);
}

export const unmount: Run = async (a, deps) => {
  const { container, lazy } = argsOf(a);
  const { store } = openStore(a, true);
  return store.withLock('container umount', async () => {
    const c = resolveContainer(store, container!);
    if (mountOf(store, c) === undefined) throw new StoreError(`container ${c.Name} is not mounted`);
    return unmountContainer(store, c, lazy === true, deps);
  });
};

export const remove: Run = async (a, deps) => {
  const { containers, force } = argsOf(a);
  const { store } = openStore(a, true);
  return store.withLock('rm', () =>
    eachRef(containers!, deps, async (ref) => {
      const c = resolveContainer(store, ref);
      const mnt = mountOf(store, c);
      if (mnt !== undefined) {
        if (!force) throw new StoreError(`cannot remove container ${c.Name}: it is mounted on ${mnt} (layerfs container umount ${c.Name} first, or rm -f)`);
        if ((await unmountContainer(store, c, false, deps)) !== 0 && (await unmountContainer(store, c, true, deps)) !== 0) {
          throw new StoreError(`cannot remove container ${c.Name}: cannot unmount ${mnt}`);
        }
      }
      store.discard(containerDir(store, c));
      deps.out(c.Name);
    }),
  );
};

export const diff: Run = async (a, deps) => {
  const { store } = openStore(a, false);
  const c = resolveContainer(store, argsOf(a).container!);
  const image = imageOf(store, c);
  const list = changes(upperOf(store, c), topFirst(image).map((l) => layerDiff(store, l)));
  if (a.json === true) deps.out(JSON.stringify(list, null, 2));
  else list.forEach((ch) => deps.out(`${ch.Kind} ${ch.Path}`));
  return 0;
};

export const commit: Run = async (a, deps) => {
  const { container, image: name, message } = argsOf(a);
  const { store } = openStore(a, true);
  normalizeTag(name!);
  const progress = ttyProgress(`committing ${container}`);
  try {
    await store.withLock('commit', async () => {
      const c = resolveContainer(store, container!);
      const base = imageOf(store, c);
      const { layer } = await importDir(store, upperOf(store, c), `commit:${c.Name}`, progress);
      const layers = [...base.Layers.map((l) => resolveLayer(store, l)), layer];
      const { image } = createImage(store, name!, layers, { Parent: base.Id, ...(message !== undefined ? { Comment: message } : {}) });
      progress.done();
      deps.out(image.Id);
    });
    return 0;
  } finally {
    progress.done();
  }
};
