// Image references as docker and podman read them: [HOST[:PORT]/]PATH[:TAG][@sha256:HEX]. A first
// component with a dot or a port, or "localhost", is a registry; otherwise the image is on Docker
// Hub (docker.io, served by registry-1.docker.io) and a one-component path is under library/.
import { RegistryError } from './errors';

export interface Reference {
  /** the registry as written in auth files and local names: "127.0.0.1:5000", "docker.io" */
  registry: string;
  /** the repository path: "library/alpine", "team/app" */
  repository: string;
  tag?: string;
  digest?: string;
}

export const DOCKER_HUB = 'docker.io';
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;

export function parseReference(text: string): Reference {
  const bad = (why: string): RegistryError => new RegistryError(`invalid image reference ${text}: ${why}`);
  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw bad('the digest must be sha256:<64 hex digits>');
  }
  const parts = rest.split('/');
  let registry = DOCKER_HUB;
  if (parts.length > 1 && (/[.:]/.test(parts[0]!) || parts[0] === 'localhost')) {
    registry = parts.shift()!;
    if (!/^[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*(?::[0-9]{1,5})?$/.test(registry) && !/^\[[0-9a-fA-F:]+\](?::[0-9]{1,5})?$/.test(registry)) throw bad(`${registry} is not a registry host`);
  }
  let tag: string | undefined;
  const last = parts[parts.length - 1]!;
  const colon = last.indexOf(':');
  if (colon >= 0) {
    tag = last.slice(colon + 1);
    parts[parts.length - 1] = last.slice(0, colon);
    if (!TAG.test(tag)) throw bad('a tag is up to 128 letters, digits, _ . -');
  }
  if (parts.some((p) => !PATH_COMPONENT.test(p))) throw bad('repository names are lower-case letters and digits separated by . _ - /');
  if (registry === DOCKER_HUB && parts.length === 1) parts.unshift('library');
  if (tag === undefined && digest === undefined) tag = 'latest';
  return { registry, repository: parts.join('/'), ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/** What the registry's manifest endpoint is asked for: the digest when there is one. */
export const manifestRef = (r: Reference): string => r.digest ?? r.tag!;

/** The host the API is reached at. */
export const apiHost = (registry: string): string => (registry === DOCKER_HUB ? 'registry-1.docker.io' : registry);

/** The reference written back, docker's short form for Docker Hub ("alpine:3", "team/app:1"). */
export function formatReference(r: Reference): string {
  let name = r.registry === DOCKER_HUB ? r.repository.replace(/^library\//, '') : `${r.registry}/${r.repository}`;
  if (r.tag !== undefined) name += `:${r.tag}`;
  if (r.digest !== undefined) name += `@${r.digest}`;
  return name;
}

/** "HOST/REPOSITORY", how the store notes where a blob is known to be. */
export const repositoryKey = (r: Pick<Reference, 'registry' | 'repository'>): string => `${r.registry}/${r.repository}`;
