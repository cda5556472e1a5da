// OCI layouts and oci-archives without umoci: layouts written by hand (GNU tar, gzip), imported
// with their diffIDs checked (and refused when they do not match), exported with a config and
// manifest whose digests and sizes match their blobs, and the round trip giving the same image.
import t, { type Test } from 'tap';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { dir, hardlink, WHITEOUT, file, writeTree, type Spec } from '../fixtures/layers';
import { needsRoot } from '../fixtures/overlay';
import * as host from '../../src/host/fs';
import { tempStore } from '../fixtures/store';
import { importLayer, layerDiff, listLayers } from '../../src/store/layers';
import { createImage, listImages, resolveImage } from '../../src/store/images';
import {
  exportOci, formatFor, importOci, ociArch, REF_NAME, tagFor, validRefName, MT, type OciConfig, type OciIndex, type OciManifest,
} from '../../src/store/oci';

const skip = needsRoot;
const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

const setup = (t: Test) => tempStore(t, 'layerfs-oci-');

/** A layer tarball of a spec written in OCI encoding (what image tools put in layers). */
function layerTar(base: string, name: string, spec: Spec): Buffer {
  const p = join(base, `src-${name}`);
  mkdirSync(p);
  writeTree(p, spec, 'oci');
  return execFileSync('tar', ['--numeric-owner', '--xattrs', '--xattrs-include=*', '-C', p, '-cf', '-', ...readdirSync(p).sort()], { maxBuffer: 64 << 20 });
}

interface LayoutOpts {
  gzip?: boolean[];
  refs?: (string | undefined)[];
  diffIds?: string[];
  mediaTypes?: string[];
}

function blob(layout: string, data: Buffer): string {
  const d = sha(data);
  mkdirSync(join(layout, 'blobs', 'sha256'), { recursive: true });
  writeFileSync(join(layout, 'blobs', 'sha256', d.slice(7)), data);
  return d;
}

/** Writes an OCI layout holding one image per entry of `images` (each a list of layer tars, bottom first). */
function makeLayout(layout: string, images: Buffer[][], opts: LayoutOpts = {}): { diffIds: string[][]; blobs: string[][] } {
  mkdirSync(layout, { recursive: true });
  writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const index: OciIndex = { schemaVersion: 2, manifests: [] };
  const all = { diffIds: [] as string[][], blobs: [] as string[][] };
  images.forEach((tars, n) => {
    const descs = tars.map((tar, i) => {
      const gz = opts.gzip?.[i] ?? false;
      const data = gz ? gzipSync(tar) : tar;
      return { mediaType: opts.mediaTypes?.[i] ?? (gz ? MT.layerGzip : MT.layer), digest: blob(layout, data), size: data.length };
    });
    const diffIds = opts.diffIds ?? tars.map(sha);
    const config: OciConfig = { architecture: ociArch(), os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: diffIds } };
    const cb = Buffer.from(JSON.stringify(config));
    const manifest: OciManifest = { schemaVersion: 2, mediaType: MT.manifest, config: { mediaType: MT.config, digest: blob(layout, cb), size: cb.length }, layers: descs };
    const mb = Buffer.from(JSON.stringify(manifest));
    const ref = opts.refs === undefined ? 'v1' : opts.refs[n];
    index.manifests.push({ mediaType: MT.manifest, digest: blob(layout, mb), size: mb.length, ...(ref !== undefined ? { annotations: { [REF_NAME]: ref } } : {}) });
    all.diffIds.push(diffIds);
    all.blobs.push(descs.map((d) => d.digest));
  });
  writeFileSync(join(layout, 'index.json'), JSON.stringify(index));
  return all;
}

const isWh = (p: string): boolean => {
  const st = host.lstat(p);
  return st !== undefined && (st.mode & host.S_IFMT) === host.S_IFCHR && st.rdev === 0;
};

const BASE: Spec = {
  etc: { hosts: 'h\n', gone: 'g\n' },
  opq: { a: 'a', b: 'b' },
  keep: { f: file('data\n', { xattrs: { 'user.note': 'hello' } }), hl: hardlink('f') },
};
const TOP: Spec = { etc: { gone: WHITEOUT, hosts: 'h2\n' }, opq: dir({ c: 'c' }, { opaque: true }) };

