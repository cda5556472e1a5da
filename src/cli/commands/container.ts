// layerfs container create|ls|mount|umount|rm|diff|commit, and the docker-style shortcuts
// create, ps, rm, diff, commit. A container is "up" while its overlay is mounted.
import { resolve } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { changes } from '../../store/changes';
import {
  containerDir, createContainer, imageOf, listContainers, mountArgs, mountOf, resolveContainer, spawnMount, upperOf, type Container,
} from '../../store/containers';
import { createImage, normalizeTag, topFirst } from '../../store/images';
import { importDir, layerDiff, resolveLayer } from '../../store/layers';
import { StoreError, type Store } from '../../store/store';
import { humanSize, treeSize } from '../../store/sizes';
import type { CliDeps } from '../cli';
import { umount } from './umount';
import { imageSize } from './image';
import { ago, openStore, runStore, table, ttyProgress, withJson, withStore, type StoreArgs } from './store-common';

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

type Setter = (c: number) => void;
type Spec = CommandModule<object, ContainerArgs>;

const toList = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

function create(deps: CliDeps, setCode: Setter, command: string): Spec {
  return {
    command,
    describe: 'create a container of an image: an empty writable layer on top of its layers',
    builder: (y: Argv) =>
      y
        .positional('image', { type: 'string', demandOption: true, describe: 'NAME[:TAG] or image id' })
        .option('name', { type: 'string', describe: 'the container name (default: a generated one)' })
        .option('volume', { alias: 'v', type: 'string', describe: 'HOSTDIR:/path — writes under /path go to HOSTDIR and survive rm (repeat)' }) as never,
    handler: (a) =>
      runStore(deps, setCode, async () => {
        const { store } = openStore(a, true);
        const c = await store.withLock('create', () => createContainer(store, a.image!, { name: a.name, volumes: toList(a.volume) }));
        deps.out(c.Id);
      }),
  };
}

function list(deps: CliDeps, setCode: Setter, command: string, aliases: string[] = []): Spec {
  return {
    command,
    aliases,
    describe: 'list mounted containers (-a: all); -s adds SIZE: the container layer, and (virtual ...) with the image',
    builder: (y: Argv) =>
      withJson(y)
        .option('all', { alias: 'a', type: 'boolean', describe: 'also containers not mounted' })
        .option('size', { alias: 's', type: 'boolean', describe: 'show sizes' })
        .option('quiet', { alias: 'q', type: 'boolean', describe: 'only ids' }) as never,
    handler: (a) =>
      runStore(deps, setCode, () => {
        const { store } = openStore(a, false);
        const rows = listContainers(store)
          .map((c) => ({ c, mnt: mountOf(store, c) }))
          .filter(({ mnt }) => a.all || mnt !== undefined);
        const sized = rows.map(({ c, mnt }) => {
          if (!a.size && !a.json) return { c, mnt, rw: 0, virtual: 0 };
          const rw = treeSize(upperOf(store, c));
          return { c, mnt, rw, virtual: rw + imageSize(store, imageOf(store, c)) };
        });
        if (a.json) {
          return deps.out(
            JSON.stringify(
              sized.map(({ c, mnt, rw, virtual }) => ({
                Id: c.Id, Names: [c.Name], Image: c.ImageRef, ImageID: c.Image, Created: c.Created,
                State: mnt ? 'mounted' : 'created', Mountpoint: mnt ?? null, SizeRw: rw, SizeRootFs: virtual, Mounts: c.Volumes,
              })),
              null,
              2,
            ),
          );
        }
        if (a.quiet) return sized.forEach(({ c }) => deps.out(c.Id.slice(0, 12)));
        const headers = ['CONTAINER ID', 'IMAGE', 'CREATED', 'STATUS', 'NAMES'];
        if (a.size) headers.push('SIZE');
        table(
          headers,
          sized.map(({ c, mnt, rw, virtual }) => {
            const row = [c.Id.slice(0, 12), c.ImageRef, ago(c.Created), mnt ? `Mounted on ${mnt}` : 'Created', c.Name];
            if (a.size) row.push(`${humanSize(rw)} (virtual ${humanSize(virtual)})`);
            return row;
          }),
        ).forEach((l) => deps.out(l));
      }),
  };
}

function mount(deps: CliDeps, setCode: Setter): Spec {
  return {
    command: 'mount <container> <mountpoint>',
    describe: 'mount a container: its image layers read-only, its own layer writable, its volumes',
    builder: (y: Argv) => y.positional('container', { type: 'string', demandOption: true }).positional('mountpoint', { type: 'string', demandOption: true }) as never,
    handler: (a) =>
      runStore(deps, setCode, async () => {
        const { store } = openStore(a, true);
        return store.withLock('container mount', async () => {
          const c = resolveContainer(store, a.container!);
          const mnt = mountOf(store, c);
          if (mnt !== undefined) throw new StoreError(`container ${c.Name} is already mounted on ${mnt}`);
          const r = await spawnMount(mountArgs(store, c, resolve(a.mountpoint!)));
          r.stderr.split('\n').filter(Boolean).forEach((l) => deps.err(l));
          return r.code;
        });
      }),
  };
}

/** Unmounts a container; with lazy, detaches a busy one. Returns the umount exit code. */
async function unmountContainer(store: Store, c: Container, lazy: boolean, deps: CliDeps): Promise<number> {
  const mnt = mountOf(store, c);
  if (mnt === undefined) return 0;
  return umount(mnt, lazy, deps);
}

