// layerfs completion [bash|zsh]: a completion script made from spec.ts, so it knows every command,
// option and choice without running layerfs at each Tab.
import { basename } from 'node:path';
import { COMMANDS, type Args, type CommandSpec, type OptionSpec } from '../spec';
import { UsageError, type CliDeps } from '../deps';

interface Level {
  path: string;
  words: string[];
  options: [string, OptionSpec][];
}

const flags = (name: string, o: OptionSpec): string[] => [name.length === 1 ? `-${name}` : `--${name}`, ...(o.alias !== undefined ? [`-${o.alias}`] : [])];

/** Every command path ('', '/image', '/image/create'...) with its words and options. */
function levels(specs: CommandSpec[], path = ''): Level[] {
  const shown = specs.filter((c) => !c.hidden);
  const here: Level = { path, words: shown.flatMap((c) => [c.name, ...(c.aliases ?? [])]), options: [] };
  const below = shown.flatMap((c) =>
    [c.name, ...(c.aliases ?? [])].flatMap((n) =>
      c.sub !== undefined
        ? levels(c.sub, `${path}/${n}`)
        : [{ path: `${path}/${n}`, words: [], options: Object.entries(c.options ?? {}).filter(([, o]) => !o.hidden) }],
    ),
  );
  return [here, ...below];
}

export function bashScript(): string {
  const all = levels(COMMANDS);
  const values: string[] = [];
  for (const l of all) {
    for (const [name, o] of l.options) {
      if (o.type === 'boolean') continue;
      const reply = o.choices !== undefined ? `compgen -W "${o.choices.join(' ')}" -- "$cur"` : o.complete === 'dir' ? 'compgen -d -- "$cur"' : 'compgen -f -- "$cur"';
      values.push(`    ${flags(name, o).map((f) => `'${l.path}:${f}'`).join('|')}) COMPREPLY=($(${reply})); return ;;`);
    }
  }
  const words = all.map((l) => {
    const opts = l.options.flatMap(([n, o]) => flags(n, o));
    const list = [...l.words, ...opts, '--help', ...(l.path === '' ? ['--version'] : [])];
    return `    '${l.path}') words="${list.join(' ')}" ;;`;
  });
  return `# layerfs completion for bash (layerfs completion bash)
_layerfs() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]} path= words= i
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "$path/\${COMP_WORDS[i]}" in
      ${all.filter((l) => l.path !== '').map((l) => `'${l.path}'`).join('|')}) path=$path/\${COMP_WORDS[i]} ;;
    esac
  done
  case "$path:$prev" in
${values.join('\n')}
  esac
  case "$path" in
${words.join('\n')}
  esac
  # a command's own arguments are files and directories: leave them to the default completion
  if [[ $cur == -* || -z $path || $words != -* ]]; then COMPREPLY=($(compgen -W "$words" -- "$cur")); fi
}
complete -o default -F _layerfs layerfs
`;
}

export function run(a: Args, deps: CliDeps): number {
  const shell = (a.shell as string | undefined) ?? (basename(process.env.SHELL ?? '') === 'zsh' ? 'zsh' : 'bash');
  if (shell === 'bash') deps.out(bashScript().trimEnd());
  // zsh runs the bash script through its bash compatibility layer.
  else if (shell === 'zsh') deps.out(`autoload -U +X bashcompinit && bashcompinit\n${bashScript().trimEnd()}`);
  else throw new UsageError(`no completion for the shell ${shell}: bash or zsh`);
  return 0;
}
