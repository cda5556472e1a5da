// layerfs events: the live trace of a mount started with --trace (copy-ups, whiteouts, creates),
// read from the daemon's log; --follow keeps printing as changes happen.
import { createReadStream, existsSync, statSync, watch } from 'node:fs';
import { resolve } from 'node:path';
import type { CommandModule } from 'yargs';
import { readState, statePaths } from '../../daemon/runtime';
import type { CliDeps } from '../cli';

interface EventsArgs {
  mountpoint: string;
  follow?: boolean;
}

/** Trace lines are the log lines that are not pino JSON records (those carry a "level"). */
const isTraceLine = (line: string): boolean => line !== '' && !line.startsWith('{"level"');

export function eventsCommand(deps: CliDeps, setCode: (c: number) => void): CommandModule<object, EventsArgs> {
  return {
    command: 'events <mountpoint>',
    describe: 'print the changes a mount made (mount it with --trace)',
    builder: (y) =>
      y.positional('mountpoint', { type: 'string', demandOption: true }).option('follow', { alias: 'f', type: 'boolean', describe: 'keep printing new events' }) as never,
    handler: async (args) => {
      const mnt = resolve(args.mountpoint);
      const log = readState(mnt)?.log ?? statePaths(mnt).log;
      if (!existsSync(log)) {
        deps.err(`layerfs: no log for ${mnt}: was it mounted in the background?`);
        setCode(1);
        return;
      }
      let offset = await printFrom(log, 0, deps);
      if (!args.follow) return;
      await new Promise<void>((res) => {
        const w = watch(log, async () => (offset = await printFrom(log, offset, deps)));
        const stop = (): void => {
          w.close();
          res();
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    },
  };
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
