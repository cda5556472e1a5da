// layerfs events: the live trace of a mount started with --trace (copy-ups, whiteouts, creates),
// read from the daemon's log; --follow keeps printing as changes happen.
import { createReadStream, existsSync, statSync, watch } from 'node:fs';
import { resolve } from 'node:path';
import { readState, statePaths } from '../../daemon/runtime';
import { CommandError, type CliDeps } from '../deps';
import type { Args } from '../spec';

/** Trace lines are the log lines that are not pino JSON records (those carry a "level"). */
const isTraceLine = (line: string): boolean => line !== '' && !line.startsWith('{"level"');

export async function run(a: Args, deps: CliDeps): Promise<number> {
  const mnt = resolve(a.mountpoint as string);
  const state = readState(mnt);
  if (state !== undefined && state.trace === undefined) throw new CommandError(`${mnt} was mounted without --trace: nothing is recorded (mount it with --trace text or --trace json)`);
  const log = state?.log ?? statePaths(mnt).log;
  if (!existsSync(log)) throw new CommandError(`no events recorded for ${mnt}: it is not mounted in the background with --trace`);
  let offset = await printFrom(log, 0, deps);
  if (a.follow !== true) return 0;
  await new Promise<void>((res) => {
    const w = watch(log, async () => (offset = await printFrom(log, offset, deps)));
    const stop = (): void => {
      w.close();
      res();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  return 0;
}

async function printFrom(path: string, offset: number, deps: CliDeps): Promise<number> {
  const size = statSync(path).size;
  if (size <= offset) return size;
  let text = '';
  for await (const chunk of createReadStream(path, { start: offset, end: size - 1 })) text += chunk;
  const end = text.lastIndexOf('\n') + 1;
  for (const line of text.slice(0, end).split('\n')) if (isTraceLine(line)) deps.out(line);
  return offset + Buffer.byteLength(text.slice(0, end));
}
