// layerfs layer import|ls|export|rm: the immutable layers of the store, by sha256 digest.
import { createWriteStream } from 'node:fs';
import type { CommandModule } from 'yargs';
import { exportLayer, hexOf, importLayer, listLayers, removeLayers, resolveLayer } from '../../store/layers';
import { listImages } from '../../store/images';
import { StoreError } from '../../store/store';
import { humanSize } from '../../store/sizes';
import type { CliDeps } from '../cli';
import { ago, openStore, runStore, table, ttyProgress, withJson, withStore, type StoreArgs } from './store-common';

interface LayerArgs extends StoreArgs {
  source?: string;
  layer?: string;
  layers?: string[];
  output?: string;
  quiet?: boolean;
}

export function layerCommand(deps: CliDeps, setCode: (c: number) => void): CommandModule<object, LayerArgs> {
  const run = (fn: (a: LayerArgs) => Promise<number | void> | number | void) => (a: unknown) => runStore(deps, setCode, () => fn(a as LayerArgs));
  return {
    command: 'layer <command>',
    describe: 'import, list, export and remove image layers',
    builder: (y) =>
      withStore(y)
        .command({
          command: 'import <source>',
          describe: 'store a directory or a plain/gzip tarball as an immutable layer; prints its digest (sha256 of the tar stream, like Docker\'s diffID)',
          builder: (y2) => y2.positional('source', { type: 'string', demandOption: true, describe: 'DIR or TARBALL (OCI .wh. whiteouts or kernel ones in a DIR)' }),
          handler: run(async (a) => {
            const { store } = openStore(a, true);
            const progress = ttyProgress(`importing ${a.source}`);
            try {
              const r = await importLayer(store, a.source!, progress);
              progress.done();
              deps.out(r.layer.Id);
              if (process.stderr.isTTY && r.existed) deps.err('(already stored: the layer is shared)');
            } catch (err) {
              progress.done();
              throw err;
            }
          }),
        })
        .command({
          command: 'ls',
          aliases: ['list'],
          describe: 'list the stored layers and how many images use each',
          builder: (y2) => withJson(y2).option('quiet', { alias: 'q', type: 'boolean', describe: 'only digests' }),
          handler: run((a) => {
            const { store } = openStore(a, false);
            const images = listImages(store);
            const layers = listLayers(store)
              .map((l) => ({ ...l, Images: images.filter((i) => i.Layers.includes(l.Id)).length }))
              .sort((x, y) => y.Created.localeCompare(x.Created));
            if (a.json) return deps.out(JSON.stringify(layers, null, 2));
            if (a.quiet) return layers.forEach((l) => deps.out(l.Id));
            table(['LAYER', 'CREATED', 'SIZE', 'IMAGES', 'SOURCE'], layers.map((l) => [l.Id.slice(0, 19), ago(l.Created), humanSize(l.Size), String(l.Images), l.Source])).forEach((l) => deps.out(l));
          }),
        })
        .command({
          command: 'export <layer>',
          describe: 'write a layer as a tar stream with OCI whiteouts (importing it gives the same digest)',
          builder: (y2) => y2.positional('layer', { type: 'string', demandOption: true }).option('output', { alias: 'o', type: 'string', describe: 'file to write (default: stdout, not a terminal)' }),
          handler: run(async (a) => {
            const { store } = openStore(a, false);
            const layer = resolveLayer(store, a.layer!);
            if (a.output === undefined && process.stdout.isTTY) throw new StoreError('refusing to write a tar stream to a terminal: use -o FILE or a redirect');
            const to = a.output !== undefined ? createWriteStream(a.output) : process.stdout;
            await exportLayer(store, layer, to);
          }),
        })
        .command({
          command: 'rm <layers..>',
          describe: 'remove layers no image uses',
          builder: (y2) => y2.positional('layers', { type: 'string', array: true, demandOption: true }),
          handler: run(async (a) => {
            const { store } = openStore(a, true);
            await store.withLock('layer rm', () => {
              const layers = a.layers!.map((r) => resolveLayer(store, r));
              const images = listImages(store);
              for (const l of layers) {
                const users = images.filter((i) => i.Layers.includes(l.Id));
                if (users.length > 0) {
                  const names = users.map((i) => i.RepoTags[0] ?? hexOf(i.Id).slice(0, 12)).join(', ');
                  throw new StoreError(`cannot remove layer ${l.Id.slice(0, 19)}: image ${names} uses it`);
                }
              }
              removeLayers(store, layers.map((l) => l.Id));
              layers.forEach((l) => deps.out(`Deleted: ${l.Id}`));
            });
          }),
        })
        .demandCommand(1, 'say which layer command to run (layerfs layer --help)') as never,
    handler: () => undefined,
  };
}
