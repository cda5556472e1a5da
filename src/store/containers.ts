// Containers: a thin writable layer (upper + work) over an image's layers, plus volumes. A
// container is "running" while it is mounted; its mount is found from the daemons' state files
// (src/daemon/runtime.ts) whose upper is the container's, checked against /proc/self/mountinfo.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { isAbsolute, join, normalize, resolve } from 'node:path';
import { runDir, type MountState } from '../daemon/runtime';
import { mountAt } from '../daemon/mounts';
import { layerDiff, hexOf } from './layers';
import { resolveImage, topFirst, type Image } from './images';
import { StoreError, writeJsonAtomic, type Store } from './store';

export interface Volume {
  /** the host directory */
  Source: string;
  /** where it appears in the container */
  Destination: string;
}

export interface Container {
  /** 64 hex digits */
  Id: string;
  Name: string;
  /** the image id, "sha256:<hex>" */
  Image: string;
  /** the image as the user named it at create */
  ImageRef: string;
  Created: string;
  Volumes: Volume[];
}

const ADJECTIVES = ['brave', 'calm', 'eager', 'gentle', 'happy', 'jolly', 'keen', 'lucid', 'nifty', 'quirky', 'sharp', 'tender'];
const NAMES = ['babbage', 'curie', 'darwin', 'hopper', 'lovelace', 'noether', 'pascal', 'ritchie', 'thompson', 'torvalds', 'turing', 'wozniak'];

export const containerDir = (store: Store, c: Container | string): string => join(store.containersDir, typeof c === 'string' ? c : c.Id);
export const upperOf = (store: Store, c: Container): string => join(containerDir(store, c), 'upper');
export const workOf = (store: Store, c: Container): string => join(containerDir(store, c), 'work');

export function listContainers(store: Store): Container[] {
  if (!existsSync(store.containersDir)) return [];
  return readdirSync(store.containersDir)
    .filter((h) => /^[0-9a-f]{64}$/.test(h) && existsSync(join(store.containersDir, h, 'container.json')))
    .map((h) => store.readJson<Container>(join(store.containersDir, h, 'container.json')))
    .sort((a, b) => b.Created.localeCompare(a.Created));
}

/** A container by name, full id or unique id prefix. */
export function resolveContainer(store: Store, ref: string): Container {
  const all = listContainers(store);
  const byName = all.find((c) => c.Name === ref);
  if (byName) return byName;
  if (/^[0-9a-f]+$/.test(ref)) {
    const byId = all.filter((c) => c.Id.startsWith(ref));
    if (byId.length === 1) return byId[0]!;
    if (byId.length > 1) throw new StoreError(`container id prefix ${ref} is ambiguous`);
  }
  throw new StoreError(`no such container: ${ref}`);
}

/** Where a container is mounted now (a live layerfs mount whose upper is the container's), if anywhere. */
export function mountOf(store: Store, c: Container): string | undefined {
  const upper = upperOf(store, c);
  const dir = join(runDir(), 'mounts');
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return undefined;
  }
  for (const n of names) {
    if (!n.endsWith('.json')) continue;
    let s: MountState;
    try {
      s = JSON.parse(readFileSync(join(dir, n), 'utf8')) as MountState;
    } catch {
      continue;
    }
    if (s.upper !== upper) continue;
    if (mountAt(s.mountpoint)?.fstype === 'fuse.layerfs') return s.mountpoint;
  }
  return undefined;
}

