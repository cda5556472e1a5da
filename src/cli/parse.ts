// From argv to one command and its checked arguments, or a UsageError naming what is wrong.
// Nothing runs before the whole command line is known to be right: an unknown command or
// option, a missing or extra argument, a value not among the choices or given twice is refused
// here. yargs's own parser (yargs/helpers) splits the options; every rule about them comes from spec.ts.
import type { Parser } from 'yargs/helpers';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { COMMANDS, findCommand, MOUNT_HELPER, type Args, type CommandSpec, type OptionSpec } from './spec';
import { UsageError } from './deps';
import { mountAt } from '../daemon/mounts';

export type Parsed =
  | { kind: 'run'; spec: CommandSpec; args: Args }
  | { kind: 'help'; path: CommandSpec[] }
  | { kind: 'version' };

const HELP = new Set(['-h', '--help']);
const LAYER_FLAGS = new Set(['-o', '--lower', '--upper', '--work']);

const visible = (specs: CommandSpec[]): CommandSpec[] => specs.filter((c) => !c.hidden);

/** The number of single-character edits from a to b. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/** "unknown command X (did you mean Y?)" when one name is close enough to be a typo. */
function unknownCommand(word: string, specs: CommandSpec[], what: string, listing: string): UsageError {
  const names = visible(specs).flatMap((c) => [c.name, ...(c.aliases ?? [])]);
  const scored = names.map((n) => ({ n, d: n.startsWith(word) || word.startsWith(n) ? 1 : distance(word, n) }));
  const best = Math.min(...scored.map((s) => s.d));
  const near = scored.filter((s) => s.d === best).map((s) => s.n);
  const hint = best <= Math.max(1, Math.floor(word.length / 3)) ? `did you mean ${near.join(' or ')}? ` : '';
  return new UsageError(`unknown ${what} ${word} (${hint}${listing} lists them)`);
}

/** `-o VALUE` pairs only. */
const onlyOptionPairs = (tokens: string[]): boolean =>
  tokens.length > 0 && tokens.length % 2 === 0 && tokens.every((t, i) => (i % 2 === 0 ? t === '-o' : t !== ''));

/** podman's `-o OPTS MOUNTPOINT`, or mount.fuse3's `SOURCE MOUNTPOINT -o OPTS`, exactly. */
function helperForm(argv: string[]): string[] | undefined {
  const last = argv[argv.length - 1];
  if (argv[0] === '-o' && last !== undefined && !last.startsWith('-') && onlyOptionPairs(argv.slice(0, -1))) return [...argv.slice(0, -1), '--', last];
  const [source, mnt, ...rest] = argv;
  if (source === undefined || mnt === undefined || source.startsWith('-') || mnt.startsWith('-')) return undefined;
  if (findCommand(COMMANDS, source) !== undefined || !onlyOptionPairs(rest)) return undefined;
  return [...rest, '--', mnt];
}

type Split = Record<string, unknown> & { _: string[]; '--'?: string[] };

/** Splits tokens into options and words with yargs's parser, loaded only when a command has tokens to split. */
function split(tokens: string[], options: Record<string, OptionSpec>): Split {
  const parser = (require('yargs/helpers') as { Parser: typeof Parser }).Parser;
  return parser(tokens, parserOptions(options)) as unknown as Split;
}

/** The parser configuration of a command's options. */
function parserOptions(options: Record<string, OptionSpec>): Parser.Options {
  const of = (type: OptionSpec['type']): string[] => Object.keys(options).filter((k) => options[k]!.type === type);
  const alias: Record<string, string[]> = { help: ['h'] };
  for (const [k, o] of Object.entries(options)) if (o.alias !== undefined) alias[k] = [o.alias];
  return {
    string: of('string'), boolean: [...of('boolean'), 'help'], number: of('number'), alias,
    configuration: {
      'camel-case-expansion': false, 'strip-aliased': true, 'duplicate-arguments-array': true, 'unknown-options-as-args': true,
      'boolean-negation': false, 'populate--': true, 'dot-notation': false, 'parse-numbers': false, 'parse-positional-numbers': false,
    },
  };
}

const flag = (name: string): string => (name.length === 1 ? `-${name}` : `--${name}`);

/** Checks each option's value against its spec: known, given once unless repeatable, a value, one of the choices. */
function checkOptions(raw: Record<string, unknown>, options: Record<string, OptionSpec>, usage: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (key === '_' || key === '--' || key === 'help') continue;
    const o = options[key];
    if (o === undefined) throw new UsageError(`unknown option ${flag(key)} (${usage} --help lists them)`);
    const list = Array.isArray(value) ? value : [value];
    if (list.length > 1 && o.type !== 'boolean' && o.repeat !== true) throw new UsageError(`${flag(key)} is given twice`);
    for (const v of list) {
      if (o.type === 'string' && v === '') throw new UsageError(`${flag(key)} needs a value`);
      if (o.type === 'number' && !Number.isInteger(v)) throw new UsageError(`${flag(key)} needs a whole number`);
      if (o.type === 'boolean' && typeof v !== 'boolean') throw new UsageError(`${flag(key)} takes no value`);
      if (o.choices !== undefined && !o.choices.includes(v as string)) {
        throw new UsageError(`${flag(key)} must be ${o.choices.join(', ').replace(/, ([^,]*)$/, ' or $1')} (not ${JSON.stringify(v)})`);
      }
    }
    out[key] = o.repeat === true ? list : list[list.length - 1];
  }
  for (const [key, o] of Object.entries(options)) if (out[key] === undefined && o.default !== undefined) out[key] = o.default;
  return out;
}

