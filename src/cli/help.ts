// --help, made from spec.ts: the usage line, what the command does, its commands or options, and
// examples.
import { COMMANDS, type CommandSpec, type OptionSpec } from './spec';

const visible = (specs: CommandSpec[]): CommandSpec[] => specs.filter((c) => !c.hidden);

/** "-v, --volume HOSTDIR:/path" */
export function optionLabel(name: string, o: OptionSpec): string {
  const long = name.length === 1 ? `-${name}` : `--${name}`;
  const names = o.alias !== undefined ? `-${o.alias}, ${long}` : long;
  return o.type === 'boolean' ? names : `${names} ${o.value ?? o.type.toUpperCase()}`;
}

/** What help and the man page add to an option's description: its choices, default, repeat. */
export function optionNotes(o: OptionSpec): string {
  const notes: string[] = [];
  if (o.choices !== undefined) notes.push(`one of ${o.choices.join(', ')}`);
  if (o.default !== undefined) notes.push(`default ${o.default}`);
  return notes.length > 0 ? ` [${notes.join('; ')}]` : '';
}

const columns = (rows: [string, string][]): string[] => {
  const width = Math.min(32, Math.max(...rows.map(([a]) => a.length)));
  return rows.map(([a, b]) => (a.length > width ? `  ${a}\n  ${' '.repeat(width)}  ${b}` : `  ${a.padEnd(width)}  ${b}`));
};

export const usageOf = (path: CommandSpec[]): string => {
  const spec = path[path.length - 1];
  const words = ['layerfs', ...path.map((c) => c.name)];
  if (spec === undefined || spec.sub !== undefined) return `${words.join(' ')} COMMAND [OPTIONS]`;
  return [...words, ...(spec.options !== undefined ? ['[OPTIONS]'] : []), ...(spec.args ?? [])].join(' ');
};

export function helpText(path: CommandSpec[]): string {
  const spec = path[path.length - 1];
  const lines = [`Usage: ${usageOf(path)}`, ''];
  if (spec !== undefined) lines.push(spec.describe, '');
  const subs = spec === undefined ? COMMANDS : spec.sub;
  if (subs !== undefined) {
    lines.push('Commands:', ...columns(visible(subs).map((c) => [[c.name, ...(c.args ?? [])].join(' '), c.describe])), '');
  }
  const options = Object.entries(spec?.options ?? {}).filter(([, o]) => !o.hidden);
  const rows: [string, string][] = options.map(([k, o]) => [optionLabel(k, o), o.describe + optionNotes(o)]);
  rows.push(['-h, --help', 'show this help']);
  if (spec === undefined) rows.push(['--version', 'print the version']);
  lines.push('Options:', ...columns(rows), '');
  const examples = spec === undefined ? COMMANDS.flatMap((c) => c.examples?.slice(0, 1) ?? []) : (spec.examples ?? []);
  if (examples.length > 0) lines.push('Examples:', ...examples.flatMap(([cmd, what]) => [`  ${cmd}`, `      ${what}`]), '');
  if (spec === undefined) lines.push('layerfs COMMAND --help shows a command\'s options. Exit status: 0 done, 1 refused or failed, 2 wrong usage.');
  else if (subs !== undefined) lines.push(`layerfs ${path.map((c) => c.name).join(' ')} COMMAND --help shows a command's options.`);
  return lines.join('\n').trimEnd();
}
