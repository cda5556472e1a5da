// layerfs layer import|ls|export|rm: the immutable layers of the store, by sha256 digest.
import { createWriteStream } from 'node:fs';
import { exportLayer as exportLayer_, hexOf, importLayer as importLayer_, listLayers, removeLayers, resolveLayer } from '../../store/layers';
import { listImages } from '../../store/images';
import { StoreError } from '../../store/store';
import { humanSize } from '../../store/sizes';
import { UsageError, type CliDeps } from '../deps';
import type { Args } from '../spec';
import { ago, openStore, table, ttyProgress, type StoreArgs } from './store-common';

interface LayerArgs extends StoreArgs {
  source?: string;
  layer?: string;
  layers?: string[];
  output?: string;
  quiet?: boolean;
}

type Run = (a: Args, deps: CliDeps) => Promise<number>;

export const importLayer: Run = async (a, deps) => {
  const { source } = a as LayerArgs;
  const { store } = openStore(a, true);
  const progress = ttyProgress(`importing ${source}`);
  try {
    const r = await importLayer_(store, source!, progress);
    progress.done();
    deps.out(r.layer.Id);
    if (process.stderr.isTTY && r.existed) deps.err('(already stored: the layer is shared)');
    return 0;
  } finally {
    progress.done();
  }
};

export const list: Run = async (a, deps) => {
  const { store } = openStore(a, false);
  const images = listImages(store);
  const layers = listLayers(store)
    .map((l) => ({ ...l, Images: images.filter((i) => i.Layers.includes(l.Id)).length }))
    .sort((x, y) => y.Created.localeCompare(x.Created));
  if (a.json === true) deps.out(JSON.stringify(layers, null, 2));
  else if (a.quiet === true) layers.forEach((l) => deps.out(l.Id));
  else table(['LAYER', 'CREATED', 'SIZE', 'IMAGES', 'SOURCE'], layers.map((l) => [l.Id.slice(0, 19), ago(l.Created), humanSize(l.Size), String(l.Images), l.Source])).forEach((l) => deps.out(l));
  return 0;
};

export const exportLayer: Run = async (a) => {
  const { layer: ref, output } = a as LayerArgs;
  if (output === undefined && process.stdout.isTTY) throw new UsageError('refusing to write a tar stream to a terminal: use -o FILE or a redirect');
  const { store } = openStore(a, false);
  const layer = resolveLayer(store, ref!);
  await exportLayer_(store, layer, output !== undefined ? createWriteStream(output) : process.stdout);
  return 0;
};

export const remove: Run = async (a, deps) => {
  const { store } = openStore(a, true);
  await store.withLock('layer rm', () => {
    const layers = (a as LayerArgs).layers!.map((r) => resolveLayer(store, r));
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
  return 0;
};
