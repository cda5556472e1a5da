// Every command of layerfs as data: the parser, --help, the shell completion and the man page
// are all made from this table. It imports nothing heavy: a command's code is loaded only when
// that command runs, so `layerfs --version` and `--help` start as fast as node itself.
import type { CliDeps } from './deps';
import { LOG_LEVELS } from '../daemon/logger';

export interface OptionSpec {
  type: 'string' | 'boolean' | 'number';
  describe: string;
  alias?: string;
  /** May be given more than once; the values are kept in order. */
  repeat?: boolean;
  choices?: readonly string[];
  /** The value's name in help and the man page (DIR, LEVEL...). */
  value?: string;
  default?: string;
  hidden?: boolean;
  /** Completed as a directory or file name by the shell. */
  complete?: 'dir' | 'file';
}

/** What a command's code exports: it gets the checked arguments and answers an exit code. */
export type Handler = (args: Args, deps: CliDeps) => Promise<number> | number;
export type Args = Record<string, unknown>;

export interface CommandSpec {
  name: string;
  aliases?: string[];
  /** Positionals: `<x>` required, `[x]` optional, `<x..>` one or more. */
  args?: string[];
  describe: string;
  options?: Record<string, OptionSpec>;
  examples?: [string, string][];
  /** A group: the next word names one of these. */
  sub?: CommandSpec[];
  hidden?: boolean;
  /** The module under commands/ and its export that runs the command. */
  run?: [string, string];
}

const store: Record<string, OptionSpec> = {
  store: { type: 'string', value: 'DIR', complete: 'dir', describe: 'the store directory (default: $LAYERFS_STORE, else /var/lib/layerfs)' },
};
const json: Record<string, OptionSpec> = { json: { type: 'boolean', describe: 'print JSON instead of a table' } };

const mountOptions: Record<string, OptionSpec> = {
  o: { type: 'string', repeat: true, value: 'OPTS', describe: 'mount -t overlay options: lowerdir=TOP:...:BOTTOM,upperdir=U,workdir=W[,ro,volatile,...]' },
  lower: { type: 'string', repeat: true, value: 'DIR', complete: 'dir', describe: 'a lower layer, top-most first (repeat)' },
  upper: { type: 'string', value: 'DIR', complete: 'dir', describe: 'the writable upper directory' },
  work: { type: 'string', value: 'DIR', complete: 'dir', describe: 'the work directory (empty, same filesystem as --upper)' },
  foreground: { type: 'boolean', alias: 'f', describe: 'stay attached; unmount on Ctrl-C (SIGINT) or SIGTERM' },
  'log-level': { type: 'string', choices: LOG_LEVELS, default: 'warn', value: 'LEVEL', describe: 'debug logs every operation' },
  trace: { type: 'string', choices: ['text', 'json'], value: 'STYLE', describe: 'record each copy-up, whiteout and create for layerfs events' },
  volume: { type: 'string', alias: 'v', repeat: true, value: 'HOSTDIR:/path', describe: 'show a host directory at /path of the view (repeat)' },
  'whiteout-format': { type: 'string', choices: ['kernel', 'oci'], value: 'FORMAT', describe: 'force the format of new whiteouts (default: kernel when privileged)' },
  'ready-fd': { type: 'number', hidden: true, describe: 'the daemon writes "ok" or "error WHY" there once mounted' },
};

const containerMount: CommandSpec = {
  name: 'mount', args: ['<container>', '<mountpoint>'], run: ['container', 'mount'],
  describe: 'mount a container: its image layers read-only, its own layer writable, its volumes',
  options: store,
};
const containerUmount: CommandSpec = {
  name: 'umount', aliases: ['unmount'], args: ['<container>'], run: ['container', 'unmount'],
  describe: 'unmount a container wherever it is mounted',
  options: { ...store, lazy: { type: 'boolean', alias: 'l', describe: 'detach even if busy' } },
};

const layerCommands: CommandSpec[] = [
  {
    name: 'import', args: ['<source>'], run: ['layer', 'importLayer'], options: store,
    describe: "store a directory or a plain/gzip tarball as an immutable layer; prints its digest (sha256 of the tar stream, like Docker's diffID)",
    examples: [['layerfs layer import ./rootfs.tar.gz', 'store a tarball; prints sha256:...']],
  },
  {
    name: 'ls', aliases: ['list'], run: ['layer', 'list'], describe: 'list the stored layers and how many images use each',
    options: { ...store, ...json, quiet: { type: 'boolean', alias: 'q', describe: 'only digests' } },
  },
  {
    name: 'export', args: ['<layer>'], run: ['layer', 'exportLayer'],
    describe: 'write a layer as a tar stream with OCI whiteouts (importing it gives the same digest)',
    options: { ...store, output: { type: 'string', alias: 'o', value: 'FILE', complete: 'file', describe: 'file to write (default: stdout, not a terminal)' } },
  },
  { name: 'rm', args: ['<layers..>'], run: ['layer', 'remove'], describe: 'remove layers no image uses', options: store },
];

