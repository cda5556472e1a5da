// Where the commands write: stdout and stderr for the real command, buffers in the API.
export interface CliDeps {
  out: (line: string) => void;
  err: (line: string) => void;
}

export const defaultDeps: CliDeps = {
  out: (line) => process.stdout.write(line + '\n'),
  err: (line) => process.stderr.write(line + '\n'),
};

/** A command used wrongly: one line on stderr and exit 2, before anything is done. */
export class UsageError extends Error {}

/** A refusal or failure of a command that was used rightly: one line on stderr and exit 1. */
export class CommandError extends Error {}
