// Credentials kept like podman's auth.json: {"auths": {"HOST[:PORT]": {"auth": base64("user:password")}}}.
// layerfs writes its own file (mode 0600, in a 0700 directory, replaced in one rename) and reads,
// after it, podman's and docker's, so a machine already logged in with those tools needs no login.
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { RegistryError } from './errors';
import { DOCKER_HUB } from './reference';

export interface Credentials {
  username: string;
  password: string;
}

interface AuthFile {
  auths?: Record<string, { auth?: string }>;
  [other: string]: unknown;
}

/** layerfs's own auth file: LAYERFS_AUTH_FILE, else $XDG_CONFIG_HOME/layerfs/auth.json (~/.config/layerfs/auth.json). */
export function defaultAuthFile(): string {
  if (process.env.LAYERFS_AUTH_FILE) return process.env.LAYERFS_AUTH_FILE;
  return join(process.env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'layerfs', 'auth.json');
}

/** The files credentials are looked up in, first match wins: layerfs's, then podman's, then docker's. */
export function authFiles(own: string = defaultAuthFile()): string[] {
  const files = [own];
  if (process.env.REGISTRY_AUTH_FILE) files.push(process.env.REGISTRY_AUTH_FILE);
  if (process.env.XDG_RUNTIME_DIR) files.push(join(process.env.XDG_RUNTIME_DIR, 'containers', 'auth.json'));
  files.push(join(homedir(), '.config', 'containers', 'auth.json'), join(homedir(), '.docker', 'config.json'));
  return files;
}

function readAuthFile(path: string): AuthFile {
  if (!existsSync(path)) return {};
  try {
    const v = JSON.parse(readFileSync(path, 'utf8')) as AuthFile;
    return v !== null && typeof v === 'object' ? v : {};
  } catch {
    throw new RegistryError(`the auth file ${path} is not valid JSON`);
  }
}

/** The keys a registry may be found under: docker writes Docker Hub as its v1 URL. */
const keysFor = (registry: string): string[] => (registry === DOCKER_HUB ? [DOCKER_HUB, 'https://index.docker.io/v1/', 'index.docker.io'] : [registry, `https://${registry}`]);

function decode(auth: string, registry: string, file: string): Credentials {
  const text = Buffer.from(auth, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 0) throw new RegistryError(`the credentials for ${registry} in ${file} are malformed`);
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

/** Stored credentials for a registry, if any of the auth files has them. */
export function findCredentials(registry: string, files: string[] = authFiles()): Credentials | undefined {
  for (const file of files) {
    const auths = readAuthFile(file).auths ?? {};
    for (const key of keysFor(registry)) {
      const auth = auths[key]?.auth;
      if (typeof auth === 'string' && auth !== '') return decode(auth, registry, file);
    }
  }
  return undefined;
}

/** Writes the file so that no reader sees a part of it and no other user can read it. */
function writeAuthFile(path: string, value: AuthFile): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, JSON.stringify(value, null, 2) + '\n');
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, path);
}

/** Stores credentials for a registry in layerfs's auth file (other entries kept). */
export function storeCredentials(registry: string, creds: Credentials, file: string = defaultAuthFile()): void {
  const value = readAuthFile(file);
  value.auths = { ...(value.auths ?? {}), [registry]: { auth: Buffer.from(`${creds.username}:${creds.password}`).toString('base64') } };
  writeAuthFile(file, value);
}

/** Removes a registry's credentials from layerfs's auth file; false when there were none. */
export function removeCredentials(registry: string, file: string = defaultAuthFile()): boolean {
  const value = readAuthFile(file);
  if (value.auths?.[registry] === undefined) return false;
  delete value.auths[registry];
  writeAuthFile(file, value);
  return true;
}
