// layerfs login / logout: credentials are checked against the registry (its /v2/ answered with
// them, through a token service when it has one) before they are stored; wrong ones store nothing.
import { defaultAuthFile, removeCredentials, storeCredentials, type Credentials } from './authfile';
import { RegistryClient, type ClientOptions } from './client';
import { RegistryError } from './errors';
import { parseReference } from './reference';

export interface LoginOptions extends Omit<ClientOptions, 'credentials'> {
  /** where to store them (default: defaultAuthFile()) */
  authFile?: string;
}

/** The registry part of what a user typed: "HOST[:PORT]", or a reference on it. */
export function registryOf(text: string): string {
  const r = parseReference(text.includes('/') ? text : `${text}/x`);
  if (r.registry === 'docker.io' && !/^(docker\.io|index\.docker\.io)(\/|$)/.test(text)) throw new RegistryError(`${text} is not a registry host (HOST[:PORT])`);
  return r.registry;
}

/** Checks the credentials with the registry, then stores them; returns the auth file written. */
export async function login(registry: string, credentials: Credentials, opts: LoginOptions = {}): Promise<string> {
  const host = registryOf(registry);
  if (credentials.username === '' || credentials.username.includes(':')) throw new RegistryError('the user name must be non-empty and without ":"');
  const client = new RegistryClient({ registry: host, repository: '' }, [], { ...opts, credentials });
  try {
    await client.ping();
  } finally {
    client.close();
  }
  const file = opts.authFile ?? defaultAuthFile();
  storeCredentials(host, credentials, file);
  return file;
}

/** Forgets a registry's credentials; false when layerfs had none stored. */
export function logout(registry: string, opts: { authFile?: string } = {}): boolean {
  return removeCredentials(registryOf(registry), opts.authFile ?? defaultAuthFile());
}