function umountCmd(deps: CliDeps, setCode: Setter): Spec {
  return {
    command: 'umount <container>',
    aliases: ['unmount'],
    describe: 'unmount a container wherever it is mounted',
    builder: (y: Argv) =>
      y.positional('container', { type: 'string', demandOption: true }).option('lazy', { alias: 'l', type: 'boolean', describe: 'detach even if busy' }) as never,
    handler: (a) =>
      runStore(deps, setCode, async () => {
        const { store } = openStore(a, true);
        return store.withLock('container umount', async () => {
          const c = resolveContainer(store, a.container!);
          if (mountOf(store, c) === undefined) throw new StoreError(`container ${c.Name} is not mounted`);
          return unmountContainer(store, c, a.lazy === true, deps);
        });
      }),
  };
}

function rm(deps: CliDeps, setCode: Setter, command: string): Spec {
  return {
    command,
    describe: 'remove containers and their writable layer (the data written in them is lost; volumes stay); -f unmounts first',
    builder: (y: Argv) =>
      y.positional('containers', { type: 'string', array: true, demandOption: true }).option('force', { alias: 'f', type: 'boolean', describe: 'unmount a mounted container first' }) as never,
    handler: (a) =>
      runStore(deps, setCode, async () => {
        const { store } = openStore(a, true);
        let code = 0;
        await store.withLock('rm', async () => {
          for (const ref of a.containers!) {
            try {
              const c = resolveContainer(store, ref);
              const mnt = mountOf(store, c);
              if (mnt !== undefined) {
                if (!a.force) throw new StoreError(`cannot remove container ${c.Name}: it is mounted on ${mnt} (layerfs container umount ${c.Name} first, or rm -f)`);
                if ((await unmountContainer(store, c, false, deps)) !== 0 && (await unmountContainer(store, c, true, deps)) !== 0) {
                  throw new StoreError(`cannot remove container ${c.Name}: cannot unmount ${mnt}`);
                }
              }
              store.discard(containerDir(store, c));
              deps.out(c.Name);
            } catch (err) {
              if (!(err instanceof StoreError)) throw err;
              deps.err(`layerfs: ${err.message}`);
              code = 1;
            }
          }
        });
        return code;
      }),
  };
}

function diff(deps: CliDeps, setCode: Setter, command: string): Spec {
  return {
    command,
    describe: 'list what a container changed: A added, C changed, D deleted (from its writable layer)',
    builder: (y: Argv) => withJson(y.positional('container', { type: 'string', demandOption: true })) as never,
    handler: (a) =>
      runStore(deps, setCode, () => {
        const { store } = openStore(a, false);
        const c = resolveContainer(store, a.container!);
        const image = imageOf(store, c);
        const list = changes(upperOf(store, c), topFirst(image).map((l) => layerDiff(store, l)));
        if (a.json) return deps.out(JSON.stringify(list, null, 2));
        list.forEach((ch) => deps.out(`${ch.Kind} ${ch.Path}`));
      }),
  };
}

function commit(deps: CliDeps, setCode: Setter, command: string): Spec {
  return {
    command,
    describe: "make a new image: the container's image plus its writable layer as a new immutable layer on top",
    builder: (y: Argv) =>
      y
        .positional('container', { type: 'string', demandOption: true })
        .positional('image', { type: 'string', demandOption: true, describe: 'NAME[:TAG] of the new image' })
        .option('message', { alias: 'm', type: 'string', describe: 'a comment stored in the image' }) as never,
    handler: (a) =>
      runStore(deps, setCode, async () => {
        const { store } = openStore(a, true);
        normalizeTag(a.image!);
        const progress = ttyProgress(`committing ${a.container}`);
        try {
          await store.withLock('commit', async () => {
            const c = resolveContainer(store, a.container!);
            const base = imageOf(store, c);
            const { layer } = await importDir(store, upperOf(store, c), `commit:${c.Name}`, progress);
            const layers = [...base.Layers.map((l) => resolveLayer(store, l)), layer];
            const { image } = createImage(store, a.image!, layers, { Parent: base.Id, ...(a.message !== undefined ? { Comment: a.message } : {}) });
            progress.done();
            deps.out(image.Id);
          });
        } finally {
          progress.done();
        }
      }),
  };
}

export function containerCommand(deps: CliDeps, setCode: Setter): CommandModule<object, ContainerArgs> {
  return {
    command: 'container <command>',
    describe: 'create, list, mount, unmount, diff, commit and remove containers',
    builder: (y) =>
      withStore(y)
        .command(create(deps, setCode, 'create <image>'))
        .command(list(deps, setCode, 'ls', ['list', 'ps']))
        .command(mount(deps, setCode))
        .command(umountCmd(deps, setCode))
        .command(rm(deps, setCode, 'rm <containers..>'))
        .command(diff(deps, setCode, 'diff <container>'))
        .command(commit(deps, setCode, 'commit <container> <image>'))
        .demandCommand(1, 'say which container command to run (layerfs container --help)') as never,
    handler: () => undefined,
  };
}

/** Top-level docker-style shortcuts: create, ps, rm, diff, commit. */
export function containerShortcuts(deps: CliDeps, setCode: Setter): Spec[] {
  const wrap = (s: Spec): Spec => ({ ...s, builder: (y) => (s.builder as (y: Argv) => Argv)(withStore(y)) as never });
  return [
    wrap(create(deps, setCode, 'create <image>')),
    wrap(list(deps, setCode, 'ps')),
    wrap(rm(deps, setCode, 'rm <containers..>')),
    wrap(diff(deps, setCode, 'diff <container>')),
    wrap(commit(deps, setCode, 'commit <container> <image>')),
  ];
}