t.test('pure helpers: tag from ref name, ref name syntax, format from path, arch', async (t) => {
  t.equal(tagFor('v1', undefined, '/x/My Image.tar'), 'my-image:v1', 'a bare tag goes under the archive name');
  t.equal(tagFor('v1', undefined, '/x/img'), 'img:v1');
  t.equal(tagFor('docker.io/library/alpine:3.20', undefined, '/x/a.tar'), 'docker.io/library/alpine:3.20', 'a full reference as it is');
  t.equal(tagFor('reg/x', undefined, '/x/a'), 'reg/x:latest');
  t.equal(tagFor('v1', 'mine:2', '/x/a'), 'mine:2', '--tag wins');
  t.throws(() => tagFor(undefined, undefined, '/x/a'), /has no name .*--tag NAME\[:TAG\]/);
  t.throws(() => tagFor('Bad:Name!', undefined, '/x/a'), /not a valid layerfs NAME\[:TAG\]: give one with --tag/);
  t.ok(validRefName('img:v4') && validRefName('v1') && validRefName('reg.io/a/b:1.0'));
  t.notOk(validRefName('a b') || validRefName(':x') || validRefName('x/'));
  t.equal(formatFor('/tmp/x.tar'), 'oci-archive');
  t.equal(formatFor('/tmp/nonexistent-dir'), 'oci-dir');
  t.equal(ociArch('x64'), 'amd64');
  t.equal(ociArch('arm64'), 'arm64');
});

t.test('import: layers keep their diffIDs (gzip decompressed), whiteouts, opaque, xattrs, hard links', { skip }, async (t) => {
  const { base, store } = setup(t);
  const tars = [layerTar(base, 'base', BASE), layerTar(base, 'top', TOP)];
  const layout = join(base, 'img');
  const { diffIds, blobs } = makeLayout(layout, [tars], { gzip: [true, false] });
  t.not(blobs[0]![0], diffIds[0]![0], 'a gzip blob digest is not its diffID');
  const r = await importOci(store, layout);
  t.equal(r.tag, 'img:v1');
  t.same(r.image.Layers, diffIds[0], "the store's layer ids are the config's diff_ids, bottom first");
  t.same(r.layers.map((l) => l.existed), [false, false]);
  const top = layerDiff(store, diffIds[0]![1]!);
  const bottom = layerDiff(store, diffIds[0]![0]!);
  t.ok(isWh(join(top, 'etc', 'gone')), '.wh.gone became a kernel whiteout');
  t.equal(host.getxattr(join(top, 'opq'), 'trusted.overlay.opaque')?.toString(), 'y', '.wh..wh..opq became the opaque xattr');
  t.same(readdirSync(join(top, 'opq')), ['c']);
  t.equal(host.getxattr(join(bottom, 'keep', 'f'), 'user.note')?.toString(), 'hello', 'xattr kept');
  t.equal(statSync(join(bottom, 'keep', 'f')).ino, statSync(join(bottom, 'keep', 'hl')).ino, 'hard link kept');
  t.match(listLayers(store).find((l) => l.Id === diffIds[0]![0])?.Source, new RegExp(`^oci:${layout}@${blobs[0]![0]}$`));
  // the same image as an oci-archive: nothing new stored, same image
  const archive = join(base, 'img.tar');
  execFileSync('tar', ['-C', layout, '-cf', archive, '.']);
  const again = await importOci(store, archive, { tag: 'copy' });
  t.equal(again.image.Id, r.image.Id);
  t.same(again.layers.map((l) => l.existed), [true, true]);
  t.same(resolveImage(store, 'copy').RepoTags, ['copy:latest', 'img:v1']);
  t.same(readdirSync(store.tmpDir), [], 'the unpacked archive is gone');
});

