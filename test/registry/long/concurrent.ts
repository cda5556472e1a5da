// Pulls at the same time into one store: two processes, and two calls in one process, pulling
// images that share layers fetch each shared layer once (the per-layer lock), and a layer the store
// already holds is not fetched at all.
import t from 'tap';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createImage } from '../../../src/store/images';
import { listLayers, resolveLayer } from '../../../src/store/layers';
import { Store } from '../../../src/store/store';
import { pull, push } from '../../../src/registry';
import { tempStore } from '../../fixtures/store';
import { makeImage, registrySkip, startProxy, startRegistry } from '../fixtures/registry';

const CHILD = join(__dirname, '..', 'fixtures', 'pull-child.js');

function child(root: string, ref: string): Promise<{ code: number; out: string; err: string }> {
  return new Promise((res, rej) => {
    // tap's loaders are not for this child: ts-node alone
    const env = { ...process.env, NODE_OPTIONS: '' };
    const c = spawn(process.execPath, [CHILD, root, ref], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    c.on('error', rej);
    c.on('close', (code) => res({ code: code ?? -1, out, err }));
  });
}

t.test('two processes and two calls pulling shared layers fetch each once', { skip: registrySkip }, async (t) => {
  const reg = await startRegistry(t);
  const { base, store } = tempStore(t, 'layerfs-reg-conc-');
  const shared: Record<string, Buffer>[] = [{ 'base.bin': randomBytes(3 << 20) }, { 'mid.bin': randomBytes(2 << 20) }];
  const one = await makeImage(store, base, 'one:1', [...shared, { 'one.txt': 'one\n' }]);
  const top = await makeImage(store, base, 'top:1', [{ 'two.txt': 'two\n' }]);
  const two = await store.withLock('test', () => createImage(store, 'two:1', [...one.Layers.slice(0, 2), ...top.Layers].map((id) => resolveLayer(store, id))).image);
  const p1 = await push(store, 'one:1', `${reg.host}/c/one:1`, { tlsVerify: false });
  const p2 = await push(store, 'two:1', `${reg.host}/c/two:1`, { tlsVerify: false });
  const proxy = await startProxy(t, reg.host);
  const gets = (digest: string): number => proxy.requests.filter((r) => r.method === 'GET' && r.url.endsWith(`/blobs/${digest}`)).length;

  const root = join(base, 'shared-store');
  const [a, b] = await Promise.all([child(root, `${proxy.host}/c/one:1`), child(root, `${proxy.host}/c/two:1`)]);
  t.equal(a.code, 0, a.err);
  t.equal(b.code, 0, b.err);
  t.equal(JSON.parse(a.out).image, one.Id);
  t.equal(JSON.parse(b.out).image, two.Id);
  for (const [i, l] of p1.layers.slice(0, 2).entries()) t.equal(gets(l.digest), 1, `shared layer ${i + 1} fetched once by the two processes`);
  t.equal(gets(p1.layers[2]!.digest), 1);
  t.equal(gets(p2.layers[2]!.digest), 1);
  const existed = [...(JSON.parse(a.out).layers as { existed: boolean }[]), ...(JSON.parse(b.out).layers as { existed: boolean }[])].filter((l) => l.existed).length;
  t.equal(existed, 2, 'each shared layer was stored by one process and found by the other');
  t.equal(listLayers(new Store(root)).length, 4);

  // in one process, two Store objects on another root, plus a layer already there
  const root2 = join(base, 'second');
  const s1 = new Store(root2);
  await pull(s1, `${proxy.host}/c/one:1`, { tlsVerify: false, authFiles: [] }).then(() => undefined);
  const before = proxy.requests.length;
  const [x, y] = await Promise.all([
    pull(s1, `${proxy.host}/c/two:1`, { tlsVerify: false, authFiles: [] }),
    pull(new Store(root2), `${proxy.host}/c/two:1`, { tlsVerify: false, authFiles: [] }),
  ]);
  t.equal(x.image.Id, two.Id);
  t.equal(y.image.Id, two.Id);
  const blobGets = proxy.requests.slice(before).filter((r) => r.method === 'GET' && /\/blobs\//.test(r.url)).map((r) => r.url.split('/').pop());
  t.same(blobGets.sort(), [p2.config.digest, p2.config.digest, p2.layers[2]!.digest].sort(), 'each call read the config; the new layer was fetched once; the layers the store had, never');
  t.same(readdirSync(s1.locksDir), [], 'no lock left');
  t.same(readdirSync(s1.tmpDir), [], 'no staging left');
});
