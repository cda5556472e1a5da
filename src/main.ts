#!/usr/bin/env node
// The layerfs command: runs the CLI and exits with its code. The exit is explicit because a
// finished daemon still holds fuse-native's handles; stdout and stderr are synchronous on Linux.
import { runCli } from './cli/cli';

// `layerfs images | head -1`: a reader that goes away is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => process.exit(err.code === 'EPIPE' ? 0 : 1));

runCli(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`layerfs: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