/** Assigns the positionals to the spec's argument names, refusing missing and extra ones. */
function assignPositionals(words: string[], spec: CommandSpec, usage: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const specs = spec.args ?? [];
  let i = 0;
  for (const a of specs) {
    const name = a.slice(1, -1).replace(/\.\.$/, '');
    if (a.endsWith('..>')) {
      if (i >= words.length) throw new UsageError(`missing ${a}: ${usage} ${specs.join(' ')}`);
      out[name] = words.slice(i);
      i = words.length;
    } else if (i < words.length) out[name] = words[i++];
    else if (a.startsWith('<')) throw new UsageError(`missing ${a}: ${usage} ${specs.join(' ')}`);
  }
  if (i < words.length) throw new UsageError(`unexpected argument ${words[i]}: ${usage} ${specs.join(' ')}`);
  return out;
}

/** Parses one command's tokens; a help flag anywhere before `--` asks for its help instead. */
function parseCommand(tokens: string[], path: CommandSpec[]): Parsed {
  const spec = path[path.length - 1]!;
  const usage = `layerfs ${path.map((c) => c.name).join(' ')}`;
  const dashdash = tokens.indexOf('--');
  if ((dashdash < 0 ? tokens : tokens.slice(0, dashdash)).some((t) => HELP.has(t))) return { kind: 'help', path };
  const options = spec.options ?? {};
  const raw = split(tokens, options);
  const stray = raw._.find((w) => w.startsWith('-') && w !== '-');
  if (stray !== undefined) throw new UsageError(`unknown option ${stray.split('=')[0]} (${usage} --help lists them)`);
  const args = { ...checkOptions(raw, options, usage), ...assignPositionals([...raw._.map(String), ...(raw['--'] ?? [])], spec, usage) };
  return { kind: 'run', spec, args };
}

/** The words of tokens that are not options or their values, for this spec's options. */
function positionals(tokens: string[], spec: CommandSpec): string[] {
  const raw = split(tokens, spec.options ?? {});
  return [...raw._.filter((w) => !w.startsWith('-')).map(String), ...(raw['--'] ?? [])];
}

/**
 * The Docker-like short forms: `mount CONTAINER MOUNTPOINT` (two words, no layers given) and
 * `umount CONTAINER` (a bare name that is neither mounted nor a directory here).
 */
function containerForm(spec: CommandSpec, tokens: string[]): CommandSpec | undefined {
  // Words are counted with the container command's options, so its --store VALUE is no word.
  const form = findCommand(findCommand(COMMANDS, 'container')!.sub!, spec.name)!;
  if (spec.name === 'mount') {
    if (tokens.some((t) => LAYER_FLAGS.has(t.split('=')[0]!) || t.startsWith('-o'))) return undefined;
    return positionals(tokens, form).length === 2 ? form : undefined;
  }
  const words = positionals(tokens, form);
  const name = words[0];
  if (words.length !== 1 || name === undefined || name.includes('/')) return undefined;
  const path = resolve(name);
  return mountAt(path) === undefined && !existsSync(path) ? form : undefined;
}

export function parse(argv: string[]): Parsed {
  const first = argv[0];
  if (first === undefined) throw new UsageError('no command given (layerfs --help lists them)');
  if (argv.length === 1 && first === '--version') return { kind: 'version' };
  if (HELP.has(first)) return { kind: 'help', path: [] };
  const helper = helperForm(argv);
  if (helper !== undefined) return parseCommand(helper, [MOUNT_HELPER]);
  if (first.startsWith('-')) throw new UsageError(`unknown option ${first.split('=')[0]}: the command comes first (layerfs --help lists them)`);
  let spec = findCommand(visible(COMMANDS), first);
  if (spec === undefined) throw unknownCommand(first, COMMANDS, 'command', 'layerfs --help');
  const path = [spec];
  let rest = argv.slice(1);
  while (spec.sub !== undefined) {
    const word = rest[0];
    const usage = `layerfs ${path.map((c) => c.name).join(' ')}`;
    if (word === undefined) throw new UsageError(`${usage} needs a command: ${visible(spec.sub).map((c) => c.name).join(', ')}`);
    if (HELP.has(word)) return { kind: 'help', path };
    const sub = findCommand(spec.sub, word);
    if (sub === undefined) throw unknownCommand(word, spec.sub, `${spec.name} command`, `${usage} --help`);
    path.push((spec = sub));
    rest = rest.slice(1);
  }
  if (path.length === 1 && (spec.name === 'mount' || spec.name === 'umount') && !rest.some((t) => HELP.has(t))) {
    const container = containerForm(spec, rest);
    if (container !== undefined) return parseCommand(rest, [findCommand(COMMANDS, 'container')!, container]);
  }
  return parseCommand(rest, path);
}
