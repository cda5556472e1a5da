// The typed API for tests and tools: mount an overlay from code and get a handle with the
// mountpoint, unmount() and the stream of changes. The daemon always runs in its own process:
// a process that serves a FUSE mount must never also use it.
import { spawn } from 'node:child_process';
import { createReadStream, existsSync, statSync, watch } from 'node:fs';
import { join, resolve } from 'node:path';
import { readState } from './daemon/runtime';
import { umount } from './cli/commands/umount';
import { explain, type Origin } from './cli/commands/which';
import type { OverlayEvent } from './overlay/context';

export type { OverlayEvent } from './overlay/context';
export type { Origin } from './cli/commands/which';

const MAIN = join(__dirname, 'main.js');

export interface MountOptions {
  /** Lower layers, top-most first. */
  lowers: string[];
  /** Upper and work directories; omit both for a read-only view. */
  upper?: string;
  work?: string;
  mountpoint: string;
  /** Host directories shown at paths of the view: { '/data': '/srv/data' }. */
  volumes?: Record<string, string>;
  /** Extra -o options (e.g. 'attr_timeout=0', 'volatile'). */
  options?: string[];
  logLevel?: 'error' | 'warn' | 'info' | 'debug';
}

export interface MountHandle {
  readonly mountpoint: string;
  /** The daemon's pid. */
  readonly pid: number;
  /** Unmounts and waits for the daemon to exit; rejects when busy unless lazy. */
  unmount(opts?: { lazy?: boolean }): Promise<void>;
  /** The changes the overlay makes (copy-ups, whiteouts, creates...), from the mount on. */
  events(signal?: AbortSignal): AsyncIterable<OverlayEvent>;
  /** Where a path of the view comes from (see `layerfs which`). */
  which(path: string): Origin;
}

/** Runs the CLI in a child process; rejects with its one-line error. */
function cli(args: string[]): Promise<string> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', rej);
    child.on('close', (code) => (code === 0 ? res(out) : rej(new Error(err.trim().replace(/^layerfs: /, '') || `layerfs exited ${code}`))));
  });
}

/** Mounts an overlay; resolves once the mount answers. */
export async function mount(opts: MountOptions): Promise<MountHandle> {
  const mountpoint = resolve(opts.mountpoint);
  const args = ['mount', '--trace', 'json', '--log-level', opts.logLevel ?? 'warn'];
  for (const l of opts.lowers) args.push('--lower', l);
  if (opts.upper !== undefined) args.push('--upper', opts.upper);
  if (opts.work !== undefined) args.push('--work', opts.work);
  for (const [path, hostDir] of Object.entries(opts.volumes ?? {})) args.push('--volume', `${hostDir}:${path}`);
  if (opts.options?.length) args.push('-o', opts.options.join(','));
  await cli([...args, mountpoint]);
  const state = readState(mountpoint);
  if (state === undefined) throw new Error(`mounted ${mountpoint} but found no daemon state`);
  return {
    mountpoint,
    pid: state.pid,
    unmount: async ({ lazy = false } = {}) => {
      let message = '';
      const code = await umount(mountpoint, lazy, { out: () => undefined, err: (l) => (message = l) });
      if (code !== 0) throw new Error(message.replace(/^layerfs: /, ''));
    },
    events: (signal?: AbortSignal) => followEvents(state.log, signal),
    which: (path: string) => explain(mountpoint, path.startsWith('/') ? path : `/${path}`),
  };
}

/** The JSON trace lines of a mount's log, as they are written, until the signal aborts. */
async function* followEvents(log: string, signal?: AbortSignal): AsyncIterable<OverlayEvent> {
  let offset = 0;
  let pending = '';
  while (!signal?.aborted) {
    const size = existsSync(log) ? statSync(log).size : 0;
    if (size > offset) {
      for await (const chunk of createReadStream(log, { start: offset, end: size - 1 })) pending += chunk;
      offset = size;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.startsWith('{"time"')) continue;
        const { time: _time, ...ev } = JSON.parse(line) as OverlayEvent & { time: string };
        yield ev;
      }
      continue;
    }
    await new Promise<void>((res) => {
      const w = watch(log, () => done());
      const t = setTimeout(() => done(), 200);
      const done = (): void => {
        w.close();
        clearTimeout(t);
        signal?.removeEventListener('abort', done);
        res();
      };
      signal?.addEventListener('abort', done);
    });
  }
}