const imageList: CommandSpec = {
  name: 'ls', aliases: ['list'], run: ['image', 'list'], describe: 'list images (SIZE counts each of its layers, shared or not)',
  options: { ...store, ...json, quiet: { type: 'boolean', alias: 'q', describe: 'only image ids' } },
};
const imageRm: CommandSpec = {
  name: 'rm', args: ['<images..>'], run: ['image', 'remove'], options: store,
  describe: 'remove images; refused while a container uses one; frees the layers no other image uses',
};

const imageCommands: CommandSpec[] = [
  {
    name: 'create', args: ['<name>', '<layers..>'], run: ['image', 'create'], options: store,
    describe: 'make an image NAME[:TAG] from stored layers, given BOTTOM FIRST (base layer first, top-most last)',
    examples: [['layerfs image create web:1 sha256:1a2b sha256:3c4d', 'base layer 1a2b, then 3c4d on top']],
  },
  imageList,
  { name: 'inspect', args: ['<target..>'], run: ['image', 'inspectImages'], options: store, describe: 'show images as JSON (Id, RepoTags, Created, Size, RootFS)' },
  imageRm,
  {
    name: 'import', args: ['<path>'], run: ['image', 'importImage'],
    describe: 'store an image from an OCI image layout directory or an oci-archive tarball; prints its id',
    options: {
      ...store,
      ref: { type: 'string', value: 'NAME', describe: 'which image of the index, by its org.opencontainers.image.ref.name (needed when it holds several)' },
      tag: { type: 'string', value: 'NAME[:TAG]', describe: 'the tag to give it (default: its ref name)' },
    },
    examples: [['layerfs image import ./img --ref v2', 'an umoci layout: tagged img:v2']],
  },
  {
    name: 'export', args: ['<image>'], run: ['image', 'exportImage'],
    describe: 'write an image as an oci-archive tarball or an OCI image layout directory; prints the manifest digest',
    options: {
      ...store,
      output: { type: 'string', alias: 'o', value: 'PATH', complete: 'file', describe: 'the archive FILE (PATH.tar) or layout DIR (required)' },
      format: { type: 'string', choices: ['oci-archive', 'oci-dir'], value: 'FORMAT', describe: 'default: oci-archive when PATH ends in .tar or is a file, else oci-dir' },
      ref: { type: 'string', value: 'NAME', describe: "the org.opencontainers.image.ref.name to write (default: the image's NAME:TAG)" },
      gzip: { type: 'boolean', describe: 'gzip-compress the layer blobs' },
    },
    examples: [['layerfs image export web:1 -o web-1.tar', 'an oci-archive for skopeo or podman']],
  },
];

const containerCreate: CommandSpec = {
  name: 'create', args: ['<image>'], run: ['container', 'create'],
  describe: 'create a container of an image: an empty writable layer on top of its layers',
  options: {
    ...store,
    name: { type: 'string', value: 'NAME', describe: 'the container name (default: a generated one)' },
    volume: { type: 'string', alias: 'v', repeat: true, value: 'HOSTDIR:/path', describe: 'writes under /path go to HOSTDIR and survive rm (repeat)' },
  },
  examples: [['layerfs create --name c1 -v /srv/data:/data web:1', 'a container whose /data is /srv/data']],
};
const containerList: CommandSpec = {
  name: 'ls', aliases: ['list', 'ps'], run: ['container', 'list'],
  describe: 'list mounted containers (-a: all); -s adds SIZE: the container layer, and (virtual ...) with the image',
  options: {
    ...store, ...json,
    all: { type: 'boolean', alias: 'a', describe: 'also containers not mounted' },
    size: { type: 'boolean', alias: 's', describe: 'show sizes' },
    quiet: { type: 'boolean', alias: 'q', describe: 'only ids' },
  },
};
const containerRm: CommandSpec = {
  name: 'rm', args: ['<containers..>'], run: ['container', 'remove'],
  describe: 'remove containers and their writable layer (volumes stay); -f unmounts first',
  options: { ...store, force: { type: 'boolean', alias: 'f', describe: 'unmount a mounted container first' } },
};
const containerDiff: CommandSpec = {
  name: 'diff', args: ['<container>'], run: ['container', 'diff'], options: { ...store, ...json },
  describe: 'list what a container changed: A added, C changed, D deleted',
};
const containerCommit: CommandSpec = {
  name: 'commit', args: ['<container>', '<image>'], run: ['container', 'commit'],
  describe: "make a new image: the container's image plus its writable layer as a new layer on top",
  options: { ...store, message: { type: 'string', alias: 'm', value: 'TEXT', describe: 'a comment stored in the image' } },
};

