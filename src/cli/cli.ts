// The command line: parse and check everything (parse.ts), then load only the module of the one
// command that runs. Handlers return exit codes; only main.ts exits the process.
// Exit status: 0 done, 1 refused or failed (one line saying why), 2 wrong usage.
import { parse } from './parse';
import { helpText } from './help';
import { defaultDeps, UsageError, type CliDeps } from './deps';
import type { Handler } from './spec';

export { defaultDeps, type CliDeps } from './deps';

/** Parses argv and runs the command; resolves with the exit code. */
export async function runCli(argv: string[], deps: CliDeps = defaultDeps): Promise<number> {
  try {
    const parsed = parse(argv);
    if (parsed.kind === 'version') {
      deps.out((require('../../package.json') as { version: string }).version);
      return 0;
    }
    if (parsed.kind === 'help') {
      deps.out(helpText(parsed.path));
      return 0;
    }
    const [file, name] = parsed.spec.run!;
    const handler = (require(`./commands/${file}`) as Record<string, Handler>)[name]!;
    return await handler(parsed.args, deps);
  } catch (err) {
    // Refusals are typed errors whose message is the one line to show; the usage ones exit 2.
    deps.err(`layerfs: ${(err as Error).message.split('\n')[0]}`);
    return err instanceof UsageError ? 2 : 1;
  }
}
