// The registry client's API (docs/registry.md, docs/api.md): pull, push, login/logout, the
// reporters a command line plugs in, and the lower-level client for tools and tests.
export { pull, parsePlatform, type PullOptions, type PullResult } from './pull';
export { push, type PushOptions, type PushResult, type BlobOutcome } from './push';
export { login, logout, registryOf, type LoginOptions } from './login';
export { authFiles, defaultAuthFile, findCredentials, type Credentials } from './authfile';
export { RegistryClient, MANIFEST_TYPES, type ClientOptions, type FetchedManifest } from './client';
export { RegistryError } from './errors';
export { parseReference, formatReference, type Reference } from './reference';
export { lineReporter, quietReporter, reporterFor, terminalReporter, type BlobState, type Reporter } from './progress';
export type { TransportOptions } from './transport';
