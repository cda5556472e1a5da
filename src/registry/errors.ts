// The one error type of the registry client: a one-line message the CLI prints as it is. It never
// holds a credential: messages name the registry, the repository and the digest, not headers.
export class RegistryError extends Error {
  /** the HTTP status that caused it, if any */
  readonly status: number | undefined;

  constructor(message: string, status?: number) {
    super(message);
    this.status = status;
  }
}