/** A top-level short form of a group's command (docker's `images`, `ps`, `rmi`...). */
const shortcut = (spec: CommandSpec, name: string, describe = spec.describe): CommandSpec => ({ ...spec, name, aliases: [], describe });

export const COMMANDS: CommandSpec[] = [
  {
    name: 'mount', args: ['<mountpoint>'], run: ['mount', 'mount'], options: mountOptions,
    describe: 'mount an overlay of layer directories (like mount -t overlay), or a container: layerfs mount CONTAINER MOUNTPOINT',
    examples: [
      ['layerfs mount --lower /img/l2 --lower /img/l1 --upper /c/u --work /c/w /mnt/c', 'a writable overlay, top-most layer first'],
      ['layerfs mount -o lowerdir=/img/l2:/img/l1 /mnt/view', 'a read-only view, in the syntax of mount -t overlay'],
      ['layerfs mount c1 /mnt/c1', 'mount the container c1'],
    ],
  },
  {
    name: 'umount', aliases: ['unmount'], args: ['<mountpoint>'], run: ['umount', 'run'],
    describe: 'unmount a layerfs mount (or a container, by name) and stop its daemon',
    options: { lazy: { type: 'boolean', alias: 'l', describe: 'detach now even if busy' } },
    examples: [['layerfs umount /mnt/c', 'refused while busy, naming who holds it']],
  },
  {
    name: 'events', args: ['<mountpoint>'], run: ['events', 'run'],
    describe: 'print the changes a mount made (mount it with --trace)',
    options: { follow: { type: 'boolean', alias: 'f', describe: 'keep printing new events' } },
    examples: [['layerfs events -f /mnt/c', 'follow copy-ups and whiteouts live']],
  },
  {
    name: 'which', args: ['<path>'], run: ['which', 'run'], options: json,
    describe: 'tell which layer a path of a mounted view comes from',
    examples: [['layerfs which /mnt/c/etc/hosts', 'upper, which lower layer, or a volume; and what it hides']],
  },
  { name: 'layer', describe: 'import, list, export and remove image layers', sub: layerCommands },
  { name: 'image', describe: 'create, list, inspect, remove, import and export (OCI) images', sub: imageCommands },
  {
    name: 'container', describe: 'create, list, mount, unmount, diff, commit and remove containers',
    sub: [containerCreate, containerList, containerMount, containerUmount, containerRm, containerDiff, containerCommit],
  },
  shortcut(imageList, 'images'),
  shortcut(imageRm, 'rmi'),
  { name: 'inspect', args: ['<target..>'], run: ['image', 'inspectAny'], options: store, describe: 'show images or containers as JSON, like docker inspect' },
  shortcut(containerCreate, 'create'),
  shortcut(containerList, 'ps'),
  shortcut(containerRm, 'rm'),
  shortcut(containerDiff, 'diff'),
  shortcut(containerCommit, 'commit'),
  {
    name: 'completion', args: ['[shell]'], run: ['completion', 'run'],
    describe: 'print the shell completion script: bash, or zsh (default: zsh when $SHELL is zsh, else bash)',
    examples: [['source <(layerfs completion bash)', 'complete layerfs commands in this shell']],
  },
];

/**
 * The mount-helper forms: mount(8) through mount.fuse3 runs `layerfs SOURCE MOUNTPOINT -o OPTS`,
 * podman's mount_program `layerfs -o OPTS MOUNTPOINT`. Not a command anyone types.
 */
export const MOUNT_HELPER: CommandSpec = { name: 'mount', args: ['<mountpoint>'], run: ['mount', 'mount'], options: mountOptions, describe: '', hidden: true };

/** The command named `word` among `specs` (by name or alias). */
export const findCommand = (specs: CommandSpec[], word: string): CommandSpec | undefined =>
  specs.find((c) => c.name === word || (c.aliases ?? []).includes(word));