t.test('import refusals: diffID mismatch, damaged blob, zstd, not a layout, several images, no name', { skip }, async (t) => {
  const { base, store } = setup(t);
  const tars = [layerTar(base, 'base', BASE), layerTar(base, 'top', TOP)];
  const wrong = sha(Buffer.from('something else'));
  makeLayout(join(base, 'mismatch'), [tars], { gzip: [true, true], diffIds: [sha(tars[0]!), wrong] });
  await t.rejects(importOci(store, join(base, 'mismatch')), {
    message: new RegExp(`^refused: layer 2/2 sha256:[0-9a-f]{12} does not match the image config: its uncompressed tar stream hashes to ${sha(tars[1]!)}, rootfs.diff_ids says ${wrong}$`),
  });
  t.same(listLayers(store), [], 'no layer stored, not even the good first one');
  t.same(listImages(store), []);

  const { blobs } = makeLayout(join(base, 'damaged'), [tars]);
  const p = join(base, 'damaged', 'blobs', 'sha256', blobs[0]![1]!.slice(7));
  const data = readFileSync(p);
  data[600] = data[600]! ^ 1;
  writeFileSync(p, data);
  await t.rejects(importOci(store, join(base, 'damaged')), { message: /^layer 2\/2 sha256:[0-9a-f]{64} is damaged: its content hashes to sha256:/ });

  makeLayout(join(base, 'zstd'), [tars], { mediaTypes: [MT.layer, 'application/vnd.oci.image.layer.v1.tar+zstd'] });
  await t.rejects(importOci(store, join(base, 'zstd')), { message: /layer 2\/2 is zstd-compressed .*plain and gzip layers are read/ });

  makeLayout(join(base, 'count'), [tars], { diffIds: [sha(tars[0]!)] });
  await t.rejects(importOci(store, join(base, 'count')), { message: /manifest lists 2 layers, the config's rootfs.diff_ids 1/ });

  mkdirSync(join(base, 'plain'));
  await t.rejects(importOci(store, join(base, 'plain')), { message: /is not an OCI image layout \(it has no oci-layout file\)/ });
  writeFileSync(join(base, 'notoci.tar'), execFileSync('tar', ['-C', join(base, 'plain'), '-cf', '-', '.']));
  await t.rejects(importOci(store, join(base, 'notoci.tar')), { message: /notoci.tar is not an oci-archive \(the tarball has no oci-layout file\)/ });

  makeLayout(join(base, 'two'), [[tars[0]!], tars], { refs: ['a', 'b'] });
  await t.rejects(importOci(store, join(base, 'two')), { message: /holds 2 images \(a, b\): choose one with --ref NAME/ });
  await t.rejects(importOci(store, join(base, 'two'), { ref: 'c' }), { message: /has no image named c \(it has: a, b\)/ });
  const b = await importOci(store, join(base, 'two'), { ref: 'a' });
  t.equal(b.tag, 'two:a');
  t.equal(b.image.Layers.length, 1);

  makeLayout(join(base, 'anon'), [tars], { refs: [undefined] });
  await t.rejects(importOci(store, join(base, 'anon')), { message: /has no name \(no org.opencontainers.image.ref.name annotation\): give it one with --tag/ });
  t.equal((await importOci(store, join(base, 'anon'), { tag: 'anon:x' })).tag, 'anon:x');
  t.same(readdirSync(store.tmpDir), [], 'no staging left');
});

function readLayout(layout: string, ref: string): { manifest: OciManifest; config: OciConfig; index: OciIndex } {
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as OciIndex;
  const entry = index.manifests.find((m) => m.annotations?.[REF_NAME] === ref)!;
  const read = (d: { digest: string; size: number }): Buffer => {
    const b = readFileSync(join(layout, 'blobs', 'sha256', d.digest.slice(7)));
    if (sha(b) !== d.digest || b.length !== d.size) throw new Error(`blob ${d.digest} does not match its descriptor`);
    return b;
  };
  const manifest = JSON.parse(read(entry).toString()) as OciManifest;
  const config = JSON.parse(read(manifest.config).toString()) as OciConfig;
  manifest.layers.forEach(read);
  return { manifest, config, index };
}

t.test('export: a valid layout and archive, canonical diffIDs, original blobs kept, round trip', { skip }, async (t) => {
  const { base, store } = setup(t);
  // a layer made by layerfs (canonical tar) on top of an imported one
  const tars = [layerTar(base, 'base', BASE)];
  const { diffIds, blobs } = makeLayout(join(base, 'img'), [tars], { gzip: [true] });
  const imported = await importOci(store, join(base, 'img'));
  mkdirSync(join(base, 'top'));
  writeTree(join(base, 'top'), TOP, 'kernel');
  const top = (await importLayer(store, join(base, 'top'))).layer;
  await store.withLock('test', () => createImage(store, 'app:2', [...imported.image.Layers.map((id) => listLayers(store).find((l) => l.Id === id)!), top], { Comment: 'two layers' }));
  const image = resolveImage(store, 'app:2');

  const out = join(base, 'out');
  const r = await exportOci(store, image, out, { requested: 'app:2' });
  t.equal(r.format, 'oci-dir');
  t.equal(r.ref, 'app:2');
  t.same(r.rewritten, []);
  const { manifest, config, index } = readLayout(out, 'app:2');
  t.same(JSON.parse(readFileSync(join(out, 'oci-layout'), 'utf8')), { imageLayoutVersion: '1.0.0' });
  t.equal(index.mediaType, MT.index);
  t.equal(manifest.mediaType, MT.manifest);
  t.equal(manifest.config.mediaType, MT.config);
  t.same(config.rootfs, { type: 'layers', diff_ids: image.Layers }, 'diff_ids are the layer ids');
  t.equal(config.architecture, ociArch());
  t.equal(config.os, 'linux');
  t.equal(config.history?.length, 2);
  t.equal(config.history?.[1]?.comment, 'two layers');
  t.equal(manifest.layers[0]!.digest, blobs[0]![0], 'the imported layer is written as its original (gzip) blob');
  t.equal(manifest.layers[0]!.mediaType, MT.layerGzip);
  t.equal(manifest.layers[1]!.mediaType, MT.layer);
  t.equal(manifest.layers[1]!.digest, top.Id, 'a layerfs layer: its canonical tar, digest = diffID');
  const names = execFileSync('tar', ['-tf', join(out, 'blobs', 'sha256', top.Id.slice(7))]).toString();
  t.match(names, /\.\/etc\/\.wh\.gone\n/, 'OCI whiteouts in the tar');
  t.match(names, /\.\/opq\/\.wh\.\.wh\.\.opq\n/);

  // without the kept blobs, gzip: the canonical tar of every layer
  const gz = await exportOci(store, image, join(base, 'gz'), { gzip: true, original: false, ref: 'gz' });
  const g = readLayout(join(base, 'gz'), 'gz');
  t.same(g.manifest.layers.map((l) => l.mediaType), [MT.layerGzip, MT.layerGzip]);
  t.equal(g.config.rootfs.diff_ids[1], top.Id);
  t.equal(gz.rewritten.length, 1, 'the foreign tar of the imported layer is rewritten');
  t.not(g.config.rootfs.diff_ids[0], diffIds[0]![0]);

  // into an existing layout: a new entry; the same ref replaced
  await exportOci(store, resolveImage(store, 'img:v1'), out, { ref: 'base' });
  await exportOci(store, image, out, { requested: 'app:2' });
  const idx = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')) as OciIndex;
  t.same(idx.manifests.map((m) => m.annotations?.[REF_NAME]), ['base', 'app:2']);
  mkdirSync(join(base, 'busy'));
  writeFileSync(join(base, 'busy', 'x'), 'x');
  await t.rejects(exportOci(store, image, join(base, 'busy')), { message: /is neither empty nor an OCI image layout/ });
  await t.rejects(exportOci(store, image, join(base, 'busy'), { format: 'oci-archive' }), { message: /is a directory/ });
  await t.rejects(exportOci(store, image, join(base, 'x'), { ref: 'bad ref' }), { message: /invalid ref name/ });

  // the archive, then back: the same image, every layer already stored
  const archive = join(base, 'app.tar');
  const a = await exportOci(store, image, archive);
  t.equal(a.format, 'oci-archive');
  const members = execFileSync('tar', ['-tf', archive]).toString().trim().split('\n');
  t.equal(members[0], 'oci-layout');
  t.ok(members.includes('index.json') && members.includes(`blobs/sha256/${top.Id.slice(7)}`));
  t.notOk(readdirSync(base).some((n) => n.endsWith('.tmp')), 'no temporary archive left');
  const back = await importOci(store, archive, { tag: 'back' });
  t.equal(back.image.Id, image.Id, 'the same layers: the same image');
  t.same(back.layers.map((l) => l.existed), [true, true]);
  t.same(readdirSync(store.tmpDir), []);
  t.ok(existsSync(join(store.layersDir, diffIds[0]![0]!.slice(7), 'oci-blob')));
});