/** Parses -v HOSTDIR:/path (the host directory must exist; the path is absolute in the container). */
export function parseVolume(spec: string): Volume {
  const i = spec.lastIndexOf(':');
  if (i <= 0) throw new StoreError(`invalid volume ${spec}: use HOSTDIR:/path`);
  const host = resolve(spec.slice(0, i));
  const dest = spec.slice(i + 1);
  if (!isAbsolute(dest)) throw new StoreError(`invalid volume ${spec}: the container path ${dest} must be absolute`);
  if (normalize(dest) === '/') throw new StoreError(`invalid volume ${spec}: a volume cannot be mounted over /`);
  let st;
  try {
    st = statSync(host);
  } catch {
    throw new StoreError(`invalid volume ${spec}: the host directory ${host} does not exist`);
  }
  if (!st.isDirectory()) throw new StoreError(`invalid volume ${spec}: ${host} is not a directory`);
  return { Source: host, Destination: normalize(dest).replace(/\/$/, '') };
}

function pickName(taken: Set<string>): string {
  for (let i = 0; i < 1000; i++) {
    const n = `${ADJECTIVES[Math.floor(Math.random() * ADJECTIVES.length)]}_${NAMES[Math.floor(Math.random() * NAMES.length)]}`;
    const name = i < 100 ? n : `${n}${i}`;
    if (!taken.has(name)) return name;
  }
  return `c_${randomBytes(4).toString('hex')}`;
}

export function validName(name: string): boolean {
  return /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name) && !/^[0-9a-f]{64}$/.test(name);
}

/** Creates a container of an image: an empty upper and work, published by one rename. Call under the lock. */
export function createContainer(store: Store, imageRef: string, opts: { name?: string; volumes?: string[] }): Container {
  const image = resolveImage(store, imageRef);
  const volumes = (opts.volumes ?? []).map(parseVolume);
  const dests = volumes.map((v) => v.Destination);
  const dup = dests.find((d, i) => dests.indexOf(d) !== i);
  if (dup !== undefined) throw new StoreError(`the container path ${dup} is given to two volumes`);
  const existing = listContainers(store);
  const taken = new Set(existing.map((c) => c.Name));
  if (opts.name !== undefined) {
    if (!validName(opts.name)) throw new StoreError(`invalid container name ${opts.name}: use letters, digits, _ . - (not starting with _ . -)`);
    if (taken.has(opts.name)) throw new StoreError(`the container name ${opts.name} is already in use`);
  }
  const c: Container = {
    Id: randomBytes(32).toString('hex'),
    Name: opts.name ?? pickName(taken),
    Image: image.Id,
    ImageRef: imageRef,
    Created: new Date().toISOString(),
    Volumes: volumes,
  };
  const staging = store.stagingDir();
  mkdirSync(join(staging, 'upper'), { mode: 0o755 });
  mkdirSync(join(staging, 'work'), { mode: 0o700 });
  writeJsonAtomic(join(staging, 'container.json'), c);
  mkdirSync(store.containersDir, { recursive: true });
  renameSync(staging, containerDir(store, c));
  return c;
}

export function imageOf(store: Store, c: Container): Image {
  try {
    return resolveImage(store, c.Image);
  } catch {
    throw new StoreError(`the store ${store.root} is broken: the image ${hexOf(c.Image).slice(0, 12)} of container ${c.Name} is missing`);
  }
}

/** The arguments of `layerfs mount` for a container: its image's layers top-most first, upper, work, volumes. */
export function mountArgs(store: Store, c: Container, mountpoint: string): string[] {
  const image = imageOf(store, c);
  const args = ['mount'];
  for (const l of topFirst(image)) args.push('--lower', layerDiff(store, l));
  args.push('--upper', upperOf(store, c), '--work', workOf(store, c));
  for (const v of c.Volumes) args.push('--volume', `${v.Source}:${v.Destination}`);
  args.push(mountpoint);
  return args;
}

/** The layerfs entry point to spawn for mounts (dist/main.js next to this build). */
export const layerfsMain = (): string => resolve(__dirname, '..', 'main.js');

/** Runs `layerfs mount` for a container in the background; resolves with its exit code and stderr. */
export function spawnMount(args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [layerfsMain(), ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => res({ code: 1, stderr: err.message }));
    child.on('close', (code) => res({ code: code ?? 1, stderr }));
  });
}
